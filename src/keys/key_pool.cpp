#include "keys/key_pool.hpp"

#include <algorithm>
#include <cstdio>
#include <set>

#include "keys/backoff.hpp"

namespace orp::keys {
namespace {

using std::chrono::milliseconds;

constexpr std::size_t max_pending_changes = 1000;

std::string seconds_text(milliseconds d) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1fs", static_cast<double>(d.count()) / 1000.0);
  return buffer;
}

}  // namespace

std::string_view to_string(key_state state) {
  switch (state) {
    case key_state::active: return "active";
    case key_state::cooling: return "cooling";
    case key_state::disabled_invalid: return "disabled_invalid";
    case key_state::disabled_no_credit: return "disabled_no_credit";
  }
  return "unknown";
}

std::optional<key_state> parse_key_state(std::string_view text) {
  for (auto s : {key_state::active, key_state::cooling, key_state::disabled_invalid, key_state::disabled_no_credit}) {
    if (to_string(s) == text) return s;
  }
  return std::nullopt;
}

std::string_view to_string(strategy s) {
  switch (s) {
    case strategy::round_robin: return "round_robin";
    case strategy::least_used: return "least_used";
    case strategy::random: return "random";
  }
  return "unknown";
}

std::optional<strategy> parse_strategy(std::string_view text) {
  for (auto s : {strategy::round_robin, strategy::least_used, strategy::random}) {
    if (to_string(s) == text) return s;
  }
  return std::nullopt;
}

key_pool::key_pool(strategy s, std::uint64_t seed, pool_options options)
    : strategy_(s), options_(options), rng_(seed) {}

std::size_t key_pool::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

std::shared_ptr<const key_masker> key_pool::masker() const {
  std::lock_guard lock(mutex_);
  return masker_;
}

key_pool::entry* key_pool::find(std::string_view fingerprint) {
  for (auto& e : entries_) {
    if (e.key && e.key->fingerprint() == fingerprint) return &e;
  }
  return nullptr;
}

void key_pool::record(state_change change) {
  if (changes_.size() >= max_pending_changes) changes_.erase(changes_.begin());
  changes_.push_back(std::move(change));
}

void key_pool::set_state(entry& e, key_state to, steady_time now, std::string reason) {
  if (is_disabled(to) && !is_disabled(e.state)) e.last_probe = now;  // first probe one interval later
  record(state_change{e.key->display(), e.key->fingerprint(), e.state, to, reason, false});
  const key_state from = e.state;
  e.state = to;
  e.state_since = now;
  e.reason = std::move(reason);
  notify(e, from);
}

void key_pool::notify(const entry& e, key_state from) {
  if (!observer_ || applying_remote_) return;
  if (e.state == key_state::cooling || is_disabled(e.state) || is_disabled(from))
    observer_(key_event{e.key->fingerprint(), e.key->display(), e.state, e.cooling_until, e.reason});
}

// Cool-downs end by themselves; the transition is recorded lazily, on the next call that looks.
void key_pool::refresh(steady_time now) {
  for (auto& e : entries_) {
    if (e.state == key_state::cooling && e.cooling_until <= now) {
      set_state(e, key_state::active, now, "cool-down over");
    }
  }
  if (global_until_ && *global_until_ <= now) {
    global_until_.reset();
    record(state_change{{}, {}, key_state::cooling, key_state::active, "global back-off over", true});
  }
}

std::size_t key_pool::choose(const std::vector<std::size_t>& candidates) {
  switch (strategy_) {
    case strategy::round_robin: {
      // nginx's smooth weighted round robin: weights 5,1,1 give a a b a c a a, not a a a a a b c.
      double total = 0;
      std::size_t best = candidates.front();
      for (std::size_t i : candidates) {
        entries_[i].current_weight += entries_[i].weight;
        total += entries_[i].weight;
        if (entries_[i].current_weight > entries_[best].current_weight) best = i;
      }
      entries_[best].current_weight -= total;
      return best;
    }
    case strategy::least_used: {
      // Fewest in flight, then fewest requests, both relative to weight.
      auto load = [&](std::size_t i) {
        const entry& e = entries_[i];
        return std::pair(e.in_flight / e.weight, static_cast<double>(e.counters.requests) / e.weight);
      };
      return *std::min_element(candidates.begin(), candidates.end(),
                               [&](std::size_t a, std::size_t b) { return load(a) < load(b); });
    }
    case strategy::random: {
      double total = 0;
      for (std::size_t i : candidates) total += entries_[i].weight;
      double point = std::uniform_real_distribution<double>(0.0, total)(rng_);
      for (std::size_t i : candidates) {
        point -= entries_[i].weight;
        if (point < 0) return i;
      }
      return candidates.back();
    }
  }
  return candidates.front();
}

