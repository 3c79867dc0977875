#include "proxy/client.hpp"

#include <array>

#include "config/settings.hpp"
#include "forward/responses.hpp"
#include "http/parser.hpp"
#include "log/logging.hpp"
#include "proxy/session.hpp"
#include "proxy/tunnel.hpp"

namespace orp::proxy {

namespace asio = net::asio;
using net::clock;
using net::error_code;

namespace {

constexpr unsigned char kSocks5Version = 0x05;
constexpr std::string_view kEstablished = "HTTP/1.1 200 Connection established\r\n\r\n";

std::string peer_of(const net::tcp::socket& s) {
  error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "?";
  auto addr = ep.address().to_string();
  if (ep.address().is_v6()) addr = "[" + addr + "]";
  return addr + ":" + std::to_string(ep.port());
}

asio::awaitable<void> refuse(net::tcp::socket& s, unsigned status, std::string_view message) {
  auto text = forward::error_response(status, message, false);
  co_await net::write_all(s, asio::buffer(text), clock::now() + std::chrono::seconds(5));
}

struct counted {
  std::atomic<std::int64_t>& n;
  explicit counted(std::atomic<std::int64_t>& c) : n(c) { ++n; }
  ~counted() { --n; }
};

asio::awaitable<void> intercept(net::tcp::socket socket, std::string host, std::string client, std::string mode,
                                shared_context& shared, worker& w) {
  auto identity = shared.leaves->get(host, std::chrono::system_clock::now());
  if (!identity) {
    log::error("client {}: the local CA may not sign for {}; run `openrouter-proxy ca init --force`", client, host);
    co_return;
  }
  SSL* ssl = SSL_new(identity->context.get());
  if (!ssl) co_return;
  net::tls_stream stream(std::move(socket), ssl);
  if (auto ec = co_await net::handshake(stream, asio::ssl::stream_base::server,
                                        clock::now() + shared.lim.handshake_timeout)) {
    log::info("client {}: TLS handshake for {} failed: {}", client, host, ec.message());
    co_return;
  }
  // Named, not a temporary in the co_await: GCC 12 mishandles aggregate temporaries passed by
  // value to a coroutine (double destruction).
  session_info info{client, std::move(mode), host};
  std::string nothing_buffered;
  co_await run_session(stream, std::move(info), std::move(nothing_buffered), shared, w);
  co_await net::shutdown(stream, std::chrono::seconds(2));
}

asio::awaitable<void> tunnel(net::tcp::socket socket, std::string host, std::uint16_t port, std::string early,
                             std::string client, shared_context& shared) {
  net::tcp::resolver resolver(socket.get_executor());
  auto [rec, endpoints] = co_await resolver.async_resolve(host, std::to_string(port), net::use_tuple);
  net::tcp::socket target(socket.get_executor());
  error_code ec = rec;
  if (!ec) ec = co_await net::connect(target, endpoints, clock::now() + shared.lim.connect_timeout);
  if (ec) {
    log::info("client {}: tunnel to {}:{} failed: {}", client, host, port, ec.message());
    co_await refuse(socket, 502, "cannot reach " + host + ": " + ec.message());
    co_return;
  }
  target.set_option(net::tcp::no_delay(true));
  if (co_await net::write_all(socket, asio::buffer(kEstablished), clock::now() + shared.lim.header_timeout)) co_return;
  log::debug("client {}: tunnel to {}:{}", client, host, port);
  co_await relay(socket, target, std::move(early), shared.lim.tunnel_idle_timeout);
}

}  // namespace

asio::awaitable<void> serve_client(net::tcp::socket socket, shared_context& shared, worker& w) {
  counted open(shared.open_connections);
  socket.set_option(net::tcp::no_delay(true));
  std::string client = peer_of(socket);
  if (open.n > shared.lim.max_connections) {
    co_await refuse(socket, 503, "too many connections");
    co_return;
  }

  // Read the first request head (or SOCKS5 greeting) within the header deadline.
  auto deadline = clock::now() + shared.lim.header_timeout;
  std::string in;
  std::array<char, 16 * 1024> buf;
  http::request_parser parser(shared.lim.max_head_bytes);
  while (true) {
    auto [ec, n] = co_await net::read_some(socket, asio::buffer(buf), deadline);
    if (ec) {
      if (ec == asio::error::timed_out && !in.empty()) co_await refuse(socket, 408, "request head not received in time");
      co_return;
    }
    if (in.empty() && static_cast<unsigned char>(buf[0]) == kSocks5Version) {
      log::info("client {}: SOCKS5 is not supported yet", client);
      co_return;
    }
    std::string_view fresh(buf.data(), n);
    in.append(fresh);
    auto r = parser.feed(fresh, nullptr);
    if (r.status == http::parse_status::error) {
      log::info("client {}: refused: {}", client, parser.error_reason());
      co_await refuse(socket, parser.error_status(), parser.error_reason());
      co_return;
    }
    if (r.status == http::parse_status::need_more) continue;
    // Head complete: what follows it in `in` is body or, after CONNECT, early tunnel bytes.
    std::size_t head_end = in.size() - (fresh.size() - r.consumed);
    const auto& head = parser.head();
    if (head.method != "CONNECT") {
      session_info info{client, "base_url", ""};
      co_await run_session(socket, std::move(info), std::move(in), shared, w);
      co_return;
    }
    config::endpoint target;
    bool valid_target = true;
    try {
      target = config::parse_endpoint(head.target);
    } catch (const std::exception&) {
      valid_target = false;
    }
    if (!valid_target || target.port == 0) {
      co_await refuse(socket, 400, "CONNECT needs host:port");
      co_return;
    }
    std::string early = in.substr(head_end);
    if (!shared.intercepts(target.host)) {
      if (!shared.tunnel.allows(target.host)) {
        log::info("client {}: tunnel to {} refused by proxy.tunnel", client, target.host);
        co_await refuse(socket, 403, "tunnelling to " + target.host + " is not allowed by this proxy (proxy.tunnel)");
        co_return;
      }
      co_await tunnel(std::move(socket), target.host, target.port, std::move(early), client, shared);
      co_return;
    }
    if (!early.empty()) {
      // The client did not wait for our 200: its TLS bytes cannot be handed to the TLS engine.
      co_await refuse(socket, 400, "data sent before the CONNECT was answered");
      co_return;
    }
    if (co_await net::write_all(socket, asio::buffer(kEstablished), clock::now() + shared.lim.header_timeout))
      co_return;
    co_await intercept(std::move(socket), target.host, client, "connect", shared, w);
    co_return;
  }
}

}  // namespace orp::proxy
