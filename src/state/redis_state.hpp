#pragma once
// state.backend = redis: key state shared by every proxy instance pointed at one Redis.
//
// Threads (neither is ever waited on by the request path):
//  - sync: one command connection. Sends queued local changes (EVALSHA of the merge script,
//    pipelined), answers probe-lock requests (SET NX PX), and every few seconds pushes counter
//    deltas and reconciles in full (HGETALL of every local key). Reconnects with back-off; on
//    (re)connect it sends what queued up meanwhile, seeds what Redis lacks, then reconciles.
//  - subscriber: SUBSCRIBE orp:<db>:events, applies each message to the pool at once; every
//    (re)subscription asks the sync thread for a full reconcile, so a lost message costs nothing.
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "state/fleet_view.hpp"
#include "state/redis_connection.hpp"
#include "state/redis_scripts.hpp"
#include "state/shared_state.hpp"
#include "state/update_queue.hpp"

namespace orp::state {

struct redis_options {
  redis_endpoint endpoint;
  std::chrono::milliseconds io_timeout{500};  // connect and each command
  std::chrono::milliseconds reconcile_every{3000};
  std::chrono::milliseconds start_wait{1500};  // first connect + reconcile before serving
  std::chrono::milliseconds min_backoff{100};  // reconnects: doubling, with jitter
  std::chrono::milliseconds max_backoff{3000};
  std::chrono::milliseconds record_ttl{std::chrono::hours(24 * 30)};
  std::size_t max_queued_keys = 10000;
};

// Back-off with jitter: uniformly random in [d/2, d], so a fleet does not reconnect in step.
std::chrono::milliseconds jittered(std::chrono::milliseconds d);

class redis_state final : public shared_state {
 public:
  redis_state(keys::key_pool& pool, redis_options options);
  ~redis_state() override;

  void start() override;
  void stop() override;
  void try_probe_lock(std::string fingerprint, std::chrono::milliseconds ttl, std::function<void(bool)> done) override;
  void render_metrics(std::string& out) const override;

  const std::string& instance_id() const { return instance_id_; }

 private:
  struct lock_request {
    std::string fingerprint;
    std::chrono::milliseconds ttl;
    std::function<void(bool)> done;
  };

  void on_local_change(const keys::key_event& e);
  void sync_loop();
  void subscribe_loop();
  void read_messages(redis_connection& sub);
  bool connect_and_catch_up();
  void lost(std::string_view why);
  bool send_updates(std::vector<pending_update> updates, update_op op);
  bool serve_locks(std::vector<lock_request>& requests);
  bool push_counters();
  bool reconcile();
  std::vector<pending_update> local_state_for_seed() const;
  void apply(const fleet_record& r);
  void wake_subscriber();
  bool stopping() const;
  void first_attempt_done();

  keys::key_pool& pool_;
  redis_options options_;
  std::string instance_id_;
  script_context script_;
  std::string script_sha_;

  std::optional<redis_connection> conn_;  // sync thread only
  bool warned_down_ = false;              // sync thread only
  bool ever_connected_ = false;           // sync thread only
  std::map<std::string, keys::key_counters> counters_sent_;  // sync thread only

  mutable std::mutex mutex_;  // guards the members up to wake_
  update_queue queue_;
  std::vector<lock_request> lock_requests_;
  bool stopping_ = false;
  bool reconcile_requested_ = false;
  bool first_attempt_done_ = false;
  std::condition_variable wake_;

  std::mutex view_mutex_;  // fleet_view + the pool updates it decides; taken before the pool's
  fleet_view view_;

  mutable std::mutex fleet_mutex_;
  std::vector<std::pair<std::string, fleet_counters>> fleet_counters_;  // (label, counters) at the last reconcile

  int wake_fd_ = -1;  // eventfd: stop or reconnect the subscriber
  std::atomic<bool> kick_subscriber_{false};
  std::atomic<bool> up_{false}, subscribed_{false};
  std::atomic<std::uint64_t> connects_{0}, disconnects_{0}, messages_{0}, applied_{0}, sent_{0};
  std::atomic<std::int64_t> last_latency_us_{-1}, max_latency_us_{0};
  std::thread sync_thread_, sub_thread_;
  bool started_ = false;
};

}  // namespace orp::state