std::optional<key_lease> key_pool::pick(std::span<const std::string> exclude_fingerprints, steady_time now) {
  std::lock_guard lock(mutex_);
  refresh(now);
  if (global_until_) return std::nullopt;
  std::vector<std::size_t> candidates;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    const entry& e = entries_[i];
    if (e.state != key_state::active) continue;
    if (std::find(exclude_fingerprints.begin(), exclude_fingerprints.end(), e.key->fingerprint()) !=
        exclude_fingerprints.end()) {
      continue;
    }
    candidates.push_back(i);
  }
  if (candidates.empty()) return std::nullopt;
  entry& chosen = entries_[choose(candidates)];
  ++chosen.counters.requests;
  ++chosen.in_flight;
  const std::uint64_t id = next_lease_id_++;
  open_leases_.emplace(id, open_lease{chosen.key->fingerprint(), chosen.generation, now});
  return key_lease{id, chosen.key->fingerprint(), chosen.key->display(), chosen.key};
}

std::optional<key_pool::open_lease> key_pool::close_lease(const key_lease& lease) {
  auto it = open_leases_.find(lease.id);
  if (it == open_leases_.end()) return std::nullopt;
  open_lease held = std::move(it->second);
  open_leases_.erase(it);
  return held;
}

void key_pool::cancel(const key_lease& lease) {
  std::lock_guard lock(mutex_);
  const auto held = close_lease(lease);
  if (!held) return;
  entry* e = find(held->fingerprint);
  if (!e || e->generation != held->generation) return;
  --e->in_flight;
  ++e->counters.cancelled;
}

void key_pool::report(const key_lease& lease, const outcome& result, steady_time now) {
  std::lock_guard lock(mutex_);
  const auto held = close_lease(lease);
  if (!held) return;
  entry* found = find(held->fingerprint);
  if (!found || found->generation != held->generation) return;  // removed by a reload meanwhile
  entry& e = *found;
  --e.in_flight;
  refresh(now);

  switch (result.kind) {
    case outcome_kind::success:
      ++e.counters.successes;
      e.counters.consecutive_429 = 0;
      recent_429_.clear();
      global_episode_ = 0;
      // Only an attempt begun after the last change proves anything: concurrent requests that
      // started before a 429 still succeed and must not cut the cool-down short.
      if (e.state != key_state::active && held->issued >= e.state_since) {
        set_state(e, key_state::active, now, "request succeeded");
      }
      return;
    case outcome_kind::pass_through:
      ++e.counters.client_errors;
      return;
    case outcome_kind::transient:
      ++e.counters.failures;
      e.last_error = result.reason;
      return;
    case outcome_kind::key_invalid:
    case outcome_kind::key_no_credit: {
      ++e.counters.failures;
      e.last_error = result.reason;
      const auto to = result.kind == outcome_kind::key_invalid ? key_state::disabled_invalid
                                                               : key_state::disabled_no_credit;
      if (e.state != to) set_state(e, to, now, result.reason);
      return;
    }
    case outcome_kind::key_cooldown:
      ++e.counters.failures;
      e.last_error = result.reason;
      cool_down(e, result, now);
      return;
  }
}

// Why a global throttle: when the limit sits on the client's IP or the whole account, every key
// answers 429 in turn. Benching each for its own (often long) reset would empty the pool for hours
// after a burst; instead, once `throttle_distinct_keys` different keys get 429 within
// `throttle_window` with no success in between, the whole pool pauses briefly (5 s doubling to 60 s
// per consecutive episode) and the keys involved cool down only until that pause ends. A pause is
// never shorter than a Retry-After the upstream sent with one of its 429s (SPEC): that one is an
// instruction to this client, unlike a key's window reset. Up to an hour: a pool-wide pause of a
// year (a broken upstream's "Retry-After: 1000000000") would outlast any outage it describes.
constexpr milliseconds kMaxGlobalPause = std::chrono::hours(1);

