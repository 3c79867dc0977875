#pragma once
// The listener and the worker threads. Each worker is an io_context on its own thread with its
// own upstream pool; accepted sockets are handed to workers round-robin and never change thread.
#include <boost/json/object.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "config/settings.hpp"
#include "forward/forwarder.hpp"
#include "keys/key_pool.hpp"
#include "proxy/context.hpp"
#include "upstream/target.hpp"

namespace orp::proxy {

struct upstream_options {
  SSL_CTX* client_ctx = nullptr;
  upstream::target target;
  upstream::resolve_overrides overrides;
  net::clock::duration connect_timeout = std::chrono::seconds(10);
  net::clock::duration pool_idle_timeout = std::chrono::seconds(60);
};

class server {
 public:
  server(net::asio::io_context& main_io, shared_context& shared, keys::key_pool& keys,
         const forward::forward_settings& fwd, const upstream_options& up, unsigned workers,
         admin::metrics* metrics);
  ~server();

  // Binds the listener (throws std::system_error at start-up); port 0 picks a free port.
  net::tcp::endpoint listen(const config::endpoint& where);
  // Starts the worker threads and the accept loop on main_io.
  void start();
  // Stops accepting new connections; in-flight requests go on.
  void stop_accepting();
  // The end of a drain: every worker cuts short the requests it still has in flight (they answer
  // or end, and write their access lines, on their own threads).
  void cut_in_flight();
  // The start of a drain (shared.stopping is set): requests waiting for a cool-down or a back-off
  // are woken on their workers' threads and answer 503.
  void wake_waiters();
  // Stops the workers (closing what is left) and joins their threads.
  void stop();

  shared_context& shared() { return shared_; }
  std::size_t worker_count() const { return workers_.size(); }
  // Gauges for /metrics and /stats: connections and upstream pool use, summed over workers.
  void render_metrics(std::string& out) const;
  void add_stats(boost::json::object& o) const;

 private:
  net::asio::awaitable<void> accept_loop();
  // The workers' upstream pools and heap trims, summed for /metrics and /stats.
  struct worker_totals {
    std::uint64_t connects = 0, reuses = 0, connect_failures = 0, idle = 0, discarded_stale = 0, stale_retries = 0,
                  heap_trims = 0;
  };
  worker_totals totals() const;

  net::asio::io_context& main_io_;
  shared_context& shared_;
  net::tcp::acceptor acceptor_;
  std::vector<std::unique_ptr<worker>> workers_;
  std::vector<net::asio::executor_work_guard<net::asio::io_context::executor_type>> guards_;
  std::size_t next_worker_ = 0;
  std::atomic<std::uint64_t> accept_failures_{0};  // read by /metrics and /stats
};

}  // namespace orp::proxy
