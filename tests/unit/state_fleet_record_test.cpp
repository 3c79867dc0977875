#include <gtest/gtest.h>

#include <algorithm>

#include "state/fleet_record.hpp"
#include "state/redis_scripts.hpp"

namespace {

using orp::keys::key_state;
using namespace orp::state;

// Exactly what the Lua script publishes: cjson with every number as a string.
const char* lua_message =
    R"({"fp":"49be1e00bfb5ae47","status":"disabled_invalid","ver":"1764152956704123","by":"a:1:x",)"
    R"("reason":"401 invalid key","cool_until":"1764152961704","cool_reason":"429 rate limited",)"
    R"("label":"pool-a","from":"a:1:x","t":"1764152956703"})";

TEST(StateFleetRecord, DecodesTheScriptsMessage) {
  auto r = decode_message(lua_message);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->fingerprint, "49be1e00bfb5ae47");
  EXPECT_EQ(r->status, key_state::disabled_invalid);
  EXPECT_EQ(r->version, 1764152956704123u);
  EXPECT_EQ(r->changed_by, "a:1:x");
  EXPECT_EQ(r->status_reason, "401 invalid key");
  ASSERT_TRUE(r->cooling_until);
  EXPECT_EQ(to_epoch_ms(*r->cooling_until), 1764152961704);
  EXPECT_EQ(r->cooling_reason, "429 rate limited");
  EXPECT_EQ(r->label, "pool-a");
  EXPECT_EQ(r->from, "a:1:x");
  ASSERT_TRUE(r->sent_at);
  EXPECT_EQ(to_epoch_ms(*r->sent_at), 1764152956703);
}

TEST(StateFleetRecord, AcceptsNumbersAsNumbersAndEmptyParts) {
  auto r = decode_message(R"({"fp":"ab","status":"","ver":7,"cool_until":0})");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->status);
  EXPECT_EQ(r->version, 7u);
  EXPECT_FALSE(r->cooling_until);
  EXPECT_FALSE(r->sent_at);
}

TEST(StateFleetRecord, RefusesWhatIsNotOurs) {
  for (const char* bad : {"", "hello", "[]", "{}", R"({"fp":""})", R"({"fp":"ab","status":"sleeping"})",
                          R"({"fp":"ab")"}) {
    EXPECT_FALSE(decode_message(bad)) << bad;
  }
}

TEST(StateFleetRecord, EncodeDecodeRoundTrip) {
  fleet_record r;
  r.fingerprint = "0123456789abcdef";
  r.label = "sk-or-v1-…3f9a";
  r.status = key_state::disabled_no_credit;
  r.status_reason = "402 \"quoted\"";
  r.version = 42;
  r.changed_by = "host:7:beef";
  r.cooling_until = from_epoch_ms(1'800'000'000'123);
  r.cooling_reason = "429";
  r.from = "host:7:beef";
  r.sent_at = from_epoch_ms(1'800'000'000'000);
  auto back = decode_message(encode_message(r));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->fingerprint, r.fingerprint);
  EXPECT_EQ(back->label, r.label);
  EXPECT_EQ(back->status, r.status);
  EXPECT_EQ(back->status_reason, r.status_reason);
  EXPECT_EQ(back->version, r.version);
  EXPECT_EQ(back->changed_by, r.changed_by);
  EXPECT_EQ(back->cooling_until, r.cooling_until);
  EXPECT_EQ(back->cooling_reason, r.cooling_reason);
  EXPECT_EQ(back->sent_at, r.sent_at);
}

TEST(StateFleetRecord, ParsesHashFieldsIgnoringUnknownOnes) {
  auto r = parse_record_fields("fp1", {{"status", "active"},
                                       {"ver", "12"},
                                       {"by", "b:2:y"},
                                       {"status_reason", "probe: 200"},
                                       {"cool_until", "1764152961704"},
                                       {"cool_reason", "429"},
                                       {"label", "pool-a"},
                                       {"changed_at", "1"},
                                       {"future_field", "x"},
                                       {"c:requests", "10"},
                                       {"c:successes", "7"},
                                       {"c:client_errors", "1"},
                                       {"c:failures", "2"},
                                       {"c:cancelled", "0"}});
  EXPECT_EQ(r.fingerprint, "fp1");
  EXPECT_EQ(r.status, key_state::active);
  EXPECT_EQ(r.version, 12u);
  EXPECT_EQ(r.changed_by, "b:2:y");
  EXPECT_EQ(to_epoch_ms(*r.cooling_until), 1764152961704);
  EXPECT_EQ(r.counters.requests, 10u);
  EXPECT_EQ(r.counters.successes, 7u);
  EXPECT_EQ(r.counters.client_errors, 1u);
  EXPECT_EQ(r.counters.failures, 2u);
}

