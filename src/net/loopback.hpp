#pragma once
// Whether a host name or address stays on this machine: "localhost" (any case) or a loopback
// address (127.0.0.0/8, ::1). Used where the proxy decides what may be reached without a secret.
#include <boost/asio/ip/address.hpp>

#include <string>
#include <string_view>

#include "http/headers.hpp"

namespace orp::net {

inline bool is_loopback_host(std::string_view host) {
  if (http::iequals(host, "localhost")) return true;
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(std::string(host), ec);
  return !ec && address.is_loopback();
}

}  // namespace orp::net
