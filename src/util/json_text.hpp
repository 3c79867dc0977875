#pragma once
// JSON text for people and scripts to read: Boost.JSON writes every double in exponent form
// (1E0, 4.27E1), which is valid JSON but reads badly and trips naive parsers. Here a double is
// written in plain decimal notation, the shortest that reads back as the same number (1, 42.7,
// 0.0001); strings are escaped as Boost.JSON escapes them, and bytes that are not UTF-8 (a label,
// a model name or an upstream text may hold any) become U+FFFD: JSON is UTF-8, and one bad byte
// makes a log shipper or a client refuse the whole document.
#include <boost/json/value.hpp>

#include <string>
#include <string_view>

namespace orp::util {

std::string json_text(const boost::json::value& v);

// A quoted JSON string of `text`, valid UTF-8 whatever `text` holds.
std::string json_string(std::string_view text);

}  // namespace orp::util
