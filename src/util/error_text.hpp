#pragma once
// What a user is shown of an exception.
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <exception>
#include <string>
#include <string_view>

namespace orp::util {

// boost::system::system_error::what() ends in "[system:98 at /usr/include/boost/asio/...:161:5 in
// function ...]", the place Boost threw from: noise on a command line. Its error code's message
// ("Address already in use") is the part a user can act on; the caller says which step failed.
inline std::string error_text(const std::exception& e) {
  if (const auto* system = dynamic_cast<const boost::system::system_error*>(&e)) return system->code().message();
  return e.what();
}

// A piece of a user's file quoted back in an error, unless it may be a secret: a key in the wrong
// column, or a keys file given as the config, is not always recognisable by its shape (keys of
// other services). Short, printable and not OpenRouter-shaped text is quoted; the rest is
// described by its length.
inline std::string quoted_unless_secret(std::string_view text, std::size_t longest) {
  const bool printable = std::all_of(text.begin(), text.end(), [](char c) { return c >= ' ' && c < 0x7f; });
  std::string out;  // appended: "'" + std::string(...) draws a GCC 12 -Wstringop-overflow false positive
  if (text.size() <= longest && printable && !text.starts_with("sk-")) return out.append("'").append(text).append("'");
  return out.append("(").append(std::to_string(text.size())).append(" characters, not shown: it may be a key)");
}

}  // namespace orp::util