TEST(StateFleetRecord, EmptyHashIsNoInformation) {
  auto r = parse_record_fields("fp1", {});
  EXPECT_FALSE(r.status);
  EXPECT_EQ(r.version, 0u);
  EXPECT_FALSE(r.cooling_until);
}

TEST(StateFleetRecord, MalformedNumbersReadAsNothing) {
  auto r = parse_record_fields("fp1", {{"ver", "x"}, {"cool_until", "-5"}, {"c:requests", "1e3"}});
  EXPECT_EQ(r.version, 0u);
  EXPECT_FALSE(r.cooling_until);
  EXPECT_EQ(r.counters.requests, 0u);
}

TEST(StateFleetRecord, OutOfRangeNumbersNeitherOverflowNorCount) {
  // Whatever another instance (or anything with access to Redis) wrote: a double past int64 was
  // converted unchecked, and epoch milliseconds past the clock's range overflowed its nanoseconds.
  auto m = decode_message(R"({"fp":"ab","ver":1e300,"cool_until":9.0e18,"t":"9223372036854775807"})");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->version, 0u);
  ASSERT_TRUE(m->cooling_until);
  EXPECT_GT(*m->cooling_until, std::chrono::system_clock::now() + std::chrono::hours(24 * 365 * 200));
  auto r = parse_record_fields("fp1", {{"cool_until", "9223372036854775807"}});
  ASSERT_TRUE(r.cooling_until);
  EXPECT_EQ(*r.cooling_until, orp::keys::from_epoch_ms(9223372036854775807));
}

TEST(StateRedisScripts, NamesUseTheFingerprintAndTheDatabase) {
  EXPECT_EQ(key_name("0123456789abcdef"), "orp:key:0123456789abcdef");
  EXPECT_EQ(probe_lock_name("0123456789abcdef"), "orp:probe:0123456789abcdef");
  EXPECT_EQ(events_channel(3), "orp:3:events");
}

TEST(StateRedisScripts, UpdateCommandCarriesTheMergeInputs) {
  script_context ctx{"orp:0:events", "me:1:x", std::chrono::milliseconds(1000)};
  pending_update u;
  u.fingerprint = "fp";
  u.label = "pool-a";
  u.at = from_epoch_ms(1000);
  u.cooling_until = from_epoch_ms(6000);
  u.cooling_reason = "429";
  auto cmd = update_command("sha1", u, update_op::change, ctx);
  ASSERT_EQ(cmd.size(), 15u);
  EXPECT_EQ(cmd[0], "EVALSHA");
  EXPECT_EQ(cmd[1], "sha1");
  EXPECT_EQ(cmd[2], "1");
  EXPECT_EQ(cmd[3], "orp:key:fp");
  EXPECT_EQ(cmd[4], "cool");
  EXPECT_EQ(cmd[6], "orp:0:events");
  EXPECT_EQ(cmd[7], "me:1:x");
  EXPECT_EQ(cmd[8], "1000");
  EXPECT_EQ(cmd[9], "6000");
  EXPECT_EQ(cmd[10], "");
  EXPECT_EQ(cmd[14], "1000");

  u.status = key_state::disabled_invalid;
  EXPECT_EQ(update_command("s", u, update_op::change, ctx)[4], "disable");
  EXPECT_EQ(update_command("s", u, update_op::change, ctx)[10], "disabled_invalid");
  u.status = key_state::active;
  EXPECT_EQ(update_command("s", u, update_op::change, ctx)[4], "recover");
  EXPECT_EQ(update_command("s", u, update_op::seed, ctx)[4], "seed");
}

}  // namespace
