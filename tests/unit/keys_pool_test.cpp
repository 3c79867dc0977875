#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <thread>

#include "keys/key_pool.hpp"

namespace {

using namespace std::chrono_literals;
using orp::keys::key_lease;
using orp::keys::key_pool;
using orp::keys::key_record;
using orp::keys::key_snapshot;
using orp::keys::key_state;
using orp::keys::outcome;
using orp::keys::outcome_kind;
using orp::keys::strategy;

const orp::keys::steady_time t0{std::chrono::hours(1000)};
const std::vector<std::string> none;

std::string secret(int i) { return "sk-or-v1-test-key-" + std::to_string(1000 + i); }

// No text a snapshot publishes (the admin API, the state file, the log) holds any test secret.
void expect_no_secret_in(const key_snapshot& s) {
  for (int i = 0; i < 10; ++i) {
    for (const std::string* field : {&s.display, &s.fingerprint, &s.reason, &s.last_error})
      EXPECT_EQ(field->find(secret(i)), std::string::npos) << "secret " << i << " in a snapshot of " << s.display;
  }
}

std::vector<key_record> records(const std::vector<std::pair<std::string, double>>& labels_and_weights) {
  std::vector<key_record> out;
  int i = 0;
  for (const auto& [label, weight] : labels_and_weights) {
    out.push_back(key_record{orp::keys::api_key(secret(i), label), label, weight, ++i});
  }
  return out;
}

std::vector<key_record> records(int n) {
  std::vector<std::pair<std::string, double>> spec;
  for (int i = 0; i < n; ++i) spec.emplace_back(std::string(1, static_cast<char>('a' + i)), 1.0);
  return records(spec);
}

outcome result(outcome_kind kind, unsigned status, std::optional<std::chrono::milliseconds> retry_after = {}) {
  return outcome{kind, status, retry_after, std::to_string(status) + " test"};
}
const outcome ok = result(outcome_kind::success, 200);
const outcome limited = result(outcome_kind::key_cooldown, 429);

// Picks and immediately reports `o`; returns the label used.
std::string use(key_pool& pool, orp::keys::steady_time now, const outcome& o = ok) {
  auto lease = pool.pick(none, now);
  if (!lease) return "-";
  pool.report(*lease, o, now);
  return lease->display;
}

key_state state_of(const key_pool& pool, std::string_view label, orp::keys::steady_time now) {
  for (const auto& s : pool.snapshot(now)) {
    if (s.display == label) return s.state;
  }
  throw std::runtime_error("no such key");
}

TEST(KeysPool, SmoothWeightedRoundRobin) {
  key_pool pool(strategy::round_robin, 1);
  pool.replace(records({{"a", 5}, {"b", 1}, {"c", 1}}));
  std::string sequence;
  for (int i = 0; i < 14; ++i) sequence += use(pool, t0);
  EXPECT_EQ(sequence, "aabacaaaabacaa");
}

TEST(KeysPool, RoundRobinCyclesEqualWeights) {
  key_pool pool(strategy::round_robin, 1);
  pool.replace(records(3));
  std::string sequence;
  for (int i = 0; i < 6; ++i) sequence += use(pool, t0);
  EXPECT_EQ(sequence, "abcabc");
}

TEST(KeysPool, LeastUsedPrefersFewestInFlightThenFewestRequests) {
  key_pool pool(strategy::least_used, 1);
  pool.replace(records(3));
  auto a = pool.pick(none, t0), b = pool.pick(none, t0), c = pool.pick(none, t0);
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(a->display + b->display + c->display, "abc");
  pool.report(*b, ok, t0);  // b is now idle: it goes next although it has as many requests
  EXPECT_EQ(use(pool, t0), "b");
  pool.report(*a, ok, t0);
  pool.report(*c, ok, t0);
  for (int i = 0; i < 300; ++i) use(pool, t0);
  const auto snap = pool.snapshot(t0);
  const auto [low, high] = std::minmax({snap[0].counters.requests, snap[1].counters.requests, snap[2].counters.requests});
  EXPECT_LE(high - low, 1u);
}

TEST(KeysPool, LeastUsedHonoursWeights) {
  key_pool pool(strategy::least_used, 1);
  pool.replace(records({{"a", 2}, {"b", 1}}));
  std::map<std::string, int> counts;
  for (int i = 0; i < 300; ++i) ++counts[use(pool, t0)];
  EXPECT_EQ(counts["a"], 200);
  EXPECT_EQ(counts["b"], 100);
}

TEST(KeysPool, WeightedRandomIsProportionalAndSeeded) {
  auto run = [](std::uint64_t seed) {
    key_pool pool(strategy::random, seed);
    pool.replace(records({{"a", 3}, {"b", 1}}));
    std::string sequence;
    for (int i = 0; i < 20'000; ++i) sequence += use(pool, t0);
    return sequence;
  };
  const std::string first = run(99);
  EXPECT_EQ(first, run(99));
  EXPECT_NE(first, run(100));
  const double share_a = static_cast<double>(std::count(first.begin(), first.end(), 'a')) / first.size();
  EXPECT_NEAR(share_a, 0.75, 0.02);
}

TEST(KeysPool, HugeWeightsStillShareTheRequests) {
  // 1e308 + 1e308 is inf: unbounded weights gave round_robin 23/1 and random 24/0 splits.
  for (auto s : {strategy::round_robin, strategy::random, strategy::least_used}) {
    key_pool pool(s, 7);
    pool.replace(records({{"a", 1e308}, {"b", 1e308}}));
    std::map<std::string, int> counts;
    for (int i = 0; i < 400; ++i) ++counts[use(pool, t0)];
    EXPECT_GT(counts["a"], 150) << static_cast<int>(s);
    EXPECT_GT(counts["b"], 150) << static_cast<int>(s);
  }
}

TEST(KeysPool, SkipsCoolingDisabledAndExcludedKeys) {
  for (auto s : {strategy::round_robin, strategy::least_used, strategy::random}) {
    key_pool pool(s, 7);
    pool.replace(records(4));
    auto lease = [&](std::string_view label) {
      for (int i = 0; i < 200; ++i) {
        auto l = pool.pick(none, t0);
        if (l && l->display == label) return *l;
        if (l) pool.cancel(*l);
      }
      throw std::runtime_error("key never picked");
    };
    pool.report(lease("a"), result(outcome_kind::key_cooldown, 429, 60s), t0);
    pool.report(lease("b"), result(outcome_kind::key_invalid, 401), t0);
    pool.report(lease("c"), result(outcome_kind::key_no_credit, 402), t0);
    for (int i = 0; i < 20; ++i) EXPECT_EQ(use(pool, t0), "d") << to_string(s);
    const std::vector<std::string> exclude{pool.snapshot(t0)[3].fingerprint};
    EXPECT_FALSE(pool.pick(exclude, t0)) << to_string(s);
  }
}

TEST(KeysPool, CoolingEndsWhenTheClockPassesIt) {
  key_pool pool(strategy::round_robin, 1);
  pool.replace(records(1));
  auto lease = pool.pick(none, t0);
  pool.report(*lease, result(outcome_kind::key_cooldown, 429, 30s), t0);
  EXPECT_EQ(state_of(pool, "a", t0), key_state::cooling);
  EXPECT_EQ(pool.snapshot(t0 + 10s)[0].cooling_left, 20s);
  EXPECT_FALSE(pool.pick(none, t0 + 29s));
  auto avail = pool.availability_now(t0 + 29s);
  EXPECT_FALSE(avail.any_active);
  EXPECT_FALSE(avail.all_disabled);
  EXPECT_EQ(avail.earliest_cooldown_end, t0 + 30s);
  EXPECT_EQ(use(pool, t0 + 30s), "a");
  const auto changes = pool.drain_changes();
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].to, key_state::cooling);
  EXPECT_EQ(changes[0].reason, "429 test, cooling 30.0s");
  EXPECT_EQ(changes[1].from, key_state::cooling);
  EXPECT_EQ(changes[1].reason, "cool-down over");
  EXPECT_TRUE(pool.drain_changes().empty());
}

