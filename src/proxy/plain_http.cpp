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
    // Expect: the proxy has read the whole body (answering 100-continue itself when asked), so
    // an origin's own 100 would reach the client as a second one.
    if (http::is_hop_by_hop(h.name) || http::iequals(h.name, "Host") || http::iequals(h.name, "Content-Length") ||
        http::iequals(h.name, "Expect") || connection.lists(h.name))
      continue;
    out += h.name + ": " + h.value + "\r\n";
  }
  if (body_size > 0 || head.method == "POST" || head.method == "PUT" || head.method == "PATCH")
    out += "Content-Length: " + std::to_string(body_size) + "\r\n";
  out += "Connection: close\r\n\r\n";
  return out;
}

std::string plain_client_head(const http::response_head& head) {
  std::string out = "HTTP/1.1 ";
  out.append(std::to_string(head.status)).append(" ").append(head.reason).append("\r\n");
  const http::connection_options connection(head.headers);
  for (const auto& h : head.headers) {
    if ((http::is_hop_by_hop(h.name) && !http::iequals(h.name, "Transfer-Encoding")) || connection.lists(h.name))
      continue;
    out.append(h.name).append(": ").append(h.value).append("\r\n");
  }
  out += "Connection: close\r\n\r\n";
  return out;
}

namespace {

enum class relay_step { more, done, malformed };

// Parses `data` from the origin and appends what the client gets to `out`: the final answer's
// head (rewritten) and its body bytes as they came; interim 1xx answers are dropped.
relay_step relay_bytes(http::response_parser& parser, std::string_view data, bool& head_seen, std::string& out) {
  while (true) {
    auto r = parser.feed(data, nullptr);
    if (r.status == http::parse_status::error) return relay_step::malformed;
    if (head_seen) out.append(data.data(), r.consumed);
    data.remove_prefix(r.consumed);
    switch (r.status) {
      case http::parse_status::need_more:
        return relay_step::more;
      case http::parse_status::message_complete:
        if (head_seen) return relay_step::done;
        parser.reset_after_interim();  // an interim answer: the final one follows
        break;
      case http::parse_status::head_complete:
        if (parser.head().status / 100 != 1) {
          out += plain_client_head(parser.head());
          head_seen = true;
        }
        break;
      case http::parse_status::error:
        return relay_step::malformed;
    }
  }
}

}  // namespace

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
  http::response_parser parser;
  parser.set_no_body(head.method == "HEAD");
  bool head_seen = false;
  std::string out;
  std::array<char, 16 * 1024> buf;
  while (true) {
    auto [rec2, n] = co_await net::read_some(origin, asio::buffer(buf), clock::now() + lim.tunnel_idle_timeout);
    out.clear();
    auto step = relay_step::more;
    if (n > 0) step = relay_bytes(parser, std::string_view(buf.data(), n), head_seen, out);
    if (step == relay_step::malformed && !head_seen) {
      co_await refuse(client, 502, "malformed answer from " + host + ": " + std::string(parser.error_reason()));
      co_return;
    }
    if (!out.empty() && co_await net::write_all(client, asio::buffer(out), clock::now() + lim.tunnel_idle_timeout))
      co_return;
    if (step != relay_step::more) co_return;  // the answer is over (or broke mid-body): close
    if (rec2) {
      // An answer without a length ends when the origin closes (RFC 9112 6.3 rule 8).
      if (!head_seen) co_await refuse(client, 502, "no answer from " + host + ": " + rec2.message());
      co_return;
    }
  }
}

}  // namespace orp::proxy
