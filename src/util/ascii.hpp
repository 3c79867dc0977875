#pragma once
// Text helpers for names that are ASCII by definition (host names, column names, NO_PROXY entries).
#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

namespace orp::util {

inline std::string lowercase(std::string_view text) {
  std::string out(text);
  std::ranges::transform(out, out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace orp::util