TEST(KeysPool, UnhintedRateLimitsCoolExponentiallyUntilASuccess) {
  key_pool pool(strategy::round_robin, 1);
  pool.replace(records(1));
  auto now = t0;
  for (auto expected : {5s, 10s, 20s}) {
    pool.report(*pool.pick(none, now), limited, now);
    EXPECT_EQ(pool.snapshot(now)[0].cooling_left, expected);
    now += expected;
  }
  pool.report(*pool.pick(none, now), ok, now);
  EXPECT_EQ(pool.snapshot(now)[0].counters.consecutive_429, 0u);
  pool.report(*pool.pick(none, now), limited, now);
  EXPECT_EQ(pool.snapshot(now)[0].cooling_left, 5s);
}

TEST(KeysPool, HintedCooldownHasAFloor) {
  key_pool pool(strategy::round_robin, 1);
  pool.replace(records(1));
  pool.report(*pool.pick(none, t0), result(outcome_kind::key_cooldown, 429, 0ms), t0);
  EXPECT_EQ(pool.snapshot(t0)[0].cooling_left, 1s);
}

TEST(KeysPool, OutcomesUpdateStateAndCounters) {
  key_pool pool(strategy::round_robin, 1);
  pool.replace(records(1));
  use(pool, t0, result(outcome_kind::transient, 502));
  use(pool, t0, result(outcome_kind::pass_through, 403));
  use(pool, t0, ok);
  auto s = pool.snapshot(t0)[0];
  EXPECT_EQ(s.state, key_state::active);
  EXPECT_EQ(s.counters.requests, 3u);
  EXPECT_EQ(s.counters.successes, 1u);
  EXPECT_EQ(s.counters.failures, 1u);
  EXPECT_EQ(s.counters.client_errors, 1u);
  EXPECT_EQ(s.last_error, "502 test");
  use(pool, t0, result(outcome_kind::key_no_credit, 402));
  EXPECT_EQ(state_of(pool, "a", t0), key_state::disabled_no_credit);
  auto avail = pool.availability_now(t0);
  EXPECT_TRUE(avail.all_disabled);
  EXPECT_FALSE(avail.earliest_cooldown_end);
}

