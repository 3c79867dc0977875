#include <gtest/gtest.h>

#include "state/fleet_view.hpp"

namespace {

using namespace std::chrono_literals;
using orp::keys::key_state;
using orp::state::fleet_record;
using orp::state::fleet_view;

const orp::keys::wall_time now{std::chrono::hours(500'000)};

fleet_record status(key_state s, std::uint64_t version, std::string by = "other") {
  fleet_record r;
  r.fingerprint = "fp";
  r.status = s;
  r.status_reason = "why";
  r.version = version;
  r.changed_by = std::move(by);
  return r;
}

TEST(StateFleetView, NewerStatusIsNewsOnce) {
  fleet_view view("me");
  auto news = view.take(status(key_state::disabled_invalid, 5), now);
  ASSERT_TRUE(news);
  EXPECT_EQ(news->status, key_state::disabled_invalid);
  EXPECT_EQ(news->reason, "why");
  EXPECT_FALSE(news->cooling_until);
  // The same record again (a reconcile after the message) changes nothing.
  EXPECT_FALSE(view.take(status(key_state::disabled_invalid, 5), now));
}

TEST(StateFleetView, StaleReadNeverUndoesANewerChange) {
  fleet_view view("me");
  ASSERT_TRUE(view.take(status(key_state::active, 9), now));  // recovery, via a message
  // A reconcile that read the hash just before the recovery.
  EXPECT_FALSE(view.take(status(key_state::disabled_invalid, 8), now));
  EXPECT_EQ(view.seen("fp"), 9u);
}

TEST(StateFleetView, OwnStatusIsNeverReappliedButCounts) {
  fleet_view view("me");
  EXPECT_FALSE(view.take(status(key_state::disabled_invalid, 3, "me"), now));
  EXPECT_EQ(view.seen("fp"), 3u);
  EXPECT_TRUE(view.take(status(key_state::active, 4, "other"), now));
}

TEST(StateFleetView, AcknowledgedWritesAreNoNews) {
  fleet_view view("me");
  view.acknowledge("fp", 10);
  EXPECT_FALSE(view.take(status(key_state::disabled_no_credit, 10), now));
  EXPECT_FALSE(view.take(status(key_state::disabled_no_credit, 7), now));
  EXPECT_TRUE(view.take(status(key_state::disabled_no_credit, 11), now));
  view.acknowledge("fp", 2);  // never goes back
  EXPECT_EQ(view.seen("fp"), 11u);
}

TEST(StateFleetView, FutureCoolDownIsAlwaysPassedOn) {
  fleet_view view("me");
  fleet_record r;
  r.fingerprint = "fp";
  r.cooling_until = now + 5s;
  r.cooling_reason = "429";
  for (int i = 0; i < 2; ++i) {  // no version needed: merging takes the later deadline
    auto news = view.take(r, now);
    ASSERT_TRUE(news);
    EXPECT_EQ(news->cooling_until, now + 5s);
    EXPECT_EQ(news->cooling_reason, "429");
    EXPECT_FALSE(news->status);
  }
}

// A record from a broken peer or a hand edit ("until 2262") benches the key for two days at most.
TEST(StateFleetView, AFarCoolDownIsCappedAtTwoDays) {
  fleet_view view("me");
  fleet_record r;
  r.fingerprint = "fp";
  r.cooling_until = orp::keys::wall_time::max();
  auto news = view.take(r, now);
  ASSERT_TRUE(news);
  EXPECT_EQ(news->cooling_until, now + 48h);
  r.cooling_until = now + 47h;  // a daily limit's reset is passed on as it is
  EXPECT_EQ(view.take(r, now)->cooling_until, now + 47h);
}

TEST(StateFleetView, PastCoolDownIsNoNews) {
  fleet_view view("me");
  fleet_record r;
  r.fingerprint = "fp";
  r.cooling_until = now - 1ms;
  EXPECT_FALSE(view.take(r, now));
  r.cooling_until = now;
  EXPECT_FALSE(view.take(r, now));
}

TEST(StateFleetView, RecordWithoutStatusOnlyAdvancesTheVersion) {
  fleet_view view("me");
  fleet_record r;
  r.fingerprint = "fp";
  r.version = 4;
  EXPECT_FALSE(view.take(r, now));
  EXPECT_EQ(view.seen("fp"), 4u);
}

TEST(StateFleetView, KeysAreIndependent) {
  fleet_view view("me");
  view.acknowledge("fp", 100);
  auto other = status(key_state::disabled_invalid, 1);
  other.fingerprint = "fp2";
  EXPECT_TRUE(view.take(other, now));
}

}  // namespace
