#pragma once
// The Redis side of the merge rule, as one Lua script run atomically by EVALSHA, and the names
// of everything this proxy keeps in Redis.
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "state/update_queue.hpp"

namespace orp::state {

extern const std::string_view update_script;

std::string key_name(std::string_view fingerprint);        // orp:key:<fp>
std::string probe_lock_name(std::string_view fingerprint);  // orp:probe:<fp>
// Pub/sub channels are server-wide, not per database: the database index keeps fleets that
// share one Redis apart.
std::string events_channel(int db);  // orp:<db>:events

enum class update_op { change, seed };

struct script_context {
  std::string channel;
  std::string instance_id;
  std::chrono::milliseconds record_ttl;
};

// EVALSHA arguments for one queued update. `seed` sets a status only where Redis has none (a
// fresh or restarted Redis learns what this instance knows, without overriding anyone).
std::vector<std::string> update_command(const std::string& sha, const pending_update& u, update_op op,
                                        const script_context& ctx);

}  // namespace orp::state