TEST(KeysPool, LateSuccessDoesNotUndoANewerCooldown) {
  key_pool pool(strategy::round_robin, 1);
  pool.replace(records(1));
  auto early = pool.pick(none, t0);
  auto later = pool.pick(none, t0 + 1s);
  pool.report(*later, limited, t0 + 2s);
  pool.report(*early, ok, t0 + 3s);  // began before the 429: proves nothing about the limit
  EXPECT_EQ(state_of(pool, "a", t0 + 3s), key_state::cooling);
}

TEST(KeysPool, LeasesCountOnce) {
  key_pool pool(strategy::round_robin, 1);
  pool.replace(records(1));
  auto lease = pool.pick(none, t0);
  pool.report(*lease, ok, t0);
  pool.report(*lease, result(outcome_kind::key_invalid, 401), t0);
  pool.cancel(*lease);
  auto s = pool.snapshot(t0)[0];
  EXPECT_EQ(s.state, key_state::active);
  EXPECT_EQ(s.counters.successes, 1u);
  EXPECT_EQ(s.counters.failures + s.counters.cancelled, 0u);
  EXPECT_EQ(s.in_flight, 0);
}

TEST(KeysPool, NoKeysMeansAllDisabled) {
  key_pool pool(strategy::round_robin, 1);
  EXPECT_EQ(pool.size(), 0u);
  EXPECT_FALSE(pool.pick(none, t0));
  const auto avail = pool.availability_now(t0);
  EXPECT_TRUE(avail.all_disabled);
  EXPECT_FALSE(avail.any_active);
}

