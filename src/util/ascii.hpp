#pragma once
// Text helpers for names that are ASCII by definition (host names, column names, NO_PROXY entries,
// API keys).
#include <string>
#include <string_view>

namespace orp::util {

// ASCII only, whatever the locale; other bytes unchanged.
inline char lowercase(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

inline std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = lowercase(c);
  return out;
}

}  // namespace orp::util
