// The merge rule on the pool side (key_pool::apply_remote) and the events the pool sends out.
#include <gtest/gtest.h>

#include "keys/key_pool.hpp"

namespace {

using namespace std::chrono_literals;
using orp::keys::key_event;
using orp::keys::key_pool;
using orp::keys::key_record;
using orp::keys::key_state;
using orp::keys::outcome;
using orp::keys::outcome_kind;
using orp::keys::remote_key_state;

const orp::keys::steady_time t0{std::chrono::hours(1000)};
const orp::keys::wall_time w0{std::chrono::hours(500'000)};
const std::vector<std::string> none;

struct StateMerge : ::testing::Test {
  key_pool pool{orp::keys::strategy::round_robin, 1};
  std::vector<key_event> events;
  std::string fp_a, fp_b;

  void SetUp() override {
    std::vector<key_record> records;
    records.push_back(key_record{orp::keys::api_key("sk-or-v1-merge-test-a-000", "a"), "a", 1.0, 1});
    records.push_back(key_record{orp::keys::api_key("sk-or-v1-merge-test-b-000", "b"), "b", 1.0, 2});
    fp_a = records[0].key.fingerprint();
    fp_b = records[1].key.fingerprint();
    pool.replace(std::move(records));
    pool.set_observer([this](const key_event& e) { events.push_back(e); });
  }

  orp::keys::key_snapshot snap(const std::string& fp, orp::keys::steady_time now) {
    for (auto& s : pool.snapshot(now))
      if (s.fingerprint == fp) return s;
    throw std::runtime_error("no key");
  }

  // Picks until key `fp` is used and reports `o` for it (others succeed).
  void hit(const std::string& fp, const outcome& o, orp::keys::steady_time now) {
    for (int i = 0; i < 4; ++i) {
      auto lease = pool.pick(none, now);
      ASSERT_TRUE(lease);
      if (lease->fingerprint == fp) {
        pool.report(*lease, o, now);
        return;
      }
      pool.cancel(*lease);
    }
    FAIL() << "key never picked";
  }
};

remote_key_state cooling_until(orp::keys::wall_time until) {
  remote_key_state r;
  r.cooling_until = until;
  r.cooling_reason = "429 elsewhere";
  return r;
}

remote_key_state status(key_state s) {
  remote_key_state r;
  r.status = s;
  r.reason = "elsewhere";
  return r;
}

TEST_F(StateMerge, RemoteCoolDownBenchesAnActiveKey) {
  EXPECT_TRUE(pool.apply_remote(fp_a, cooling_until(w0 + 5s), t0, w0));
  auto s = snap(fp_a, t0);
  EXPECT_EQ(s.state, key_state::cooling);
  EXPECT_EQ(s.cooling_left, 5000ms);
  EXPECT_NE(s.reason.find("fleet: 429 elsewhere"), std::string::npos);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(pool.pick(none, t0 + 1s)->fingerprint, fp_b);
  // ... until the deadline.
  EXPECT_EQ(snap(fp_a, t0 + 5s).state, key_state::active);
}

TEST_F(StateMerge, CoolDownNeverShortensLaterDeadlineWins) {
  hit(fp_a, outcome{outcome_kind::key_cooldown, 429, 10s, "429"}, t0);
  ASSERT_EQ(snap(fp_a, t0).cooling_left, 10000ms);
  EXPECT_FALSE(pool.apply_remote(fp_a, cooling_until(w0 + 3s), t0, w0));  // shorter: ignored
  EXPECT_EQ(snap(fp_a, t0).cooling_left, 10000ms);
  EXPECT_TRUE(pool.apply_remote(fp_a, cooling_until(w0 + 20s), t0, w0));  // longer: wins
  EXPECT_EQ(snap(fp_a, t0).cooling_left, 20000ms);
}

TEST_F(StateMerge, OwnDeadlineReadBackIsNotNews) {
  hit(fp_a, outcome{outcome_kind::key_cooldown, 429, 10s, "429"}, t0);
  // The same deadline after a round trip through epoch milliseconds.
  EXPECT_FALSE(pool.apply_remote(fp_a, cooling_until(w0 + 10s + 500us), t0, w0));
  EXPECT_EQ(snap(fp_a, t0).cooling_left, 10000ms);
}

TEST_F(StateMerge, PastCoolDownChangesNothing) {
  EXPECT_FALSE(pool.apply_remote(fp_a, cooling_until(w0 - 1s), t0, w0));
  EXPECT_EQ(snap(fp_a, t0).state, key_state::active);
}

TEST_F(StateMerge, RemoteDisableIsSeen) {
  hit(fp_a, outcome{outcome_kind::key_cooldown, 429, 10s, "429"}, t0);
  EXPECT_TRUE(pool.apply_remote(fp_a, status(key_state::disabled_invalid), t0, w0));
  EXPECT_EQ(snap(fp_a, t0).state, key_state::disabled_invalid);
  // A cool-down does not wake a disabled key.
  EXPECT_FALSE(pool.apply_remote(fp_a, cooling_until(w0 + 60s), t0, w0));
  EXPECT_EQ(snap(fp_a, t0).state, key_state::disabled_invalid);
  // Disabled elsewhere means not probed here before one interval (like a local disable).
  EXPECT_TRUE(pool.due_for_probe(t0 + 1s, 5s).empty());
  EXPECT_EQ(pool.due_for_probe(t0 + 5s, 5s).size(), 1u);
}

TEST_F(StateMerge, RemoteRecoveryReactivatesADisabledKey) {
  hit(fp_a, outcome{outcome_kind::key_invalid, 401, std::nullopt, "401"}, t0);
  ASSERT_EQ(snap(fp_a, t0).state, key_state::disabled_invalid);
  EXPECT_TRUE(pool.apply_remote(fp_a, status(key_state::active), t0 + 1s, w0));
  EXPECT_EQ(snap(fp_a, t0 + 1s).state, key_state::active);
  EXPECT_NE(snap(fp_a, t0 + 1s).reason.find("fleet: elsewhere"), std::string::npos);
}

TEST_F(StateMerge, RecoveryNeverEndsACoolDown) {
  hit(fp_a, outcome{outcome_kind::key_cooldown, 429, 10s, "429"}, t0);
  EXPECT_FALSE(pool.apply_remote(fp_a, status(key_state::active), t0, w0));
  EXPECT_EQ(snap(fp_a, t0).state, key_state::cooling);
}

TEST_F(StateMerge, UnknownKeyIsIgnored) {
  EXPECT_FALSE(pool.apply_remote("0000000000000000", status(key_state::disabled_invalid), t0, w0));
}

TEST_F(StateMerge, RemoteChangesAreLoggedButNotEchoed) {
  pool.drain_changes();
  pool.apply_remote(fp_a, status(key_state::disabled_no_credit), t0, w0);
  pool.apply_remote(fp_b, cooling_until(w0 + 5s), t0, w0);
  EXPECT_TRUE(events.empty());
  EXPECT_EQ(pool.drain_changes().size(), 2u);
}

TEST_F(StateMerge, LocalEventsGoToTheObserver) {
  hit(fp_a, outcome{outcome_kind::key_cooldown, 429, 5s, "429"}, t0);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].fingerprint, fp_a);
  EXPECT_EQ(events[0].label, "a");
  EXPECT_EQ(events[0].state, key_state::cooling);
  EXPECT_EQ(events[0].cooling_until, t0 + 5s);

  // The cool-down ending by itself (or a success) is not fleet news: it must not shorten others'.
  EXPECT_EQ(snap(fp_a, t0 + 6s).state, key_state::active);
  pool.availability_now(t0 + 6s);
  EXPECT_EQ(events.size(), 1u);

  hit(fp_b, outcome{outcome_kind::key_invalid, 401, std::nullopt, "401"}, t0 + 7s);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].state, key_state::disabled_invalid);

  pool.report_probe(fp_b, 200, std::nullopt, t0 + 20s);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].state, key_state::active);
  EXPECT_EQ(events[2].fingerprint, fp_b);
}

TEST_F(StateMerge, ExtendingACoolDownIsAnEventShorteningIsNot) {
  // Concurrent attempts on one key, all answered 429.
  std::vector<orp::keys::key_lease> on_a;
  for (int i = 0; i < 6; ++i) {
    auto lease = pool.pick(none, t0);
    ASSERT_TRUE(lease);
    if (lease->fingerprint == fp_a) on_a.push_back(*lease);
  }
  ASSERT_GE(on_a.size(), 3u);
  pool.report(on_a[0], outcome{outcome_kind::key_cooldown, 429, 5s, "429"}, t0);
  pool.report(on_a[1], outcome{outcome_kind::key_cooldown, 429, 2s, "429"}, t0);  // shorter: no news
  EXPECT_EQ(events.size(), 1u);
  pool.report(on_a[2], outcome{outcome_kind::key_cooldown, 429, 9s, "429"}, t0);  // longer: news
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].cooling_until, t0 + 9s);
}

}  // namespace
