#pragma once
// A new client connection: detect what it speaks from its first bytes (SOCKS5, CONNECT, or plain
// HTTP) and route it to interception, a tunnel, or the plain-HTTP session.
#include "net/io.hpp"
#include "proxy/context.hpp"

namespace orp::proxy {

net::asio::awaitable<void> serve_client(net::tcp::socket socket, shared_context& shared, worker& w);

}  // namespace orp::proxy
