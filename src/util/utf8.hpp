#pragma once
// UTF-8 checks for text from outside (labels, model names, upstream texts) on its way into JSON,
// which must be UTF-8, and into keys.csv's labels.
#include <string>
#include <string_view>

namespace orp::util {

bool is_valid_utf8(std::string_view text) noexcept;
// `text` with each byte that does not belong to a well-formed UTF-8 sequence (RFC 3629: no
// overlong forms, no surrogates, nothing past U+10FFFF) replaced by U+FFFD.
std::string valid_utf8(std::string_view text);
// The number of code points in valid UTF-8 `text` (bytes that do not start one are not counted).
std::size_t utf8_length(std::string_view text) noexcept;

}  // namespace orp::util