TEST(KeysPool, GlobalThrottleInsteadOfBenchingThePool) {
  key_pool pool(strategy::round_robin, 1);
  pool.replace(records(4));
  const outcome hour = result(outcome_kind::key_cooldown, 429, 1h);
  pool.report(*pool.pick(none, t0), hour, t0);
  pool.report(*pool.pick(none, t0 + 2s), hour, t0 + 2s);
  EXPECT_FALSE(pool.global_backoff_until(t0 + 2s));
  pool.report(*pool.pick(none, t0 + 4s), hour, t0 + 4s);
  EXPECT_EQ(pool.global_backoff_until(t0 + 4s), t0 + 9s);
  EXPECT_FALSE(pool.pick(none, t0 + 5s));  // "d" is active but the account is throttled
  auto avail = pool.availability_now(t0 + 5s);
  EXPECT_FALSE(avail.any_active);
  EXPECT_EQ(avail.earliest_cooldown_end, t0 + 9s);
  EXPECT_EQ(avail.global_backoff_until, t0 + 9s);
  // All four keys serve again once the global back-off ends, despite their one-hour hints.
  std::string sequence;
  for (int i = 0; i < 4; ++i) sequence += use(pool, t0 + 9s);
  EXPECT_EQ(sequence.size(), 4u);
  EXPECT_EQ(pool.availability_now(t0 + 9s).active, 4u);
  bool logged = false;
  for (const auto& c : pool.drain_changes()) logged |= c.global && c.reason.starts_with("global back-off 5.0s");
  EXPECT_TRUE(logged);
}

TEST(KeysPool, GlobalThrottleIsNeverShorterThanTheUpstreamsRetryAfter) {
  // Every key says "Retry-After: 600": the account or IP is limited for ten minutes, and the pool
  // pauses that long (SPEC: never shorter than Retry-After), not 5 s, and no key is tried before.
  key_pool pool(strategy::round_robin, 1);
  pool.replace(records(3));
  outcome told = result(outcome_kind::key_cooldown, 429, 600s);
  told.retry_after_explicit = true;
  pool.report(*pool.pick(none, t0), told, t0);
  pool.report(*pool.pick(none, t0 + 1s), limited, t0 + 1s);
  pool.report(*pool.pick(none, t0 + 2s), limited, t0 + 2s);  // the third distinct key: global
  EXPECT_EQ(pool.global_backoff_until(t0 + 2s), t0 + 600s);  // the first one's instruction
  EXPECT_FALSE(pool.pick(none, t0 + 300s));
  EXPECT_EQ(pool.availability_now(t0 + 300s).earliest_cooldown_end, t0 + 600s);
  for (const auto& s : pool.snapshot(t0 + 300s)) EXPECT_EQ(s.state, key_state::cooling) << s.display;
  bool logged = false;
  for (const auto& c : pool.drain_changes()) logged |= c.global && c.reason.starts_with("global back-off 598.0s");
  EXPECT_TRUE(logged);
  EXPECT_TRUE(pool.pick(none, t0 + 600s));

  // A longer Retry-After arriving during a global pause extends it.
  key_pool later(strategy::round_robin, 1);
  later.replace(records(4));
  std::vector<key_lease> leases;
  for (int i = 0; i < 4; ++i) leases.push_back(*later.pick(none, t0));  // four requests in flight
  for (int i = 0; i < 3; ++i) later.report(leases[i], limited, t0);
  EXPECT_EQ(later.global_backoff_until(t0), t0 + 5s);
  outcome longer = result(outcome_kind::key_cooldown, 429, 120s);
  longer.retry_after_explicit = true;
  later.report(leases[3], longer, t0 + 1s);
  EXPECT_EQ(later.global_backoff_until(t0 + 1s), t0 + 121s);
  EXPECT_FALSE(later.pick(none, t0 + 60s));

  // A broken upstream's "Retry-After: 1000000000" pauses the pool for an hour, not for years, and
  // the keys it came with are back then too.
  key_pool absurd(strategy::round_robin, 1);
  absurd.replace(records(4));
  outcome forever = result(outcome_kind::key_cooldown, 429, std::chrono::hours(24 * 365));
  forever.retry_after_explicit = true;
  for (int i = 0; i < 3; ++i) absurd.report(*absurd.pick(none, t0), forever, t0);
  EXPECT_EQ(absurd.global_backoff_until(t0), t0 + 1h);
  EXPECT_EQ(absurd.availability_now(t0 + 1h).active, 4u);
}

