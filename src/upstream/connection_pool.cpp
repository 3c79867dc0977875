#include "upstream/connection_pool.hpp"

#include <sys/socket.h>

#include <boost/asio/ip/address.hpp>
#include "tls/contexts.hpp"

namespace orp::upstream {

namespace asio = net::asio;
using net::error_code;

namespace {
constexpr auto kPeekAfter = std::chrono::seconds(1);
}

connection_pool::connection_pool(asio::any_io_executor ex, SSL_CTX* client_ctx, target t,
                                 resolve_overrides overrides, net::clock::duration connect_timeout,
                                 net::clock::duration idle_timeout)
    : executor_(std::move(ex)),
      client_ctx_(client_ctx),
      target_(std::move(t)),
      overrides_(std::move(overrides)),
      connect_timeout_(connect_timeout),
      idle_timeout_(idle_timeout) {}

bool connection_pool::looks_alive(connection& c) const {
  const auto idle_for = net::coarse_now() - c.idle_since;
  if (idle_for > idle_timeout_) return false;
  // Bytes already read ahead on an idle connection are not a response to anything: an alert or
  // a close_notify. Such a connection is not reused.
  if (SSL_has_pending(c.stream.native_handle())) return false;
  // A connection back in the pool for under a second is taken as is: servers close idle
  // keep-alive connections after seconds, and one that closed sooner is caught by the forwarder
  // (a reused connection that fails before any response byte is retried on a fresh one). This
  // spares a system call per request under load.
  if (idle_for < kPeekAfter) return true;
  // A peer that closed an idle connection has left an EOF (or a close_notify alert) to read.
  char byte;
  auto fd = c.stream.lowest_layer().native_handle();
  ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

asio::awaitable<std::pair<error_code, connection_ptr>> connection_pool::acquire(net::clock::time_point deadline,
                                                                                bool fresh_only) {
  while (!fresh_only && !idle_.empty()) {
    connection_ptr c = std::move(idle_.back());
    idle_.pop_back();
    stats_.idle = idle_.size();
    if (looks_alive(*c)) {
      ++stats_.reuses;
      co_return std::pair{error_code{}, std::move(c)};
    }
    ++stats_.discarded_stale;
  }
  co_return co_await connect_new(deadline);
}

asio::awaitable<std::pair<error_code, connection_ptr>> connection_pool::connect_new(net::clock::time_point deadline) {
  deadline = std::min(deadline, net::coarse_now() + connect_timeout_);
  net::tcp::resolver::results_type endpoints;
  std::string key = target_.host + ":" + std::to_string(target_.port);
  if (auto it = overrides_.find(key); it != overrides_.end()) {
    error_code ec;
    auto addr = asio::ip::make_address(it->second.addr, ec);
    if (ec) co_return std::pair{ec, connection_ptr{}};
    endpoints = net::tcp::resolver::results_type::create(net::tcp::endpoint(addr, it->second.port), target_.host,
                                                         std::to_string(target_.port));
  } else {
    net::tcp::resolver resolver(executor_);
    auto [ec, results] = co_await resolver.async_resolve(target_.host, std::to_string(target_.port), net::use_tuple);
    if (ec) {
      ++stats_.connect_failures;
      co_return std::pair{ec, connection_ptr{}};
    }
    endpoints = std::move(results);
  }

  net::tcp::socket socket(executor_);
  if (auto ec = co_await net::connect(socket, endpoints, deadline)) {
    ++stats_.connect_failures;
    co_return std::pair{ec, connection_ptr{}};
  }
  socket.set_option(net::tcp::no_delay(true));
  // The connect's wait left the descriptor registered for writability (see net/io.hpp).
  net::watch_reads_only(socket);

  SSL* ssl = SSL_new(client_ctx_);
  if (!ssl) co_return std::pair{error_code(static_cast<int>(ERR_get_error()), asio::error::get_ssl_category()),
                                connection_ptr{}};
  net::tls_stream stream(std::move(socket), ssl);  // the stream owns ssl from here
  // SNI plus host name verification, per connection: the context verifies the chain only.
  if (!tls::configure_client_ssl(ssl, target_.host)) {
    ++stats_.connect_failures;
    co_return std::pair{error_code(asio::error::invalid_argument), connection_ptr{}};
  }
  if (auto ec = co_await net::handshake(stream, /*server=*/false, deadline)) {
    ++stats_.connect_failures;
    co_return std::pair{ec, connection_ptr{}};
  }
  ++stats_.connects;
  co_return std::pair{error_code{}, std::make_unique<connection>(std::move(stream), next_id_++)};
}

void connection_pool::release(connection_ptr c) {
  c->dl.disarm();
  c->stream.going_idle();  // an idle pooled connection soon holds no record buffers
  c->idle_since = net::coarse_now();
  ++c->requests;
  constexpr std::size_t kMaxIdle = 64;
  if (idle_.size() >= kMaxIdle) idle_.erase(idle_.begin());
  idle_.push_back(std::move(c));
  stats_.idle = idle_.size();
}

}  // namespace orp::upstream
