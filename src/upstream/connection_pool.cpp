#include "upstream/connection_pool.hpp"

#include <sys/socket.h>

#include <algorithm>

#include <boost/asio/ip/address.hpp>
#include "tls/contexts.hpp"

namespace orp::upstream {

namespace asio = net::asio;
using net::error_code;

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
  // a close_notify. Such a connection is not reused. Bytes or an EOF that reach the socket while
  // it idles are seen by watch_idle, which drops the connection at once.
  return !SSL_has_pending(c.stream.native_handle());
}

// While a connection idles in the pool nothing was asked on it, so anything the socket signals
// (an EOF, a close_notify, an unsolicited response; drop_idle checks that there is something)
// puts it out of step: reused, its next request
// would read those bytes as its answer and every later answer would shift by one (RFC 9112 9.3.2:
// responses pair with requests in order). The wait stays pending when the connection is taken:
// the request's own wait for its answer then queues behind it and registers nothing, so this
// costs no system call more per request (one epoll_ctl either way), and when the answer arrives
// both complete; `round` tells this idle period's wait from a later one.
void connection_pool::watch_idle(connection& c) {
  c.stream.next_layer().async_wait(net::tcp::socket::wait_read,
                                   [this, id = c.id, round = c.requests](const error_code& ec) {
                                     // Aborted: the connection was closed or cancelled, and the pool
                                     // may be gone with it; only a readiness finds the pool alive.
                                     if (!ec) drop_idle(id, round);
                                   });
}

void connection_pool::drop_idle(std::uint64_t id, unsigned round) {
  auto it = std::find_if(idle_.begin(), idle_.end(),
                         [&](const connection_ptr& c) { return c->id == id && c->requests == round; });
  if (it == idle_.end()) return;  // in use again (the readiness is its answer's) or gone
  // epoll may report a readiness whose bytes a read has taken since (an answer's last segment
  // read before its event was handled): with nothing to read the connection is fine, so it is
  // watched again. Only this rare path costs the system call.
  char byte;
  ssize_t n = ::recv((*it)->stream.lowest_layer().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    watch_idle(**it);
    return;
  }
  idle_.erase(it);
  ++stats_.discarded_stale;
  stats_.idle = idle_.size();
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
  watch_idle(*c);
  constexpr std::size_t kMaxIdle = 64;
  if (idle_.size() >= kMaxIdle) idle_.erase(idle_.begin());
  idle_.push_back(std::move(c));
  stats_.idle = idle_.size();
}

}  // namespace orp::upstream