TEST(KeysPool, GlobalThrottleNeedsDistinctKeysWithoutSuccessInBetween) {
  key_pool pool(strategy::round_robin, 1);
  pool.replace(records(4));
  pool.report(*pool.pick(none, t0), limited, t0);
  pool.report(*pool.pick(none, t0), limited, t0);
  use(pool, t0, ok);
  pool.report(*pool.pick(none, t0 + 1s), limited, t0 + 1s);
  EXPECT_FALSE(pool.global_backoff_until(t0 + 1s));
  // Three 429s, but spread beyond the window.
  key_pool slow(strategy::round_robin, 1);
  slow.replace(records(4));
  slow.report(*slow.pick(none, t0), limited, t0);
  slow.report(*slow.pick(none, t0 + 6s), limited, t0 + 6s);
  slow.report(*slow.pick(none, t0 + 12s), limited, t0 + 12s);
  EXPECT_FALSE(slow.global_backoff_until(t0 + 12s));
}

TEST(KeysPool, RepeatedGlobalEpisodesBackOffLonger) {
  key_pool pool(strategy::round_robin, 1);
  pool.replace(records(3));
  auto now = t0;
  for (auto expected : {5s, 10s}) {
    for (int i = 0; i < 3; ++i) pool.report(*pool.pick(none, now), limited, now);
    ASSERT_TRUE(pool.global_backoff_until(now));
    EXPECT_EQ(*pool.global_backoff_until(now) - now, expected);
    now += expected;
  }
}

TEST(KeysPool, ProbesRecoverDisabledKeys) {
  key_pool pool(strategy::round_robin, 1);
  pool.replace(records(3));
  use(pool, t0, result(outcome_kind::key_invalid, 401));
  use(pool, t0, result(outcome_kind::key_no_credit, 402));
  EXPECT_TRUE(pool.due_for_probe(t0 + 299s, 300s).empty());
  auto due = pool.due_for_probe(t0 + 300s, 300s);
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].display, "a");
  EXPECT_EQ(due[0].key->reveal(), secret(0));
  EXPECT_TRUE(pool.due_for_probe(t0 + 300s, 300s).empty());  // already handed out

  pool.report_probe(due[0].fingerprint, 200, 0.0, t0 + 301s);
  EXPECT_EQ(state_of(pool, "a", t0 + 301s), key_state::disabled_no_credit);
  pool.report_probe(due[1].fingerprint, 503, std::nullopt, t0 + 301s);
  EXPECT_EQ(state_of(pool, "b", t0 + 301s), key_state::disabled_no_credit);
  pool.report_probe(due[1].fingerprint, 200, 4.25, t0 + 302s);
  EXPECT_EQ(state_of(pool, "b", t0 + 302s), key_state::active);
  EXPECT_EQ(pool.snapshot(t0 + 302s)[1].credit_left, 4.25);

  due = pool.due_for_probe(t0 + 601s, 300s);
  ASSERT_EQ(due.size(), 1u);
  pool.report_probe(due[0].fingerprint, 401, std::nullopt, t0 + 601s);
  EXPECT_EQ(state_of(pool, "a", t0 + 601s), key_state::disabled_invalid);
  pool.report_probe(due[0].fingerprint, 200, std::nullopt, t0 + 602s);  // unlimited key
  EXPECT_EQ(state_of(pool, "a", t0 + 602s), key_state::active);
  pool.report_probe(due[0].fingerprint, 401, std::nullopt, t0 + 603s);  // active keys are not probed
  EXPECT_EQ(state_of(pool, "a", t0 + 603s), key_state::active);
}

TEST(KeysPool, AFailedProbeKeepsTheKeyDisabledAndSaysWhy) {
  key_pool pool(strategy::round_robin, 1);
  pool.replace(records(1));
  use(pool, t0, result(outcome_kind::key_no_credit, 402));
  auto due = pool.due_for_probe(t0 + 300s, 300s);
  ASSERT_EQ(due.size(), 1u);
  pool.report_probe(due[0].fingerprint, 0, std::nullopt, t0 + 301s, "200 without a readable key description");
  EXPECT_EQ(state_of(pool, "a", t0 + 301s), key_state::disabled_no_credit);
  EXPECT_EQ(pool.snapshot(t0 + 301s)[0].last_error, "probe failed: 200 without a readable key description");
  pool.report_probe(due[0].fingerprint, 0, std::nullopt, t0 + 302s);
  EXPECT_EQ(pool.snapshot(t0 + 302s)[0].last_error, "probe failed (network)");
}

