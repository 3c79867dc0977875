#include "proxy/server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <boost/json/object.hpp>
#include <fmt/format.h>

#include <optional>

#include "log/logging.hpp"
#include "proxy/client.hpp"
#include "util/allocator.hpp"

namespace orp::proxy {

void log_unexpected_exception(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    log::error("connection ended by an unexpected exception: {}", ex.what());
  }
}

namespace asio = net::asio;
using net::error_code;

void connection_opened(worker& w) { w.trim.opened(); }

// How long after a burst has halved its heap is trimmed: the rest of the burst usually closes
// within it, so pages its connections shared are free by then.
constexpr std::chrono::seconds heap_trim_delay{1};

void connection_closed(worker& w) {
  // Not while the worker is shutting down (its io_context stopped, connections torn down).
  if (!w.trim.closed() || w.io.stopped()) return;
  w.trim_timer.expires_after(heap_trim_delay);
  w.trim_timer.async_wait([&w](const error_code& ec) {
    if (ec) return;  // shutting down
    const auto before = util::resident_bytes();
    const auto start = std::chrono::steady_clock::now();
    util::trim_heap();
    const std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
    w.trim.trimmed();
    w.heap_trims.fetch_add(1, std::memory_order_relaxed);
    log::info("heap trimmed after a burst of connections: {} left on this worker, RSS {:.1f} -> {:.1f} MiB ({:.2f} ms)",
              w.trim.open(), before / 1048576.0, util::resident_bytes() / 1048576.0, took.count());
  });
}

server::server(asio::io_context& main_io, shared_context& shared, keys::key_pool& keys,
               const forward::forward_settings& fwd, const upstream_options& up, unsigned workers,
               admin::metrics* metrics)
    : main_io_(main_io), shared_(shared), acceptor_(main_io) {
  std::random_device seed;
  for (unsigned i = 0; i < std::max(1u, workers); ++i) {
    auto w = std::make_unique<worker>();
    w->in_flight.use_sweep_timer(w->in_flight_timer);
    w->pool = std::make_unique<upstream::connection_pool>(w->io.get_executor(), up.client_ctx, up.target,
                                                          up.overrides, up.connect_timeout, up.pool_idle_timeout);
    w->forward = std::make_unique<forward::worker_context>(
        forward::worker_context{*w->pool, keys, fwd, std::mt19937_64(seed()), metrics, &shared_.stopping,
                                 &w->in_flight});
    workers_.push_back(std::move(w));
  }
}

server::~server() { stop(); }

net::tcp::endpoint server::listen(const config::endpoint& where) {
  net::tcp::resolver resolver(main_io_);
  auto results = resolver.resolve(where.host, std::to_string(where.port));
  net::tcp::endpoint ep = results.begin()->endpoint();
  acceptor_.open(ep.protocol());
  acceptor_.set_option(net::tcp::acceptor::reuse_address(true));
  acceptor_.bind(ep);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  return acceptor_.local_endpoint();
}

void server::start() {
  for (auto& w : workers_) {
    guards_.emplace_back(w->io.get_executor());
    w->thread = std::thread([w = w.get()] {
      net::idle_buffers::scope sweeper(w->buffers);
      w->io.run();
    });
  }
  asio::co_spawn(main_io_, accept_loop(), asio::detached);
}

asio::awaitable<void> server::accept_loop() {
  asio::steady_timer pause(main_io_);
  // Failed accepts are warned about at most once per interval while they last.
  constexpr std::chrono::seconds accept_warn_interval{10};
  std::optional<std::chrono::steady_clock::time_point> last_warning;
  std::uint64_t silenced = 0;
  while (acceptor_.is_open()) {
    worker& w = *workers_[next_worker_++ % workers_.size()];
    auto [ec, socket] = co_await acceptor_.async_accept(asio::any_io_executor(w.io.get_executor()), net::use_tuple);
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (ec) {
      // Out of file descriptors (or similar): pause accepting, keep serving, try again. Said with
      // how often it happened since the last warning.
      accept_failures_.fetch_add(1, std::memory_order_relaxed);
      const auto now = std::chrono::steady_clock::now();
      if (!last_warning || now - *last_warning >= accept_warn_interval) {
        log::warn("accept failed: {}; pausing accepts for 100 ms at a time{}", ec.message(),
                  silenced == 0 ? std::string() : fmt::format(" ({} more failures since the last warning)", silenced));
        last_warning = now;
        silenced = 0;
      } else {
        ++silenced;
      }
      pause.expires_after(std::chrono::milliseconds(100));
      co_await pause.async_wait(net::use_tuple);
      continue;
    }
    asio::co_spawn(w.io, serve_client(std::move(socket), shared_, w), log_unexpected_exception);
  }
}

server::worker_totals server::totals() const {
  worker_totals t;
  for (const auto& w : workers_) {
    const auto& s = w->pool->stats();
    t.connects += s.connects;
    t.reuses += s.reuses;
    t.connect_failures += s.connect_failures;
    t.idle += s.idle;
    t.discarded_stale += s.discarded_stale;
    t.stale_retries += s.stale_retries;
    t.heap_trims += w->heap_trims.load(std::memory_order_relaxed);
  }
  return t;
}

