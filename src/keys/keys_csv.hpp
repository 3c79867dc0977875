#pragma once
// keys.csv: the key pool's source. Optional header `key,label,weight`; `#` comments.
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "keys/api_key.hpp"

namespace orp::keys {

// what() is "FILE:LINE: message" (or "FILE: message") and never holds a key in full.
struct keys_file_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Weights are relative; beyond this, sums of a few of them lose the small ones (and 1e308 ones
// overflow to inf), which breaks round_robin and random.
constexpr double max_key_weight = 1'000'000;

struct key_record {
  api_key key;
  std::string label;
  double weight = 1.0;
  int line = 0;
};

// Empty input (or only comments) yields an empty pool, which is allowed.
std::vector<key_record> parse_keys_csv(std::string_view text, std::string_view file_name);
std::vector<key_record> read_keys_csv(const std::filesystem::path& file);

// One warning per label (or mask) that several keys share, naming their lines: logs and
// X-Proxy-Key cannot tell those keys apart (/keys and /metrics can, by id). Not an error.
std::vector<std::string> repeated_label_warnings(const std::vector<key_record>& records, std::string_view file_name);

// One warning naming the lines (never the keys) whose key does not start with sk-or-: a key of
// another service, or a column shifted in a way the reader could not tell. Not an error.
std::optional<std::string> unusual_keys_warning(const std::vector<key_record>& records, std::string_view file_name);

}  // namespace orp::keys
