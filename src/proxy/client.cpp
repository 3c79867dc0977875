#include "proxy/client.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <array>

#include <boost/asio/ip/address.hpp>

#include "config/settings.hpp"
#include "forward/responses.hpp"
#include "http/parser.hpp"
#include "log/logging.hpp"
#include "proxy/refuse.hpp"
#include "proxy/session.hpp"
#include "proxy/sni.hpp"
#include "proxy/socks5.hpp"
#include "proxy/tunnel.hpp"

namespace orp::proxy {

namespace asio = net::asio;
using net::clock;
using net::error_code;

namespace {

constexpr std::string_view kEstablished = "HTTP/1.1 200 Connection established\r\n\r\n";
constexpr std::string_view kProxyAuthenticate = "Proxy-Authenticate: Basic realm=\"openrouter-proxy\"\r\n";

std::string peer_of(const net::tcp::socket& s) {
  error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "?";
  auto addr = ep.address().to_string();
  if (ep.address().is_v6()) addr = "[" + addr + "]";
  return addr + ":" + std::to_string(ep.port());
}


bool is_ip_literal(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// What the proxy made of a CONNECT or SOCKS5 request, told back in that protocol's words.
enum class verdict { ok, forbidden, unreachable };

// Writes the protocol's answer; returns false when the client is gone.
using reply_fn = std::function<asio::awaitable<bool>(net::tcp::socket&, verdict, std::string_view why)>;

constexpr std::uint16_t kHttpsPort = 443;

struct target_request {
  std::string host;
  std::uint16_t port = 0;
  std::string early;        // client bytes that arrived with the request
  std::string client;       // peer address
  std::string client_name;  // authenticated proxy client
  std::string mode;         // connect | socks
};

// The client's first bytes were not TLS at all: OpenSSL names GET, POST, HEAD and PUT
// (SSL_R_HTTP_REQUEST) and CONNECT; any other first record whose version is not TLS's
// (DELETE, OPTIONS, PATCH, ...) is a wrong version before a single handshake message was read.
// A few bytes of plain text back cost nothing to a client that was not speaking TLS anyway.
bool plain_text_where_tls_belongs(const error_code& ec, SSL* ssl) {
  if (ec.category() != asio::error::get_ssl_category()) return false;
  const auto reason = ERR_GET_REASON(static_cast<unsigned long>(ec.value()));
  return reason == SSL_R_HTTP_REQUEST || reason == SSL_R_HTTPS_PROXY_REQUEST ||
         (reason == SSL_R_WRONG_VERSION_NUMBER && SSL_get_state(ssl) == TLS_ST_BEFORE);
}

asio::awaitable<void> intercepted_session(net::tls_stream stream, session_info info, [[maybe_unused]] scoped_count open,
                                          shared_context& shared, worker& w) {
  std::string nothing_buffered;
  co_await run_session(stream, std::move(info), std::move(nothing_buffered), shared, w);
  co_await net::shutdown(stream, std::chrono::seconds(2));
}

asio::awaitable<void> intercept(net::tcp::socket socket, std::string host, const target_request& req,
                                scoped_count& open, shared_context& shared, worker& w) {
  auto identity = shared.leaves->get(host, std::chrono::system_clock::now());
  if (!identity) {
    log::error("client {}: the local CA may not sign for {}; run `openrouter-proxy ca init --force`", req.client, host);
    co_return;
  }
  SSL* ssl = SSL_new(identity->context.get());
  if (!ssl) co_return;
  net::tls_stream stream(std::move(socket), ssl);
  if (auto ec = co_await net::handshake(stream, /*server=*/true,
                                        clock::now() + shared.lim.handshake_timeout)) {
    log::info("client {}: TLS handshake for {} failed: {}", req.client, host, ec.message());
    if (plain_text_where_tls_belongs(ec, stream.native_handle())) {
      // Plain HTTP where TLS belongs (`curl -x socks5h://... http://openrouter.ai/...`): say so
      // in plain HTTP rather than close without a word.
      co_await refuse(stream.next_layer(), 400,
                      "this proxy intercepts " + host + " with TLS: use an https:// URL (or the base URL "
                      "http://<proxy>/api/v1 without a proxy)");
    }
    co_return;
  }
  (SSL_session_reused(stream.native_handle()) == 1 ? shared.tls_resumed_handshakes : shared.tls_full_handshakes)
      .fetch_add(1, std::memory_order_relaxed);
  // Named, not a temporary in the co_await: GCC 12 mishandles aggregate temporaries passed by
  // value to a coroutine (double destruction).
  session_info info{req.client, req.mode, host, req.client_name, true};
  // The session runs as a coroutine of its own, taking the connection's count with it: the
  // frames that brought the connection here (serve_client, route, intercept: about 2.5 KiB) are
  // freed instead of being held for the connection's whole life, which for a stream can be minutes.
  // The executor is taken before the stream is moved: co_spawn's arguments have no set order.
  auto ex = stream.get_executor();
  asio::co_spawn(ex, intercepted_session(std::move(stream), std::move(info), std::move(open), shared, w),
                 log_unexpected_exception);
}

asio::awaitable<void> tunnel(net::tcp::socket socket, const target_request& req, bool already_answered,
                             const reply_fn& reply, shared_context& shared) {
  net::tcp::resolver resolver(socket.get_executor());
  auto [rec, endpoints] = co_await resolver.async_resolve(req.host, std::to_string(req.port), net::use_tuple);
  net::tcp::socket target(socket.get_executor());
  error_code ec = rec;
  if (!ec) ec = co_await net::connect(target, endpoints, clock::now() + shared.lim.connect_timeout);
  if (ec) {
    log::info("client {}: tunnel to {}:{} failed: {}", req.client, req.host, req.port, ec.message());
    if (!already_answered) co_await reply(socket, verdict::unreachable, "cannot reach " + req.host + ": " + ec.message());
    co_return;
  }
  target.set_option(net::tcp::no_delay(true));
  if (!already_answered && !co_await reply(socket, verdict::ok, {})) co_return;
  log::debug("client {}: tunnel to {}:{}", req.client, req.host, req.port);
  co_await relay(socket, target, req.early, shared.lim.tunnel_idle_timeout);
}

// Sets the socket's receive low-water mark: readable only once `bytes` are queued, or at EOF.
void set_receive_low_water(net::tcp::socket& socket, std::size_t bytes) {
  int value = static_cast<int>(bytes);
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVLOWAT, &value, sizeof value);
}

// Peeks at the client's first TLS bytes (MSG_PEEK: the TLS engine reads them again) for the
// server name it asks for. need_more: the client hung up before its ClientHello was complete.
// While the hello is incomplete the low-water mark makes the socket readable only once more
// than the bytes already seen are there, or at EOF: no polling of the same bytes, and a client
// that closes mid-hello is noticed (the peeked bytes would otherwise hide its EOF for good).
// The peek buffer exists only between a wake-up and the next wait.
asio::awaitable<sni_result> peek_client_hello(net::tcp::socket& socket, clock::time_point deadline) {
  sni_result result{sni_status::not_tls, {}};
  std::size_t seen = 0;
  bool low_water_raised = false;
  while (true) {
    asio::steady_timer timer(socket.get_executor(), deadline);
    using namespace asio::experimental::awaitable_operators;
    auto r = co_await (socket.async_wait(net::tcp::socket::wait_read, net::use_tuple) || timer.async_wait(net::use_tuple));
    if (r.index() != 0 || std::get<0>(std::get<0>(r))) break;
    std::string peeked(max_client_hello_bytes, '\0');
    ssize_t n = ::recv(socket.native_handle(), peeked.data(), peeked.size(), MSG_PEEK | MSG_DONTWAIT);
    if (n <= 0) break;
    if (static_cast<std::size_t>(n) <= seen) {
      result = sni_result{sni_status::need_more, {}};  // readable with nothing new: EOF
      break;
    }
    seen = static_cast<std::size_t>(n);
    result = peek_sni(std::string_view(peeked.data(), seen));
    if (result.status != sni_status::need_more) break;
    if (seen >= peeked.size()) {
      result = sni_result{sni_status::not_tls, {}};
      break;
    }
    set_receive_low_water(socket, seen + 1);
    low_water_raised = true;
  }
  if (low_water_raised) set_receive_low_water(socket, 1);
  // A hello still incomplete at the deadline: tunnel blind, as for any client that is not TLS.
  if (result.status == sni_status::need_more && clock::now() >= deadline) result.status = sni_status::not_tls;
  co_return result;
}

// Whether `name` resolves to the address `ip` (an IP literal), asking for no longer than `limit`
// (a name server that never answers must not hold the connection for the resolver's own minutes).
asio::awaitable<bool> resolves_to(asio::any_io_executor ex, std::string name, std::string ip,
                                  clock::duration limit) {
  error_code ec;
  const auto address = asio::ip::make_address(ip, ec);
  if (ec) co_return false;
  net::tcp::resolver resolver(ex);
  asio::steady_timer timer(ex, limit);
  using namespace asio::experimental::awaitable_operators;
  auto r = co_await (resolver.async_resolve(name, "443", net::use_tuple) || timer.async_wait(net::use_tuple));
  if (r.index() != 0) {
    log::info("looking up {} took longer than {:.1f} s (upstream.connect_timeout)", name,
              std::chrono::duration<double>(limit).count());
    co_return false;
  }
  auto& [rec, results] = std::get<0>(r);
  if (rec) {
    log::info("looking up {} failed: {}", name, rec.message());
    co_return false;
  }
  for (const auto& entry : results)
    if (entry.endpoint().address() == address) co_return true;
  co_return false;
}

// The decision both CONNECT and SOCKS5 come to: intercept, tunnel, or refuse.
asio::awaitable<void> route(net::tcp::socket socket, target_request req, const reply_fn& reply, scoped_count& open,
                            shared_context& shared, worker& w) {
  std::string intercept_host;
  bool answered = false;
  if (shared.intercepts(req.host)) {
    intercept_host = req.host;
  } else if (is_ip_literal(req.host) && req.port == kHttpsPort && req.early.empty()) {
    // An IP address says nothing about the site: the TLS ClientHello's SNI does. Only on 443,
    // where an intercepted API is reached: on other ports server-first protocols (SMTP, FTP,
    // databases) would wait for a hello that never comes, until header_timeout.
    if (!co_await reply(socket, verdict::ok, {})) co_return;
    answered = true;
    auto sni = co_await peek_client_hello(socket, clock::now() + shared.lim.header_timeout);
    if (sni.status == sni_status::need_more) {
      log::info("client {}: closed before its TLS ClientHello was complete (tunnel to {})", req.client, req.host);
      co_return;
    }
    if (sni.status == sni_status::found && shared.intercepts(sni.host_name)) {
      intercept_host = sni.host_name;
    } else if (!shared.tunnel.allows(req.host)) {
      // The name a client claims does not open the allow-list to any address: it must be one the
      // name resolves to.
      const bool vouched = sni.status == sni_status::found && shared.tunnel.allows(sni.host_name) &&
                           co_await resolves_to(socket.get_executor(), sni.host_name, req.host,
                                                shared.lim.connect_timeout);
      if (!vouched) {
        log::info("client {}: tunnel to {} ({}) refused by proxy.tunnel", req.client, req.host, sni.host_name);
        co_return;
      }
    }
  }
  if (!intercept_host.empty()) {
    if (!req.early.empty()) {
      // The client did not wait for the answer: its TLS bytes cannot be handed to the TLS engine.
      co_await reply(socket, verdict::forbidden, "data sent before the tunnel was answered");
      co_return;
    }
    if (!answered && !co_await reply(socket, verdict::ok, {})) co_return;
    co_await intercept(std::move(socket), intercept_host, req, open, shared, w);
    co_return;
  }
  if (!answered && !shared.tunnel.allows(req.host)) {
    log::info("client {}: tunnel to {} refused by proxy.tunnel", req.client, req.host);
    co_await reply(socket, verdict::forbidden, "tunnelling to " + req.host + " is not allowed by this proxy (proxy.tunnel)");
    co_return;
  }
  co_await tunnel(std::move(socket), req, answered, reply, shared);
}

asio::awaitable<bool> connect_reply(net::tcp::socket& s, verdict v, std::string_view why) {
  if (v == verdict::ok) co_return !co_await net::write_all(s, asio::buffer(kEstablished), clock::now() + std::chrono::seconds(10));
  co_await refuse(s, v == verdict::forbidden ? 403 : 502, why);
  co_return false;
}

asio::awaitable<void> serve_socks5(net::tcp::socket socket, std::string first, std::string client,
                                   scoped_count& open, shared_context& shared, worker& w) {
  socks5::server_handshake hs(!shared.clients.empty());
  auto deadline = clock::now() + shared.lim.header_timeout;
  std::string client_name;
  std::array<char, 1024> buf;
  auto step = hs.feed(first);
  while (true) {
    if (std::holds_alternative<socks5::need_more>(step)) {
      auto [ec, n] = co_await net::read_some(socket, asio::buffer(buf), deadline);
      if (ec) co_return;
      step = hs.feed(std::string_view(buf.data(), n));
    } else if (auto* s = std::get_if<socks5::send>(&step)) {
      if (co_await net::write_all(socket, asio::buffer(s->bytes), deadline)) co_return;
      step = hs.feed({});
    } else if (auto* a = std::get_if<socks5::authenticate>(&step)) {
      auto name = shared.clients.check_pair(a->username, a->password);
      if (!name) log::info("client {}: SOCKS5 authentication failed", client);
      client_name = name.value_or("");
      step = hs.auth_result(name.has_value());
    } else if (auto* f = std::get_if<socks5::fail>(&step)) {
      log::info("client {}: SOCKS5 refused: {}", client, f->reason);
      if (!f->bytes.empty()) co_await net::write_all(socket, asio::buffer(f->bytes), deadline);
      co_return;
    } else {
      auto& c = std::get<socks5::connect_request>(step);
      target_request req{c.host, c.port, hs.take_leftover(), client, client_name, "socks"};
      reply_fn reply = [&hs](net::tcp::socket& s, verdict v, std::string_view) -> asio::awaitable<bool> {
        auto code = v == verdict::ok          ? socks5::reply_code::succeeded
                    : v == verdict::forbidden ? socks5::reply_code::not_allowed
                                              : socks5::reply_code::host_unreachable;
        std::string bytes = hs.reply(code);
        auto ec = co_await net::write_all(s, asio::buffer(bytes), clock::now() + std::chrono::seconds(10));
        co_return !ec && v == verdict::ok;
      };
      co_await route(std::move(socket), std::move(req), reply, open, shared, w);
      co_return;
    }
  }
}

// What the first bytes of a connection turned out to be. Read by its own coroutine so that its
// 16 KiB buffer and parser are gone before the connection settles into a long life.
struct first_message {
  enum class kind { closed, socks5, plain_http, connect } what = kind::closed;
  std::string bytes;        // everything read so far
  std::string method;       // plain HTTP / CONNECT
  std::string target;       // CONNECT host:port
  std::string proxy_authorization;
  std::size_t head_end = 0;  // CONNECT: where early tunnel bytes start
};

asio::awaitable<first_message> read_first_message(net::tcp::socket& socket, const std::string& client,
                                                  shared_context& shared) {
  first_message out;
  const auto deadline = net::coarse_now() + shared.lim.header_timeout;
  net::deadline dl(socket);  // one watchdog for all the reads, not a timer raced per read
  auto buf = std::make_unique<char[]>(16 * 1024);
  http::request_parser parser(shared.lim.max_head_bytes);
  while (true) {
    auto [ec, n] = co_await net::read_some(socket, asio::buffer(buf.get(), 16 * 1024), dl, deadline);
    if (ec) {
      if (ec == asio::error::timed_out && !out.bytes.empty())
        co_await refuse(socket, 408, "request head not received in time");
      co_return out;
    }
    std::string_view fresh(buf.get(), n);
    if (out.bytes.empty() && static_cast<std::uint8_t>(fresh[0]) == socks5::version) {
      out.what = first_message::kind::socks5;
      out.bytes.assign(fresh);
      co_return out;
    }
    out.bytes.append(fresh);
    auto r = parser.feed(fresh, nullptr);
    if (r.status == http::parse_status::error) {
      log::info("client {}: refused: {}", client, parser.error_reason());
      co_await refuse(socket, parser.error_status(), parser.error_reason());
      co_return out;
    }
    if (r.status == http::parse_status::need_more) continue;
    // Head complete: what follows it is body or, after CONNECT, early tunnel bytes.
    const auto& head = parser.head();
    out.head_end = out.bytes.size() - (fresh.size() - r.consumed);
    out.method = head.method;
    out.target = head.target;
    out.proxy_authorization = std::string(http::find_header(head.headers, "Proxy-Authorization").value_or(""));
    out.what = head.method == "CONNECT" ? first_message::kind::connect : first_message::kind::plain_http;
    co_return out;
  }
}

}  // namespace

asio::awaitable<void> serve_client(net::tcp::socket socket, shared_context& shared, worker& w) {
  scoped_count open(shared.open_connections, &w);
  error_code ignored;
  socket.set_option(net::tcp::no_delay(true), ignored);
  std::string client = peer_of(socket);
  if (open.value() > shared.lim.max_connections) {
    co_await refuse(socket, 503, "too many connections; try again later");
    co_return;
  }

  first_message first = co_await read_first_message(socket, client, shared);
  switch (first.what) {
    case first_message::kind::closed:
      co_return;
    case first_message::kind::socks5:
      co_await serve_socks5(std::move(socket), std::move(first.bytes), client, open, shared, w);
      co_return;
    case first_message::kind::plain_http: {
      session_info info{client, "base_url", "", "", false};
      co_await run_session(socket, std::move(info), std::move(first.bytes), shared, w);
      co_return;
    }
    case first_message::kind::connect:
      break;
  }
  std::string client_name;
  if (!shared.clients.empty()) {
    auto name = shared.clients.check_basic(first.proxy_authorization);
    if (!name) {
      log::info("client {}: CONNECT without valid proxy credentials", client);
      co_await refuse(socket, 407, "proxy authentication required", kProxyAuthenticate);
      co_return;
    }
    client_name = *name;
  }
  auto target = config::try_parse_endpoint(first.target);
  if (!target || target->port == 0) {
    co_await refuse(socket, 400, "CONNECT needs host:port");
    co_return;
  }
  target_request req{target->host, target->port, first.bytes.substr(first.head_end), client, client_name, "connect"};
  std::string().swap(first.bytes);
  reply_fn reply = connect_reply;
  co_await route(std::move(socket), std::move(req), reply, open, shared, w);
}

}  // namespace orp::proxy