void server::render_metrics(std::string& out) const {
  const worker_totals t = totals();
  out += fmt::format(
      "# HELP orp_client_connections Open client connections.\n# TYPE orp_client_connections gauge\n"
      "orp_client_connections {}\n"
      "# HELP orp_requests_in_flight Requests being forwarded.\n# TYPE orp_requests_in_flight gauge\n"
      "orp_requests_in_flight {}\n"
      "# HELP orp_upstream_idle_connections Idle pooled upstream connections.\n"
      "# TYPE orp_upstream_idle_connections gauge\norp_upstream_idle_connections {}\n"
      "# HELP orp_upstream_connects_total New upstream TLS connections.\n# TYPE orp_upstream_connects_total counter\n"
      "orp_upstream_connects_total {}\n"
      "# HELP orp_upstream_reuses_total Requests sent on a pooled connection.\n"
      "# TYPE orp_upstream_reuses_total counter\norp_upstream_reuses_total {}\n"
      "# HELP orp_upstream_connect_failures_total Failed upstream connects.\n"
      "# TYPE orp_upstream_connect_failures_total counter\norp_upstream_connect_failures_total {}\n"
      "# HELP orp_upstream_stale_total Pooled connections found closed by the upstream (replaced).\n"
      "# TYPE orp_upstream_stale_total counter\norp_upstream_stale_total {}\n"
      "# HELP orp_client_tls_handshakes_total Completed TLS handshakes of intercepted clients, by session.\n"
      "# TYPE orp_client_tls_handshakes_total counter\n"
      "orp_client_tls_handshakes_total{{session=\"full\"}} {}\n"
      "orp_client_tls_handshakes_total{{session=\"resumed\"}} {}\n"
      "# HELP orp_heap_trims_total Freed memory given back to the system after a burst of connections.\n"
      "# TYPE orp_heap_trims_total counter\norp_heap_trims_total {}\n"
      "# HELP orp_accept_failures_total Failed accepts (out of file descriptors, say); accepting pauses 100 ms.\n"
      "# TYPE orp_accept_failures_total counter\norp_accept_failures_total {}\n"
      "# HELP orp_request_body_bytes Request body bytes held, all clients together (proxy.max_body_memory).\n"
      "# TYPE orp_request_body_bytes gauge\norp_request_body_bytes {}\n"
      "# HELP orp_request_body_refusals_total Requests refused with 503 because proxy.max_body_memory was reached.\n"
      "# TYPE orp_request_body_refusals_total counter\norp_request_body_refusals_total {}\n",
      shared_.open_connections.load(), shared_.active_requests.load(), t.idle, t.connects, t.reuses,
      t.connect_failures, t.discarded_stale + t.stale_retries, shared_.tls_full_handshakes.load(),
      shared_.tls_resumed_handshakes.load(), t.heap_trims, accept_failures_.load(std::memory_order_relaxed),
      shared_.bodies.in_use(), shared_.bodies.refusals());
}

void server::add_stats(boost::json::object& o) const {
  o["open_connections"] = shared_.open_connections.load();
  o["requests_in_flight"] = shared_.active_requests.load();
  const worker_totals t = totals();
  o["upstream_connects"] = t.connects;
  o["upstream_reuses"] = t.reuses;
  o["upstream_stale_discarded"] = t.discarded_stale;  // found closed before use
  o["upstream_stale_retried"] = t.stale_retries;      // found closed on use, request sent again
  o["tls_full_handshakes"] = shared_.tls_full_handshakes.load();        // intercepted clients
  o["tls_resumed_handshakes"] = shared_.tls_resumed_handshakes.load();  // ... resuming a session
  o["heap_trims"] = t.heap_trims;  // freed memory given back after a burst of connections (util/burst_trim.hpp)
  o["accept_failures"] = accept_failures_.load(std::memory_order_relaxed);
  o["request_body_bytes"] = shared_.bodies.in_use();        // held now, all clients together
  o["request_body_refusals"] = shared_.bodies.refusals();  // 503s at proxy.max_body_memory
}

void server::cut_in_flight() {
  for (auto& w : workers_) asio::post(w->io, [w = w.get()] { w->in_flight.cut_all(); });
}

void server::wake_waiters() {
  for (auto& w : workers_) asio::post(w->io, [w = w.get()] { w->in_flight.wake_waiters(); });
}

void server::stop_accepting() {
  asio::post(main_io_, [this] {
    error_code ignored;
    acceptor_.close(ignored);
  });
}

void server::stop() {
  // A pending accept holds a socket bound to a worker's io_context: finish it on the (stopped)
  // main loop before the workers go, or its destruction would touch a dead io_context.
  if (acceptor_.is_open()) {
    error_code ignored;
    acceptor_.close(ignored);
  }
  main_io_.restart();
  main_io_.poll();
  guards_.clear();
  for (auto& w : workers_) w->io.stop();
  for (auto& w : workers_)
    if (w->thread.joinable()) w->thread.join();
}

}  // namespace orp::proxy
