#pragma once
// Which parts of a fleet record this instance has not applied yet. Status changes carry a
// version bumped by Redis on every change, so a stale read (a reconcile racing a message) never
// undoes a newer change; cool-downs need no version because merging them takes the maximum.
// Not thread-safe: the backend serialises calls (and the pool updates they lead to).
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

#include "keys/key_pool.hpp"
#include "state/fleet_record.hpp"

namespace orp::state {

// The longest cool-down another instance's record can impose (OpenRouter's longest reset, a
// daily limit, is under a day away): a record written by hand or by a broken peer, "until 2262",
// would otherwise bench the key across the fleet and, saved in each state file, for good.
inline constexpr std::chrono::hours max_remote_cooldown{48};

class fleet_view {
 public:
  explicit fleet_view(std::string self_id) : self_(std::move(self_id)) {}

  // The news in `r` for key_pool::apply_remote, or nothing. A status this instance wrote itself
  // is never re-applied (its pool may have moved on since).
  std::optional<keys::remote_key_state> take(const fleet_record& r, keys::wall_time now_wall);
  // This instance's own write left the key at `version`: nothing up to it is news.
  void acknowledge(const std::string& fingerprint, std::uint64_t version);
  std::uint64_t seen(const std::string& fingerprint) const;

 private:
  std::string self_;
  std::unordered_map<std::string, std::uint64_t> seen_;
};

}  // namespace orp::state
