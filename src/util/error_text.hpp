#pragma once
// What a user is shown of an exception.
#include <boost/system/system_error.hpp>

#include <exception>
#include <string>

namespace orp::util {

// boost::system::system_error::what() ends in "[system:98 at /usr/include/boost/asio/...:161:5 in
// function ...]", the place Boost threw from: noise on a command line. Its error code's message
// ("Address already in use") is the part a user can act on; the caller says which step failed.
inline std::string error_text(const std::exception& e) {
  if (const auto* system = dynamic_cast<const boost::system::system_error*>(&e)) return system->code().message();
  return e.what();
}

}  // namespace orp::util