TEST(KeysPool, ReplaceKeepsKnownKeysStateAndCounters) {
  key_pool pool(strategy::round_robin, 1);
  pool.replace(records(3));
  use(pool, t0, result(outcome_kind::key_invalid, 401));  // a
  use(pool, t0, ok);                                     // b
  auto open_c = pool.pick(none, t0);                     // c, still in flight during the reload
  ASSERT_EQ(open_c->display, "c");

  auto next = records({{"a-renamed", 1}, {"b", 1}});
  next.push_back(key_record{orp::keys::api_key(secret(7), "new"), "new", 1, 3});
  const auto summary = pool.replace(std::move(next));
  EXPECT_EQ(summary.kept, 2u);
  EXPECT_EQ(summary.added, std::vector<std::string>{"new"});
  EXPECT_EQ(summary.removed, std::vector<std::string>{"c"});
  EXPECT_EQ(pool.size(), 3u);

  const auto snap = pool.snapshot(t0);
  EXPECT_EQ(snap[0].display, "a-renamed");
  EXPECT_EQ(snap[0].state, key_state::disabled_invalid);
  EXPECT_EQ(snap[1].counters.successes, 1u);
  EXPECT_EQ(snap[2].state, key_state::active);
  pool.report(*open_c, ok, t0);  // its key is gone: ignored
  for (int i = 0; i < 4; ++i) EXPECT_NE(use(pool, t0), "a-renamed");
}

TEST(KeysPool, MaskerCoversTheCurrentPoolKeysOfAnyShape) {
  key_pool pool(strategy::round_robin, 1);
  EXPECT_EQ(pool.masker()->mask("plain-pool-key-000111222"), "plain-pool-key-000111222");
  std::vector<key_record> recs;
  recs.push_back(key_record{orp::keys::api_key("plain-pool-key-000111222", "p"), "p", 1, 1});
  pool.replace(std::move(recs));
  EXPECT_EQ(pool.masker()->mask("key plain-pool-key-000111222 not found"), "key \u2026" "1222 not found");
  pool.replace(records(1));  // a key removed from the pool is no longer the masker's business
  EXPECT_EQ(pool.masker()->mask(secret(0) + " plain"), "sk-or-v1-\u2026" "1000 plain");
}

