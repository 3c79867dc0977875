#include <gtest/gtest.h>

#include "state/update_queue.hpp"

namespace {

using namespace std::chrono_literals;
using orp::keys::key_state;
using orp::state::pending_update;
using orp::state::update_queue;

const orp::keys::wall_time w0{std::chrono::hours(500'000)};

pending_update cool(std::string fp, std::chrono::milliseconds until, std::string reason = "429") {
  pending_update u;
  u.fingerprint = std::move(fp);
  u.label = "l";
  u.cooling_until = w0 + until;
  u.cooling_reason = std::move(reason);
  u.at = w0;
  return u;
}

pending_update status(std::string fp, key_state s, std::string reason = "r") {
  pending_update u;
  u.fingerprint = std::move(fp);
  u.label = "l";
  u.status = s;
  u.status_reason = std::move(reason);
  u.at = w0;
  return u;
}

TEST(StateUpdateQueue, OneEntryPerKeyWithTheLaterDeadline) {
  update_queue q(10);
  q.push(cool("a", 5s, "first"));
  q.push(cool("a", 3s, "shorter"));
  q.push(cool("b", 1s));
  ASSERT_EQ(q.size(), 2u);
  auto all = q.take_all();
  EXPECT_TRUE(q.empty());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].fingerprint, "a");
  EXPECT_EQ(all[0].cooling_until, w0 + 5s);
  EXPECT_EQ(all[0].cooling_reason, "first");
}

TEST(StateUpdateQueue, NewerStatusWinsAndCoolDownIsKept) {
  update_queue q(10);
  q.push(cool("a", 5s));
  q.push(status("a", key_state::disabled_invalid, "401"));
  q.push(status("a", key_state::active, "probe: 200"));
  auto all = q.take_all();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].status, key_state::active);
  EXPECT_EQ(all[0].status_reason, "probe: 200");
  EXPECT_EQ(all[0].cooling_until, w0 + 5s);
}

TEST(StateUpdateQueue, BoundedByKeysNotByChanges) {
  update_queue q(2);
  EXPECT_TRUE(q.push(cool("a", 1s)));
  EXPECT_TRUE(q.push(cool("b", 1s)));
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(q.push(cool("a", std::chrono::milliseconds(i))));
  EXPECT_FALSE(q.push(cool("c", 1s)));
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.dropped(), 1u);
}

TEST(StateUpdateQueue, PutBackStaysUnderNewerChanges) {
  update_queue q(10);
  q.push(status("a", key_state::disabled_invalid));
  q.push(cool("b", 9s));
  auto unsent = q.take_all();
  q.push(status("a", key_state::active));  // happened while the first send was failing
  q.push(cool("b", 2s));
  q.put_back(std::move(unsent));
  auto all = q.take_all();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].status, key_state::active);
  EXPECT_EQ(all[1].cooling_until, w0 + 9s);
}

TEST(StateUpdateQueue, PoolEventsBecomeWallClockUpdates) {
  const orp::keys::steady_time now{std::chrono::hours(7)};
  orp::keys::key_event cooling{"fp", "pool-a", key_state::cooling, now + 5s, "429, cooling 5.0s"};
  auto u = orp::state::to_update(cooling, now, w0);
  EXPECT_EQ(u.fingerprint, "fp");
  EXPECT_EQ(u.label, "pool-a");
  EXPECT_FALSE(u.status);
  EXPECT_EQ(u.cooling_until, w0 + 5s);
  EXPECT_EQ(u.at, w0);

  orp::keys::key_event disabled{"fp", "pool-a", key_state::disabled_no_credit, {}, "402"};
  u = orp::state::to_update(disabled, now, w0);
  EXPECT_EQ(u.status, key_state::disabled_no_credit);
  EXPECT_EQ(u.status_reason, "402");
  EXPECT_FALSE(u.cooling_until);
}

}  // namespace
