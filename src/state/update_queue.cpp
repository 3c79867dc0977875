#include "state/update_queue.hpp"

#include <algorithm>

namespace orp::state {

pending_update to_update(const keys::key_event& e, keys::steady_time now, keys::wall_time now_wall) {
  pending_update u;
  u.fingerprint = e.fingerprint;
  u.label = e.label;
  u.at = now_wall;
  if (e.state == keys::key_state::cooling) {
    u.cooling_until = now_wall + std::chrono::duration_cast<keys::wall_time::duration>(e.cooling_until - now);
    u.cooling_reason = e.reason;
  } else {
    u.status = e.state;
    u.status_reason = e.reason;
  }
  return u;
}

// `newer` keeps its status if it has one; deadlines take the later one.
void update_queue::merge_into(pending_update& newer, pending_update older) {
  if (!newer.status && older.status) {
    newer.status = older.status;
    newer.status_reason = std::move(older.status_reason);
  }
  if (older.cooling_until && (!newer.cooling_until || *older.cooling_until > *newer.cooling_until)) {
    newer.cooling_until = older.cooling_until;
    newer.cooling_reason = std::move(older.cooling_reason);
  }
  newer.at = std::max(newer.at, older.at);
  if (newer.label.empty()) newer.label = std::move(older.label);
}

bool update_queue::push(pending_update u) {
  auto it = entries_.find(u.fingerprint);
  if (it == entries_.end()) {
    if (entries_.size() >= max_keys_) {
      ++dropped_;
      return false;
    }
    std::string fp = u.fingerprint;
    entries_.emplace(std::move(fp), std::move(u));
    return true;
  }
  pending_update older = std::move(it->second);
  it->second = std::move(u);
  merge_into(it->second, std::move(older));
  return true;
}

std::vector<pending_update> update_queue::take_all() {
  std::vector<pending_update> out;
  out.reserve(entries_.size());
  for (auto& [fp, u] : entries_) out.push_back(std::move(u));
  entries_.clear();
  return out;
}

void update_queue::put_back(std::vector<pending_update> older) {
  for (auto& u : older) {
    auto it = entries_.find(u.fingerprint);
    if (it != entries_.end()) {
      merge_into(it->second, std::move(u));
    } else if (entries_.size() < max_keys_) {
      std::string fp = u.fingerprint;
      entries_.emplace(std::move(fp), std::move(u));
    } else {
      ++dropped_;
    }
  }
}

}  // namespace orp::state
