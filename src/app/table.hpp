#pragma once
// A plain-text table for command output: columns padded to their widest cell, measured in
// characters, not bytes (a mask's ellipsis, a label in another script are one column each).
#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace orp::app {

class table {
 public:
  explicit table(std::vector<std::string> header) : rows_{std::move(header)} {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }

  // UTF-8 code points: every byte but continuation bytes starts one.
  static std::size_t columns(std::string_view text) {
    return static_cast<std::size_t>(
        std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
  }

  std::string render() const {
    std::vector<std::size_t> width(rows_.front().size(), 0);
    for (const auto& r : rows_)
      for (std::size_t i = 0; i < r.size() && i < width.size(); ++i) width[i] = std::max(width[i], columns(r[i]));
    std::string out;
    for (const auto& r : rows_) {
      for (std::size_t i = 0; i < r.size() && i < width.size(); ++i) {
        out += r[i];
        if (i + 1 < r.size()) out += std::string(width[i] - columns(r[i]) + 2, ' ');
      }
      out += "\n";
    }
    return out;
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace orp::app
