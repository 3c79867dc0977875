#include "state/fleet_view.hpp"

#include <algorithm>

namespace orp::state {

std::optional<keys::remote_key_state> fleet_view::take(const fleet_record& r, keys::wall_time now_wall) {
  keys::remote_key_state out;
  bool news = false;
  if (r.cooling_until && *r.cooling_until > now_wall) {
    out.cooling_until = std::min(*r.cooling_until, now_wall + max_remote_cooldown);
    out.cooling_reason = r.cooling_reason;
    news = true;
  }
  auto& seen = seen_[r.fingerprint];
  if (r.version > seen) {
    seen = r.version;
    if (r.status && r.changed_by != self_) {
      out.status = r.status;
      out.reason = r.status_reason;
      news = true;
    }
  }
  if (!news) return std::nullopt;
  return out;
}

void fleet_view::acknowledge(const std::string& fingerprint, std::uint64_t version) {
  auto& seen = seen_[fingerprint];
  seen = std::max(seen, version);
}

std::uint64_t fleet_view::seen(const std::string& fingerprint) const {
  auto it = seen_.find(fingerprint);
  return it == seen_.end() ? 0 : it->second;
}

}  // namespace orp::state
