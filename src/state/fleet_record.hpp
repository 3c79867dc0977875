#pragma once
// What Redis holds about one key, and the pub/sub message that announces a change to it.
//
// Hash orp:key:<fingerprint> (the fingerprint is a SHA-256 prefix, never the key):
//   status, status_reason, ver (bumped on every status change), by (instance that made it),
//   changed_at (epoch ms), cool_until (epoch ms; only ever raised), cool_reason, label (display
//   form), c:requests c:successes c:client_errors c:failures c:cancelled (fleet-wide counters).
// Message on orp:<db>:events: the same minus counters, as JSON, plus "from" (publisher) and "t"
// (epoch ms when the publisher's pool made the change, for the propagation-latency gauge).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "keys/epoch_ms.hpp"
#include "keys/key_pool.hpp"

namespace orp::state {

struct fleet_counters {
  std::uint64_t requests = 0, successes = 0, client_errors = 0, failures = 0, cancelled = 0;
};

struct fleet_record {
  std::string fingerprint;
  std::string label;
  std::optional<keys::key_state> status;  // empty: no instance has reported a status
  std::string status_reason;
  std::uint64_t version = 0;
  std::string changed_by;  // instance id
  std::optional<keys::wall_time> cooling_until;
  std::string cooling_reason;
  fleet_counters counters;
  // Message only.
  std::string from;
  std::optional<keys::wall_time> sent_at;
};

using keys::from_epoch_ms;
using keys::to_epoch_ms;

// From HGETALL's field/value pairs; unknown fields are ignored, malformed numbers read as 0.
fleet_record parse_record_fields(std::string_view fingerprint,
                                 const std::vector<std::pair<std::string, std::string>>& fields);

// A message from the events channel; empty when it is not one of ours or is malformed.
std::optional<fleet_record> decode_message(std::string_view text);
// The same shape the Lua script publishes (used by tests and for symmetry).
std::string encode_message(const fleet_record& r);

}  // namespace orp::state
