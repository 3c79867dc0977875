#pragma once
// Plain-HTTP proxy requests (absolute form, from HTTP_PROXY) for hosts the proxy does not
// intercept: sent on with `Connection: close`, the answer relayed back byte for byte, then the
// client connection closes. No key is involved.
#include <cstdint>
#include <string>

#include "http/parser.hpp"
#include "net/io.hpp"
#include "proxy/context.hpp"

namespace orp::proxy {

// `head.target` is already in origin form.
net::asio::awaitable<void> forward_plain(net::tcp::socket& client, const http::request_head& head,
                                         const std::string& body, const std::string& host, std::uint16_t port,
                                         const limits& lim);

// The request as the origin server gets it (exposed for tests).
std::string plain_request_head(const http::request_head& head, std::size_t body_size, const std::string& host,
                               std::uint16_t port);

}  // namespace orp::proxy
