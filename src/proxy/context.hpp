#pragma once
// What every client connection needs: limits, the intercept decision, and its worker thread's
// own pieces (io_context, upstream pool, forwarding context).
#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "forward/forwarder.hpp"
#include "net/idle_buffers.hpp"
#include "net/io.hpp"
#include "proxy/body_budget.hpp"
#include "proxy/proxy_auth.hpp"
#include "tls/leaf_cache.hpp"
#include "upstream/connection_pool.hpp"
#include "util/burst_trim.hpp"

namespace orp::proxy {

struct limits {
  std::uint64_t max_request_body = 32 * 1024 * 1024;
  std::uint64_t max_body_memory = std::uint64_t{1} << 30;
  std::size_t max_head_bytes = 64 * 1024;
  net::clock::duration header_timeout = std::chrono::seconds(30);
  net::clock::duration idle_timeout = std::chrono::seconds(120);
  net::clock::duration tunnel_idle_timeout = std::chrono::seconds(300);
  net::clock::duration connect_timeout = std::chrono::seconds(10);
  net::clock::duration handshake_timeout = std::chrono::seconds(10);
  std::int64_t max_connections = 10000;
};

// proxy.tunnel: which non-intercepted hosts may be tunnelled.
struct tunnel_policy {
  bool all = true;                 // "all"
  std::vector<std::string> hosts;  // allow-list when !all ("none" = empty)
  static tunnel_policy parse(std::string_view setting);
  bool allows(std::string_view host) const;
};

struct shared_context {
  std::vector<std::string> intercept_hosts;
  tunnel_policy tunnel;
  client_credentials clients;  // empty: no authentication
  tls::leaf_cache* leaves = nullptr;
  limits lim;
  std::atomic<std::uint64_t> next_request_id{1};
  std::atomic<std::int64_t> open_connections{0};
  std::atomic<std::int64_t> active_requests{0};
  std::atomic<bool> stopping{false};  // SIGTERM: draining (forward::worker_context::stopping)
  // Request bodies held, all connections together (lim.max_body_memory; set before serving).
  body_budget bodies{std::uint64_t{1} << 30};
  // Intercepted clients' TLS handshakes that completed: full, or resuming an earlier session.
  std::atomic<std::uint64_t> tls_full_handshakes{0};
  std::atomic<std::uint64_t> tls_resumed_handshakes{0};

  // Exact host names, compared case-insensitively.
  bool intercepts(std::string_view host) const;
};

// Counts something (open connections, requests in flight) for as long as it lives, also when a
// coroutine holding it is torn down at shutdown.
// Completion of a connection's coroutine: the data path reports errors as values; anything
// thrown is a bug, logged, not fatal.
void log_unexpected_exception(std::exception_ptr e);

struct worker;
// A connection of worker w has opened / closed (on w's thread): its burst_trim count.
void connection_opened(worker& w);
void connection_closed(worker& w);

// Counts itself in for its lifetime; moving it hands the count over (a connection's count
// follows the connection into the coroutine that serves it). Given a worker, it counts in that
// worker's own connection count too.
class scoped_count {
 public:
  explicit scoped_count(std::atomic<std::int64_t>& counter, worker* w = nullptr) : n_(&counter), w_(w) {
    ++*n_;
    if (w_) connection_opened(*w_);
  }
  scoped_count(scoped_count&& other) noexcept
      : n_(std::exchange(other.n_, nullptr)), w_(std::exchange(other.w_, nullptr)) {}
  ~scoped_count() {
    if (n_) --*n_;
    if (w_) connection_closed(*w_);
  }
  scoped_count(const scoped_count&) = delete;
  scoped_count& operator=(const scoped_count&) = delete;
  scoped_count& operator=(scoped_count&&) = delete;
  // The counter's value, this one included.
  std::int64_t value() const { return n_ ? n_->load() : 0; }

 private:
  std::atomic<std::int64_t>* n_;
  worker* w_;
};

struct worker {
  // Declared before io so that it outlives the connections io's destruction tears down.
  util::burst_trim trim;
  std::atomic<std::uint64_t> heap_trims{0};
  forward::in_flight_list in_flight;  // requests leave it as io's destruction tears them down
  net::asio::io_context io{1};
  net::asio::steady_timer trim_timer{io};  // the scheduled heap trim
  net::asio::steady_timer in_flight_timer{io};  // in_flight's sweep: watches the clients of slow requests
  // Frees the TLS record buffers of this worker's quiet connections; installed on its thread.
  net::idle_buffers buffers{io.get_executor()};
  std::unique_ptr<upstream::connection_pool> pool;
  std::unique_ptr<forward::worker_context> forward;
  std::thread thread;
};

}  // namespace orp::proxy