// An editor that truncates keys.csv and writes it back later makes every key leave and return.
TEST(KeysPool, ARemovedKeyComesBackWithItsState) {
  key_pool pool(strategy::round_robin, 1);
  pool.replace(records(3));
  use(pool, t0, result(outcome_kind::key_invalid, 401));                 // a
  use(pool, t0, result(outcome_kind::key_cooldown, 429, 60s));           // b
  use(pool, t0, ok);                                                     // c
  const auto emptied = pool.replace({});
  EXPECT_EQ(emptied.removed, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(pool.removed_snapshot(t0).size(), 3u);

  const auto back = pool.replace(records(3));
  EXPECT_TRUE(back.added.empty());
  ASSERT_EQ(back.restored.size(), 3u);
  EXPECT_EQ(back.restored[0].display, "a");
  EXPECT_EQ(back.restored[0].state, key_state::disabled_invalid);
  EXPECT_EQ(back.restored[0].reason, "401 test");
  EXPECT_TRUE(pool.removed_snapshot(t0).empty());

  const auto snap = pool.snapshot(t0 + 1s);
  EXPECT_EQ(snap[0].state, key_state::disabled_invalid);
  EXPECT_EQ(snap[1].state, key_state::cooling);
  EXPECT_EQ(snap[1].cooling_left, 59s);
  EXPECT_EQ(snap[2].state, key_state::active);
  EXPECT_EQ(snap[2].counters.successes, 1u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(use(pool, t0 + 1s), "c");
  EXPECT_EQ(state_of(pool, "b", t0 + 61s), key_state::active);  // its cool-down still ends on time
}

TEST(KeysPool, ALeaseFromBeforeTheRemovalStaysIgnored) {
  key_pool pool(strategy::round_robin, 1);
  pool.replace(records(1));
  auto lease = pool.pick(none, t0);
  ASSERT_TRUE(lease);
  pool.replace({});
  pool.replace(records(1));
  pool.report(*lease, result(outcome_kind::key_invalid, 401), t0);
  const auto snap = pool.snapshot(t0);
  EXPECT_EQ(snap[0].state, key_state::active);
  EXPECT_EQ(snap[0].in_flight, 0);
  EXPECT_EQ(snap[0].counters.requests, 1u);
}

TEST(KeysPool, RemovedKeysAreRememberedUpToABoundOldestForgottenFirst) {
  orp::keys::pool_options options;
  options.remembered_removed_keys = 2;
  key_pool pool(strategy::round_robin, 1, options);
  pool.replace(records(3));
  for (int i = 0; i < 3; ++i) use(pool, t0, result(outcome_kind::key_invalid, 401));
  pool.replace({});
  const auto removed = pool.removed_snapshot(t0);
  ASSERT_EQ(removed.size(), 2u);
  EXPECT_EQ(removed[0].display, "b");
  for (const auto& r : removed) expect_no_secret_in(r);

  const auto back = pool.replace(records(3));
  EXPECT_EQ(back.added, std::vector<std::string>{"a"});
  EXPECT_EQ(back.restored.size(), 2u);
  EXPECT_EQ(state_of(pool, "a", t0), key_state::active);
  EXPECT_EQ(state_of(pool, "c", t0), key_state::disabled_invalid);
}

TEST(KeysPool, SnapshotNeverHoldsTheSecret) {
  key_pool pool(strategy::round_robin, 1);
  auto recs = records(1);
  recs.push_back(key_record{orp::keys::api_key(secret(5)), "", 1, 2});
  pool.replace(std::move(recs));
  for (const auto& s : pool.snapshot(t0)) expect_no_secret_in(s);
  EXPECT_EQ(pool.snapshot(t0)[1].display, "sk-or-v1-\u2026" "1005");
}

TEST(KeysPool, ConcurrentPickAndReportKeepCountersConsistent) {
  for (auto s : {strategy::round_robin, strategy::least_used, strategy::random}) {
    // Short cool-downs (a 402 budget, not counted by the global throttle) keep most picks succeeding.
    key_pool pool(s, 11, orp::keys::pool_options{.min_cooldown = 1ms});
    pool.replace(records(5));
    std::atomic<long> clock_ms{0};
    std::atomic<long> picked{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937_64 rng(t);
        for (int i = 0; i < 10'000; ++i) {
          const auto now = t0 + std::chrono::milliseconds(clock_ms.fetch_add(1));
          auto lease = pool.pick(none, now);
          if (!lease) continue;
          ++picked;
          switch (rng() % 10) {
            case 0: pool.report(*lease, result(outcome_kind::key_cooldown, 402, 5ms), now); break;
            case 1: pool.report(*lease, result(outcome_kind::transient, 502), now); break;
            case 2: pool.report(*lease, result(outcome_kind::pass_through, 400), now); break;
            case 3: pool.cancel(*lease); break;
            default: pool.report(*lease, ok, now);
          }
          if (i % 1000 == 0) {
            pool.drain_changes();
            pool.availability_now(now);
          }
        }
      });
    }
    for (auto& thread : threads) thread.join();
    std::uint64_t requests = 0, settled = 0;
    for (const auto& k : pool.snapshot(t0 + std::chrono::milliseconds(clock_ms.load()))) {
      EXPECT_EQ(k.in_flight, 0);
      EXPECT_EQ(k.counters.requests,
                k.counters.successes + k.counters.failures + k.counters.client_errors + k.counters.cancelled);
      requests += k.counters.requests;
      settled += k.counters.successes + k.counters.failures + k.counters.client_errors + k.counters.cancelled;
    }
    EXPECT_EQ(requests, static_cast<std::uint64_t>(picked.load())) << to_string(s);
    EXPECT_EQ(settled, requests);
    EXPECT_GT(picked.load(), 40'000) << to_string(s);
  }
}

TEST(KeysPool, StrategyNames) {
  EXPECT_EQ(orp::keys::parse_strategy("least_used"), strategy::least_used);
  EXPECT_FALSE(orp::keys::parse_strategy("fastest"));
  EXPECT_EQ(orp::keys::parse_key_state("disabled_no_credit"), key_state::disabled_no_credit);
}

}  // namespace
