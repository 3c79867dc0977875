#pragma once
// A blind relay between a client and a host the proxy does not intercept.
#include <string>

#include "net/io.hpp"

namespace orp::proxy {

// Relays both ways until both sides have finished (half-close passed on) or nothing moved for
// `idle`. `early` holds client bytes that arrived before the tunnel was up.
net::asio::awaitable<void> relay(net::tcp::socket& client, net::tcp::socket& target, std::string early,
                                 net::clock::duration idle);

}  // namespace orp::proxy
