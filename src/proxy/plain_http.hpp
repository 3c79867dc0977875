#pragma once
// Plain-HTTP proxy requests (absolute form, from HTTP_PROXY) for hosts the proxy does not
// intercept: one request per client connection. Sent on with `Connection: close`; the answer's
// head goes back with `Connection: close` too, its body byte for byte up to the end of the
// message (read with the response parser, so an origin that keeps the connection open or sends
// more cannot stall or confuse the client), then the client connection closes (a pipelined next
// request is not answered, which `Connection: close` tells the client: RFC 9112 9.6). No key is
// involved.
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

// The origin's answer head as the client gets it (exposed for tests): hop-by-hop headers dropped
// except Transfer-Encoding, whose framing the relayed body keeps; `Connection: close`.
std::string plain_client_head(const http::response_head& head);

}  // namespace orp::proxy