void key_pool::cool_down(entry& e, const outcome& result, steady_time now) {
  if (is_disabled(e.state)) return;  // a concurrent 401/402 already said more
  if (result.status == 429) ++e.counters.consecutive_429;
  milliseconds length = result.retry_after ? std::max(*result.retry_after, options_.min_cooldown)
                                           : rate_limit_cooldown(static_cast<int>(e.counters.consecutive_429));
  std::string reason = result.reason;

  if (result.status == 429) {
    const milliseconds told = result.retry_after_explicit && result.retry_after
                                  ? std::min(*result.retry_after, kMaxGlobalPause)
                                  : milliseconds(0);
    recent_429_.push_back(recent_429{now, e.key->fingerprint(), told});
    while (!recent_429_.empty() && recent_429_.front().when + options_.throttle_window < now) {
      recent_429_.pop_front();
    }
    std::set<std::string> distinct;
    steady_time told_until = now;  // the latest end of an explicit Retry-After in the window
    for (const auto& r : recent_429_) {
      distinct.insert(r.fingerprint);
      told_until = std::max(told_until, r.when + r.told);
    }

    if (!global_until_ && distinct.size() >= options_.throttle_distinct_keys) {
      ++global_episode_;
      global_until_ = std::max(now + global_backoff(global_episode_), told_until);
      const auto pause = std::chrono::duration_cast<milliseconds>(*global_until_ - now);
      record(state_change{{}, {}, key_state::active, key_state::cooling,
                          "global back-off " + seconds_text(pause) + ": " + std::to_string(distinct.size()) +
                              " keys got 429 within " + seconds_text(options_.throttle_window) +
                              " (IP- or account-wide limit)",
                          true});
      for (auto& other : entries_) {
        if (&other != &e && other.state == key_state::cooling && distinct.contains(other.key->fingerprint())) {
          other.cooling_until = *global_until_;
        }
      }
      recent_429_.clear();
    }
    if (global_until_) {
      if (now + told > *global_until_) global_until_ = now + told;  // a later, longer Retry-After
      length = std::chrono::duration_cast<milliseconds>(*global_until_ - now);
      reason += " [global back-off]";
    }
  }

  const steady_time until = now + length;
  if (e.state == key_state::cooling) {
    if (until > e.cooling_until) {
      e.cooling_until = until;
      notify(e, e.state);
    }
    return;
  }
  e.cooling_until = until;
  set_state(e, key_state::cooling, now, reason + ", cooling " + seconds_text(length));
}

availability key_pool::availability_now(steady_time now) {
  std::lock_guard lock(mutex_);
  refresh(now);
  availability a;
  a.total = entries_.size();
  for (const auto& e : entries_) {
    if (e.state == key_state::active) ++a.active;
    else if (e.state == key_state::cooling) {
      ++a.cooling;
      if (!a.earliest_cooldown_end || e.cooling_until < *a.earliest_cooldown_end) a.earliest_cooldown_end = e.cooling_until;
    } else {
      ++a.disabled;
    }
  }
  a.global_backoff_until = global_until_;
  a.any_active = a.active > 0 && !global_until_;
  a.all_disabled = a.disabled == a.total;
  if (a.any_active) {
    a.earliest_cooldown_end.reset();
  } else if (global_until_ && (a.active > 0 || a.cooling > 0)) {
    a.earliest_cooldown_end =
        a.earliest_cooldown_end ? std::max(*a.earliest_cooldown_end, *global_until_) : *global_until_;
    if (a.active > 0) a.earliest_cooldown_end = *global_until_;
  }
  return a;
}

std::optional<steady_time> key_pool::global_backoff_until(steady_time now) const {
  std::lock_guard lock(mutex_);
  if (global_until_ && *global_until_ > now) return global_until_;
  return std::nullopt;
}

std::vector<key_lease> key_pool::due_for_probe(steady_time now, std::chrono::seconds interval) {
  std::lock_guard lock(mutex_);
  std::vector<key_lease> due;
  for (auto& e : entries_) {
    if (!is_disabled(e.state) || (e.last_probe && now - *e.last_probe < interval)) continue;
    e.last_probe = now;
    due.push_back(key_lease{0, e.key->fingerprint(), e.key->display(), e.key});
  }
  return due;
}

