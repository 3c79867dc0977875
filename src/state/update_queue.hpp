#pragma once
// Local key changes on their way to Redis: bounded, one entry per key. A newer status replaces
// an older one, cool-down deadlines keep the latest. The request path only ever pushes here;
// while Redis is down entries wait (and coalesce), then go out when it returns.
// Not thread-safe: the backend guards it with its own mutex.
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "keys/key_pool.hpp"

namespace orp::state {

struct pending_update {
  std::string fingerprint;
  std::string label;
  std::optional<keys::key_state> status;  // disabled_* or active (recovered)
  std::string status_reason;
  std::optional<keys::wall_time> cooling_until;
  std::string cooling_reason;
  keys::wall_time at{};  // when the newest change in it was made
};

// A pool event as an update (cool-down deadline converted to wall-clock time).
pending_update to_update(const keys::key_event& e, keys::steady_time now, keys::wall_time now_wall);

class update_queue {
 public:
  explicit update_queue(std::size_t max_keys) : max_keys_(max_keys) {}

  // False (and counted) when a new key would pass the bound.
  bool push(pending_update u);
  std::vector<pending_update> take_all();
  // Updates that could not be sent go back, under anything newer queued meanwhile.
  void put_back(std::vector<pending_update> older);

  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  std::uint64_t dropped() const { return dropped_; }

 private:
  static void merge_into(pending_update& newer, pending_update older);

  std::size_t max_keys_;
  std::map<std::string, pending_update> entries_;
  std::uint64_t dropped_ = 0;
};

}  // namespace orp::state
