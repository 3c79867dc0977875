#pragma once
// The proxy's own refusals on a client connection (400, 403, 407, 408, 413, 431, 503, ...):
// OpenRouter's error shape, then the connection closes.
#include <string_view>

#include "forward/responses.hpp"
#include "net/io.hpp"

namespace orp::proxy {

template <class Stream>
net::asio::awaitable<void> refuse(Stream& s, unsigned status, std::string_view message,
                                  std::string_view extra_headers = {}) {
  auto text = forward::error_response(status, message, false, std::nullopt, extra_headers);
  co_await net::write_all(s, net::asio::buffer(text), net::clock::now() + std::chrono::seconds(5));
}

}  // namespace orp::proxy
