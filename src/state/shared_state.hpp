#pragma once
// Key state shared between proxy instances. `state.backend = memory` needs no object (the pool
// alone is the state); `redis` makes a redis_state. The request path never calls in here: the
// pool's observer queues local changes, and remote ones are applied to the pool from the
// backend's own threads.
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "keys/key_pool.hpp"
#include "net/io.hpp"

namespace orp::config {
class settings;
}

namespace orp::state {

class shared_state {
 public:
  virtual ~shared_state() = default;
  // After the pool holds its keys and any restored state: attaches to the pool, connects and
  // reconciles (waiting a bounded moment, so the first requests already see the fleet's state).
  virtual void start() = 0;
  // Sends what is still queued (bounded), detaches from the pool, joins the threads.
  virtual void stop() = 0;
  // Whether this instance should probe the key now (true when the fleet cannot be asked);
  // `done` runs on a backend thread.
  virtual void try_probe_lock(std::string fingerprint, std::chrono::milliseconds ttl,
                              std::function<void(bool)> done) = 0;
  // Prometheus text: connectivity and sync gauges.
  virtual void render_metrics(std::string& out) const = 0;
};

// nullptr for state.backend = memory. Throws std::invalid_argument for a bad state.redis_url.
std::unique_ptr<shared_state> make_shared_state(const config::settings& cfg, keys::key_pool& pool);

// try_probe_lock as an awaitable that resumes on the caller's executor.
net::asio::awaitable<bool> acquire_probe_lock(shared_state& state, std::string fingerprint,
                                              std::chrono::milliseconds ttl);

}  // namespace orp::state
