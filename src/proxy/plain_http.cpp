#include "proxy/plain_http.hpp"

#include <array>

#include "http/headers.hpp"
#include "log/logging.hpp"
#include "proxy/refuse.hpp"

namespace orp::proxy {

namespace asio = net::asio;
using net::clock;

std::string plain_request_head(const http::request_head& head, std::size_t body_size, const std::string& host,
                               std::uint16_t port) {
  std::string out = head.method + " " + head.target + " HTTP/1.1\r\nHost: " + host;
  if (port != 80) out += ":" + std::to_string(port);
  out += "\r\n";
  const http::connection_options connection(head.headers);
  for (const auto& h : head.headers) {
    if (http::is_hop_by_hop(h.name) || http::iequals(h.name, "Host") || http::iequals(h.name, "Content-Length") ||
        connection.lists(h.name))
      continue;
    out += h.name + ": " + h.value + "\r\n";
  }
  if (body_size > 0 || head.method == "POST" || head.method == "PUT" || head.method == "PATCH")
    out += "Content-Length: " + std::to_string(body_size) + "\r\n";
  out += "Connection: close\r\n\r\n";
  return out;
}

asio::awaitable<void> forward_plain(net::tcp::socket& client, const http::request_head& head, const std::string& body,
                                    const std::string& host, std::uint16_t port, const limits& lim) {
  net::tcp::resolver resolver(client.get_executor());
  auto [rec, endpoints] = co_await resolver.async_resolve(host, std::to_string(port), net::use_tuple);
  net::tcp::socket origin(client.get_executor());
  net::error_code ec = rec;
  if (!ec) ec = co_await net::connect(origin, endpoints, clock::now() + lim.connect_timeout);
  if (ec) {
    co_await refuse(client, 502, "cannot reach " + host + ": " + ec.message());
    co_return;
  }
  std::string request = plain_request_head(head, body.size(), host, port);
  std::array<asio::const_buffer, 2> bufs{asio::buffer(request), asio::buffer(body)};
  if (co_await net::write_all(origin, bufs, clock::now() + lim.tunnel_idle_timeout)) co_return;
  // The path only: a query string may carry someone's credentials for that host.
  log::debug("plain HTTP {} {}:{}{}", head.method, host, port, head.target.substr(0, head.target.find('?')));
  std::array<char, 16 * 1024> buf;
  while (true) {
    auto [rec2, n] = co_await net::read_some(origin, asio::buffer(buf), clock::now() + lim.tunnel_idle_timeout);
    if (n > 0 && co_await net::write_all(client, asio::buffer(buf.data(), n), clock::now() + lim.tunnel_idle_timeout))
      co_return;
    if (rec2) co_return;  // the origin closed (Connection: close) or went silent: the answer is over
  }
}

}  // namespace orp::proxy
