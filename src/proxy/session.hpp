#pragma once
// The request loop on one client connection, inside the intercepted TLS or on plain HTTP:
// read a request (head, then body), answer 100-continue, hand it to the forwarder, repeat while
// both sides keep the connection alive.
#include <string>

#include "net/io.hpp"
#include "proxy/context.hpp"

namespace orp::proxy {

struct session_info {
  std::string client;       // peer address
  std::string mode;         // connect | socks | base_url | http_proxy (absolute-form URL on plain HTTP)
  std::string host;         // the intercepted host ("" on plain HTTP)
  std::string client_name;  // the authenticated proxy client, if any
  bool authenticated = false;  // by CONNECT/SOCKS5; plain HTTP checks each request
};

// `buffered` holds bytes already read from the client that belong to the first request.
template <class Stream>
net::asio::awaitable<void> run_session(Stream& stream, session_info info, std::string buffered,
                                       shared_context& shared, worker& w);

}  // namespace orp::proxy
