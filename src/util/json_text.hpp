#pragma once
// JSON text for people and scripts to read: Boost.JSON writes every double in exponent form
// (1E0, 4.27E1), which is valid JSON but reads badly and trips naive parsers. Here a double is
// written in plain decimal notation, the shortest that reads back as the same number (1, 42.7,
// 0.0001); strings are escaped as Boost.JSON escapes them.
#include <boost/json/value.hpp>

#include <string>

namespace orp::util {

std::string json_text(const boost::json::value& v);

}  // namespace orp::util
