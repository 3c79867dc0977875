// key_pool: reloads of keys.csv, and the memory of removed keys that lets their state come back.
#include <algorithm>
#include <set>

#include "keys/key_pool.hpp"

namespace orp::keys {
namespace {

// keys.csv refuses weights out of this range; a record made elsewhere gets the same bounds, so
// that choose()'s sums stay finite and every key keeps a chance.
double usable_weight(double weight) {
  if (!(weight > 0)) return 1.0;  // also NaN
  return std::clamp(weight, 1e-6, max_key_weight);
}

}  // namespace

reload_result key_pool::replace(std::vector<key_record> records) {
  std::lock_guard lock(mutex_);
  reload_result result;
  std::vector<entry> next;
  next.reserve(records.size());
  std::set<std::string> kept;
  for (auto& record : records) {
    if (entry* known = find(record.key.fingerprint())) {
      entry e = std::move(*known);
      e.key = std::make_shared<const api_key>(std::move(record.key));  // the label may have changed
      e.weight = usable_weight(record.weight);
      kept.insert(e.key->fingerprint());
      next.push_back(std::move(e));
      continue;
    }
    entry e;
    auto remembered = take_removed(record.key.fingerprint());
    if (remembered) e = std::move(*remembered);
    e.key = std::make_shared<const api_key>(std::move(record.key));
    e.weight = usable_weight(record.weight);
    e.generation = next_generation_++;  // leases from the key's earlier life stay ignored
    if (remembered) {
      result.restored.push_back(restored_key{e.key->display(), e.state, e.reason});
    } else {
      e.reason = "added";
      result.added.push_back(e.key->display());
    }
    next.push_back(std::move(e));
  }
  for (auto& e : entries_) {
    if (!e.key || kept.contains(e.key->fingerprint())) continue;  // kept ones were moved from
    // Both read before e is moved away: argument order is unspecified.
    std::string fingerprint = e.key->fingerprint();
    result.removed.push_back(e.key->display());
    remember_removed(std::move(fingerprint), result.removed.back(), std::move(e));
  }
  result.kept = kept.size();
  entries_ = std::move(next);
  std::vector<std::shared_ptr<const api_key>> pool_keys;
  for (const auto& e : entries_) pool_keys.push_back(e.key);
  masker_ = std::make_shared<const key_masker>(std::move(pool_keys));
  return result;
}

void key_pool::remember_removed(std::string fingerprint, std::string display, entry e) {
  e.key.reset();  // the state is kept, not the secret
  e.in_flight = 0;
  e.current_weight = 0;
  std::erase_if(removed_, [&](const removed_key& r) { return r.fingerprint == fingerprint; });
  removed_.push_back(removed_key{std::move(fingerprint), std::move(display), std::move(e)});
  while (removed_.size() > options_.remembered_removed_keys) removed_.pop_front();
}

std::optional<key_pool::entry> key_pool::take_removed(std::string_view fingerprint) {
  const auto it =
      std::find_if(removed_.begin(), removed_.end(), [&](const removed_key& r) { return r.fingerprint == fingerprint; });
  if (it == removed_.end()) return std::nullopt;
  entry e = std::move(it->state);
  removed_.erase(it);
  return e;
}

std::vector<key_snapshot> key_pool::removed_snapshot(steady_time now) const {
  std::lock_guard lock(mutex_);
  std::vector<key_snapshot> out;
  out.reserve(removed_.size());
  for (const auto& r : removed_) out.push_back(describe(r.state, r.display, r.fingerprint, now));
  return out;
}

}  // namespace orp::keys
