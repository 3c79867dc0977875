#pragma once
// The key pool: selection, per-key state from upstream outcomes, global throttling and recovery.
// Pure and clock-injected; thread-safe behind one mutex, no I/O under it.
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "keys/api_key.hpp"
#include "keys/classify.hpp"
#include "keys/key_masker.hpp"
#include "keys/keys_csv.hpp"

namespace orp::keys {

using steady_time = std::chrono::steady_clock::time_point;
using wall_time = std::chrono::system_clock::time_point;

enum class key_state { active, cooling, disabled_invalid, disabled_no_credit };
std::string_view to_string(key_state state);
std::optional<key_state> parse_key_state(std::string_view text);
constexpr bool is_disabled(key_state s) {
  return s == key_state::disabled_invalid || s == key_state::disabled_no_credit;
}

enum class strategy { round_robin, least_used, random };
std::string_view to_string(strategy s);
std::optional<strategy> parse_strategy(std::string_view text);

// requests == successes + client_errors + failures + cancelled + in-flight
struct key_counters {
  std::uint64_t requests = 0;
  std::uint64_t successes = 0;
  std::uint64_t client_errors = 0;  // pass_through answers (400, 403, ...): not the key's fault
  std::uint64_t failures = 0;       // key-specific and transient failures
  std::uint64_t cancelled = 0;      // leases given back unreported (client went away)
  std::uint32_t consecutive_429 = 0;
};

// One attempt's hold on a key; report() or cancel() it exactly once (extra calls are ignored).
struct key_lease {
  std::uint64_t id = 0;  // 0 for probe targets, which are not attempts
  std::string fingerprint;
  std::string display;
  std::shared_ptr<const api_key> key;  // key->reveal() goes into the Authorization header
};

// A log-worthy event; `global` marks the pool-wide throttle (label and fingerprint empty).
struct state_change {
  std::string label;
  std::string fingerprint;
  key_state from = key_state::active;
  key_state to = key_state::active;
  std::string reason;
  bool global = false;
};

struct availability {
  std::size_t total = 0, active = 0, cooling = 0, disabled = 0;
  bool any_active = false;  // pick() without exclusions would succeed now
  // When nothing is usable: the first instant something may be (a cool-down or the global back-off
  // ends). Empty when no key will come back by itself.
  std::optional<steady_time> earliest_cooldown_end;
  std::optional<steady_time> global_backoff_until;
  bool all_disabled = false;  // no keys, or every key disabled: answer 503
};

struct key_snapshot {
  std::string display;
  std::string fingerprint;
  key_state state = key_state::active;
  std::string reason;      // of the last state change
  std::string last_error;  // masked
  std::optional<std::chrono::milliseconds> cooling_left;
  key_counters counters;
  int in_flight = 0;
  double weight = 1.0;
  std::optional<double> credit_left;  // from the last probe; empty = unknown or unlimited
  // Disabled keys: how long ago the last probe (or the disable, before any probe) was.
  std::optional<std::chrono::milliseconds> since_last_probe;
};

// A key back in keys.csv after a reload had removed it, with the state it left with.
struct restored_key {
  std::string display;
  key_state state = key_state::active;
  std::string reason;
};

struct reload_result {
  std::vector<std::string> added, removed;  // display labels
  std::vector<restored_key> restored;       // returned keys whose state was remembered
  std::size_t kept = 0;
};

struct pool_options {
  // Global throttle: this many distinct keys answering 429 within the window, with no success in
  // between, means the limit is on the client's IP or the account, not on the keys.
  std::chrono::milliseconds throttle_window{10'000};
  std::size_t throttle_distinct_keys = 3;
  // Floor for hinted cool-downs: a Retry-After of 0 must not make a key spin.
  std::chrono::milliseconds min_cooldown{1'000};
  // Removed keys whose state is remembered for their return (oldest forgotten first).
  std::size_t remembered_removed_keys = 1000;
};

// A local change other instances should learn of (state/ forwards it to Redis): a key was
// disabled, recovered from a disable, or began or extended a cool-down. Cool-downs ending and
// the global (per-IP) back-off are not fleet news.
struct key_event {
  std::string fingerprint;
  std::string label;
  key_state state = key_state::active;  // disabled_*: disabled; active: recovered; cooling
  steady_time cooling_until{};          // for cooling
  std::string reason;
};

// What the fleet knows of a key that this pool has not applied yet (see apply_remote).
struct remote_key_state {
  std::optional<wall_time> cooling_until;  // the fleet's latest cool-down deadline
  std::string cooling_reason;
  std::optional<key_state> status;  // disabled_*: disabled elsewhere; active: recovered elsewhere
  std::string reason;
};

struct persisted_state;

class key_pool {
 public:
  explicit key_pool(strategy s, std::uint64_t seed = 0, pool_options options = {});
  key_pool(const key_pool&) = delete;
  key_pool& operator=(const key_pool&) = delete;

  // Reload: new keys join active, removed keys vanish (their open leases are ignored on report),
  // known keys (same secret) keep state and counters and take the new label and weight. A removed
  // key's state is remembered by fingerprint and comes back with it: an editor that truncates
  // keys.csv and writes it back later must not revive disabled or cooling keys.
  reload_result replace(std::vector<key_record> records);
  std::size_t size() const;
  // Masks every key of the current pool (for upstream error texts); never null.
  std::shared_ptr<const key_masker> masker() const;

  // A usable key not in `exclude_fingerprints`, or nothing (all cooling/disabled/excluded, or the
  // global back-off is on). Counts the attempt and holds the key in flight until report/cancel.
  std::optional<key_lease> pick(std::span<const std::string> exclude_fingerprints, steady_time now);
  void report(const key_lease& lease, const outcome& result, steady_time now);
  void cancel(const key_lease& lease);

  availability availability_now(steady_time now);
  std::optional<steady_time> global_backoff_until(steady_time now) const;

  // Disabled keys not probed for `interval`; each is marked probed now, so concurrent callers
  // never probe one key twice. The results go to report_probe().
  std::vector<key_lease> due_for_probe(steady_time now, std::chrono::seconds interval);
  // status 0 = the probe itself failed. 200 with credit (limit_remaining empty = unlimited, or > 0)
  // re-activates a disabled key; 200 without credit or 402 keeps it disabled_no_credit; 401 makes it
  // disabled_invalid. Probes never touch active or cooling keys.
  // `failure`: why a probe with status 0 failed (masked), for the key's last error.
  void report_probe(std::string_view fingerprint, int status, std::optional<double> limit_remaining,
                    steady_time now, std::string_view failure = {});

  std::vector<key_snapshot> snapshot(steady_time now) const;
  // The remembered removed keys, oldest first: saved with the pool so their state survives a restart.
  std::vector<key_snapshot> removed_snapshot(steady_time now) const;
  // State changes since the last call, oldest first (kept up to a bound): log them, then persist.
  std::vector<state_change> drain_changes();
  // Applies a loaded state file to keys that still exist; the others are remembered as removed.
  // A disabled key's next probe comes `probe_interval` after its persisted last probe; keys
  // already due then are probed a second apart from now on.
  void restore(const persisted_state& state, steady_time now, wall_time now_wall, std::chrono::seconds probe_interval);

  // Called under the pool's lock for every key_event: keep it short, no I/O (queue and return).
  void set_observer(std::function<void(const key_event&)> observer);
  // Merges another instance's news: a cool-down never shortens (the later deadline wins) and
  // does not touch a disabled key; a disable applies; a recovery re-activates a disabled key.
  // Not echoed to the observer. Returns whether the key's state or deadline changed.
  bool apply_remote(std::string_view fingerprint, const remote_key_state& remote, steady_time now,
                    wall_time now_wall);
  // Whether the pool holds this key now (a key removed from keys.csv is not held).
  bool holds(std::string_view fingerprint) const;

 private:
  struct entry {
    std::shared_ptr<const api_key> key;
    double weight = 1.0;
    std::uint64_t generation = 0;
    key_state state = key_state::active;
    steady_time state_since{};
    steady_time cooling_until{};
    std::string reason;
    std::string last_error;
    key_counters counters;
    int in_flight = 0;
    double current_weight = 0;  // smooth weighted round robin
    std::optional<double> credit_left;
    std::optional<steady_time> last_probe;
  };
  struct open_lease {
    std::string fingerprint;
    std::uint64_t generation;
    steady_time issued;
  };

  // A key removed by a reload: its state without the secret.
  struct removed_key {
    std::string fingerprint;
    std::string display;
    entry state;
  };

  static key_snapshot describe(const entry& e, std::string display, std::string fingerprint, steady_time now);
  void remember_removed(std::string fingerprint, std::string display, entry e);
  std::optional<entry> take_removed(std::string_view fingerprint);
  entry* find(std::string_view fingerprint);
  std::optional<open_lease> close_lease(const key_lease& lease);
  void refresh(steady_time now);
  void set_state(entry& e, key_state to, steady_time now, std::string reason);
  void cool_down(entry& e, const outcome& result, steady_time now);
  void record(state_change change);
  void notify(const entry& e, key_state from);
  std::size_t choose(const std::vector<std::size_t>& candidates);

  mutable std::mutex mutex_;
  strategy strategy_;
  pool_options options_;
  std::mt19937_64 rng_;
  std::vector<entry> entries_;  // keys.csv order
  std::deque<removed_key> removed_;  // oldest first, at most options_.remembered_removed_keys
  std::shared_ptr<const key_masker> masker_ = std::make_shared<const key_masker>();
  std::uint64_t next_generation_ = 1;
  std::uint64_t next_lease_id_ = 1;
  std::unordered_map<std::uint64_t, open_lease> open_leases_;
  struct recent_429 {
    steady_time when;
    std::string fingerprint;
    std::chrono::milliseconds told;  // its explicit Retry-After, 0 without one
  };
  std::deque<recent_429> recent_429_;
  std::optional<steady_time> global_until_;
  int global_episode_ = 0;

  std::vector<state_change> changes_;
  std::function<void(const key_event&)> observer_;
  bool applying_remote_ = false;
};

}  // namespace orp::keys