void key_pool::report_probe(std::string_view fingerprint, int status, std::optional<double> limit_remaining,
                            steady_time now, std::string_view failure) {
  std::lock_guard lock(mutex_);
  entry* e = find(fingerprint);
  if (!e || !is_disabled(e->state)) return;
  e->last_probe = now;
  if (status == 200) {
    e->credit_left = limit_remaining;
    const std::string credit = limit_remaining ? std::to_string(*limit_remaining) : std::string("unlimited");
    if (!limit_remaining || *limit_remaining > 0) {
      e->counters.consecutive_429 = 0;
      set_state(*e, key_state::active, now, "probe: 200, credit left " + credit);
    } else if (e->state != key_state::disabled_no_credit) {
      set_state(*e, key_state::disabled_no_credit, now, "probe: 200, no credit left");
    }
  } else if (status == 401 && e->state != key_state::disabled_invalid) {
    set_state(*e, key_state::disabled_invalid, now, "probe: 401 invalid key");
  } else if (status == 402 && e->state != key_state::disabled_no_credit) {
    set_state(*e, key_state::disabled_no_credit, now, "probe: 402 payment required");
  } else if (status != 401 && status != 402) {
    if (status != 0) e->last_error = "probe: status " + std::to_string(status);
    else e->last_error = failure.empty() ? std::string("probe failed (network)") : "probe failed: " + std::string(failure);
  }
}

key_snapshot key_pool::describe(const entry& e, std::string display, std::string fingerprint, steady_time now) {
  key_snapshot s{std::move(display), std::move(fingerprint), e.state, e.reason, e.last_error, std::nullopt,
                 e.counters, e.in_flight, e.weight, e.credit_left, std::nullopt};
  if (e.state == key_state::cooling) {
    if (e.cooling_until > now) {
      s.cooling_left = std::chrono::ceil<milliseconds>(e.cooling_until - now);
    } else {
      s.state = key_state::active;
      s.reason = "cool-down over";
    }
  }
  if (is_disabled(e.state) && e.last_probe)
    s.since_last_probe = std::chrono::floor<milliseconds>(std::max(now - *e.last_probe, steady_time::duration(0)));
  return s;
}

std::vector<key_snapshot> key_pool::snapshot(steady_time now) const {
  std::lock_guard lock(mutex_);
  std::vector<key_snapshot> out;
  out.reserve(entries_.size());
  for (const auto& e : entries_) out.push_back(describe(e, e.key->display(), e.key->fingerprint(), now));
  return out;
}

void key_pool::set_observer(std::function<void(const key_event&)> observer) {
  std::lock_guard lock(mutex_);
  observer_ = std::move(observer);
}

bool key_pool::holds(std::string_view fingerprint) const {
  std::lock_guard lock(mutex_);
  return std::any_of(entries_.begin(), entries_.end(),
                     [&](const entry& e) { return e.key && e.key->fingerprint() == fingerprint; });
}

bool key_pool::apply_remote(std::string_view fingerprint, const remote_key_state& remote, steady_time now,
                            wall_time now_wall) {
  std::lock_guard lock(mutex_);
  entry* e = find(fingerprint);
  if (!e) return false;
  refresh(now);
  applying_remote_ = true;
  const key_state before = e->state;
  bool extended = false;
  if (remote.status && is_disabled(*remote.status) && e->state != *remote.status) {
    set_state(*e, *remote.status, now, "fleet: " + remote.reason);
  } else if (remote.status == key_state::active && is_disabled(e->state)) {
    e->counters.consecutive_429 = 0;
    set_state(*e, key_state::active, now, "fleet: " + remote.reason);
  }
  if (remote.cooling_until && *remote.cooling_until > now_wall && !is_disabled(e->state)) {
    const steady_time until = now + std::chrono::ceil<milliseconds>(*remote.cooling_until - now_wall);
    if (e->state == key_state::cooling) {
      // Deadlines cross Redis as epoch ms: a difference within a millisecond is rounding, not news.
      extended = until > e->cooling_until + milliseconds(1);
      if (extended) e->cooling_until = until;
    } else {
      e->cooling_until = until;
      set_state(*e, key_state::cooling, now,
                "fleet: " + remote.cooling_reason + ", cooling " + seconds_text(std::chrono::ceil<milliseconds>(until - now)));
    }
  }
  applying_remote_ = false;
  return extended || e->state != before;
}

std::vector<state_change> key_pool::drain_changes() {
  std::lock_guard lock(mutex_);
  return std::exchange(changes_, {});
}

}  // namespace orp::keys
