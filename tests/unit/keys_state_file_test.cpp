#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "keys/classify.hpp"
#include "keys/epoch_ms.hpp"
#include "keys/state_file.hpp"

namespace {

using namespace std::chrono_literals;
using orp::keys::key_pool;
using orp::keys::key_record;
using orp::keys::key_state;
using orp::keys::outcome;
using orp::keys::outcome_kind;
using orp::keys::state_file_error;
namespace fs = std::filesystem;

const orp::keys::steady_time t0{std::chrono::hours(1000)};
const orp::keys::wall_time wall0 = std::chrono::sys_days{std::chrono::year{2025} / 3 / 1};
const std::vector<std::string> none;

std::string secret(int i) { return "sk-or-v1-test-state-" + std::to_string(1000 + i); }

std::vector<key_record> records(std::initializer_list<int> ids) {
  std::vector<key_record> out;
  for (int i : ids) {
    const std::string label = i == 3 ? "" : "k" + std::to_string(i);
    out.push_back(key_record{orp::keys::api_key(secret(i), label), label, 1.0, i + 1});
  }
  return out;
}

class KeysStateFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("keys_state_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::string read(const fs::path& file) {
    std::ifstream in(file);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  // k0 cooling 30 s, k1 invalid, k2 no credit with a key quoted in its error, masked key 3 active.
  static void populate(key_pool& pool) {
    pool.replace(records({0, 1, 2, 3}));
    auto lease = [&](std::string_view display) {
      for (int i = 0; i < 8; ++i) {
        auto l = pool.pick(none, t0);
        if (l->display == display) return *l;
        pool.cancel(*l);
      }
      throw std::runtime_error("not picked");
    };
    pool.report(lease("k0"), outcome{outcome_kind::key_cooldown, 429, 30s, "429 rate limited"}, t0);
    pool.report(lease("k1"), outcome{outcome_kind::key_invalid, 401, {}, "401 invalid key"}, t0);
    pool.report(lease("k2"),
                outcome{outcome_kind::key_no_credit, 402, {},
                        "402 payment required: " + orp::keys::mask_secrets("no credit on " + secret(2))},
                t0);
    pool.report(*pool.pick(none, t0), outcome{outcome_kind::success, 200, {}, "200"}, t0);
  }

  fs::path dir_;
};

TEST_F(KeysStateFile, RoundTripRestoresStateAndCounters) {
  key_pool pool(orp::keys::strategy::round_robin, 1);
  populate(pool);
  const fs::path file = dir_ / "data" / "key_state.json";
  orp::keys::write_state_file(file, pool.snapshot(t0 + 10s), wall0);

  const auto loaded = orp::keys::load_state_file(file);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->keys.size(), 4u);
  EXPECT_EQ(loaded->saved_at, wall0);

  // Restart 5 s of wall time later; key 1 was removed from keys.csv meanwhile.
  key_pool restarted(orp::keys::strategy::round_robin, 1);
  restarted.replace(records({0, 2, 3}));
  const auto later = orp::keys::steady_time(std::chrono::hours(5));
  restarted.restore(*loaded, later, wall0 + 5s, 300s);
  const auto snap = restarted.snapshot(later);
  ASSERT_EQ(snap.size(), 3u);
  EXPECT_EQ(snap[0].state, key_state::cooling);
  EXPECT_EQ(snap[0].cooling_left, 15s);  // 30 s from t0, saved at t0+10 s, restored 5 s later
  EXPECT_EQ(snap[0].reason, "restored: 429 rate limited, cooling 30.0s");
  EXPECT_EQ(snap[1].state, key_state::disabled_no_credit);
  EXPECT_EQ(snap[1].last_error, "402 payment required: no credit on sk-or-v1-\u2026" "1002");
  EXPECT_EQ(snap[2].state, key_state::active);
  EXPECT_EQ(snap[2].counters.successes, 1u);
  EXPECT_EQ(snap[0].counters.requests, pool.snapshot(t0)[0].counters.requests);
  // A restored disabled key keeps its probe schedule: the first probe is one interval after start.
  EXPECT_EQ(restarted.due_for_probe(later, 300s).size(), 0u);
  EXPECT_EQ(restarted.due_for_probe(later + 300s, 300s).size(), 1u);
  EXPECT_EQ(restarted.drain_changes().size(), 2u);

  // Key 1, absent from keys.csv at the restart, keeps its state for when it returns.
  ASSERT_EQ(restarted.removed_snapshot(later).size(), 1u);
  const auto back = restarted.replace(records({0, 1, 2, 3}));
  ASSERT_EQ(back.restored.size(), 1u);
  EXPECT_EQ(back.restored[0].display, "k1");
  EXPECT_EQ(back.restored[0].state, key_state::disabled_invalid);
  EXPECT_EQ(restarted.snapshot(later)[1].state, key_state::disabled_invalid);
  EXPECT_EQ(restarted.due_for_probe(later, 300s).size(), 0u);
}

TEST_F(KeysStateFile, ExpiredCooldownRestoresActive) {
  key_pool pool(orp::keys::strategy::round_robin, 1);
  populate(pool);
  const auto state = orp::keys::parse_state(orp::keys::serialize_state(pool.snapshot(t0), wall0), "mem");
  key_pool restarted(orp::keys::strategy::round_robin, 1);
  restarted.replace(records({0}));
  restarted.restore(state, t0, wall0 + 31s, 300s);
  EXPECT_EQ(restarted.snapshot(t0)[0].state, key_state::active);
}

TEST_F(KeysStateFile, AtomicWriteLeavesNoTemporaryFile) {
  const fs::path file = dir_ / "state.json";
  orp::keys::write_state_file(file, {}, std::chrono::system_clock::time_point{});
  orp::keys::write_state_file(file, {}, std::chrono::system_clock::time_point{} + std::chrono::seconds(5));
  EXPECT_NE(read(file).find("5000"), std::string::npos) << read(file);
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir_)) names.push_back(entry.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"state.json"});
  EXPECT_EQ(fs::status(file).permissions() & fs::perms::others_read, fs::perms::none);
}

TEST_F(KeysStateFile, UnwritableLocationIsAClearError) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "not-a-dir") << "x";
  try {
    orp::keys::write_state_file(dir_ / "not-a-dir" / "state.json", {}, std::chrono::system_clock::now());
    ADD_FAILURE() << "expected an error";
  } catch (const state_file_error& e) {
    EXPECT_NE(std::string(e.what()).find("not-a-dir"), std::string::npos) << e.what();
  }
}

TEST_F(KeysStateFile, SecretNeverAppearsInTheFile) {
  key_pool pool(orp::keys::strategy::round_robin, 1);
  populate(pool);
  const fs::path file = dir_ / "state.json";
  orp::keys::write_state_file(file, pool.snapshot(t0), wall0);
  const std::string text = read(file);
  for (int i : {0, 1, 2, 3}) EXPECT_EQ(text.find(secret(i)), std::string::npos) << i;
  EXPECT_EQ(text.find("test-state"), std::string::npos);
  EXPECT_NE(text.find("sk-or-v1-\u2026" "1003"), std::string::npos);  // key 3 has no label
}

TEST_F(KeysStateFile, MissingFileIsNotAnError) {
  EXPECT_FALSE(orp::keys::load_state_file(dir_ / "absent.json"));
}

TEST_F(KeysStateFile, TimesBeyondTheClockAreClampedNotOverflowed) {
  // A hand-edited or damaged file may hold any integer: converting epoch milliseconds past the
  // clock's range to its nanoseconds overflowed (undefined; the sanitizer build stops on it).
  const auto state = orp::keys::parse_state(
      R"({"version":1,"saved_at_ms":-9223372036854775807,"keys":[)"
      R"({"fingerprint":"ab","state":"cooling","cooling_until_ms":9223372036854775807}]})",
      "mem");
  ASSERT_EQ(state.keys.size(), 1u);
  ASSERT_TRUE(state.keys.at("ab").cooling_until);
  EXPECT_GT(*state.keys.at("ab").cooling_until, wall0 + std::chrono::hours(24 * 365 * 200));
  ASSERT_TRUE(state.saved_at);
  EXPECT_LT(*state.saved_at, wall0 - std::chrono::hours(24 * 365 * 200));
  EXPECT_EQ(orp::keys::from_epoch_ms(orp::keys::to_epoch_ms(wall0)), wall0);
}

TEST_F(KeysStateFile, CorruptFilesGiveClearErrors) {
  fs::create_directories(dir_);
  const fs::path file = dir_ / "key_state.json";
  const std::vector<std::pair<std::string, std::string>> cases{
      {R"({"version":1,"keys":[{"fingerprint":"ab)", "JSON"},
      {"", "JSON"},
      {"[]", "top level: expected an object"},
      {R"({"version":2,"keys":[]})", "unsupported format version"},
      {R"({"version":1})", "missing \"keys\""},
      {R"({"version":1,"keys":{}})", "keys: expected an array"},
      {R"({"version":1,"keys":[{"fingerprint":"abcd","state":"sleeping"}]})", "keys[0]: unknown state 'sleeping'"},
      {R"({"version":1,"keys":[{"state":"active"}]})", "keys[0]: missing \"fingerprint\""},
      {R"({"version":1,"keys":[{"fingerprint":"ab","state":"active","counters":{"requests":-1}}]})",
       "keys[0].counters.requests: expected a non-negative integer"},
      {R"({"version":1,"keys":[{"fingerprint":"ab","state":"cooling","cooling_until_ms":"soon"}]})",
       "keys[0].cooling_until_ms: expected an integer"},
  };
  for (const auto& [content, expected] : cases) {
    std::ofstream(file, std::ios::trunc) << content;
    try {
      orp::keys::load_state_file(file);
      ADD_FAILURE() << "accepted: " << content;
    } catch (const state_file_error& e) {
      const std::string what = e.what();
      EXPECT_TRUE(what.starts_with(file.string() + ": corrupt state file: ")) << what;
      EXPECT_NE(what.find(expected), std::string::npos) << what;
    }
  }
}

// A pool with k1 disabled (invalid) and k2 disabled (no credit) at t0 = wall0, saved at once.
orp::keys::persisted_state saved_with_disabled_keys() {
  key_pool pool(orp::keys::strategy::round_robin, 1);
  pool.replace(records({1, 2}));
  pool.report(*pool.pick(none, t0), outcome{outcome_kind::key_invalid, 401, {}, "401 invalid key"}, t0);
  pool.report(*pool.pick(none, t0), outcome{outcome_kind::key_no_credit, 402, {}, "402"}, t0);
  return orp::keys::parse_state(orp::keys::serialize_state(pool.snapshot(t0), wall0), "mem");
}

TEST_F(KeysStateFile, ADisabledKeysProbeScheduleSurvivesARestart) {
  const auto state = saved_with_disabled_keys();
  ASSERT_TRUE(state.keys.begin()->second.last_probe);
  EXPECT_EQ(*state.keys.begin()->second.last_probe, wall0);
  // Restarted 100 s after the disable: the first probe 200 s on, not 300.
  key_pool soon(orp::keys::strategy::round_robin, 1);
  soon.replace(records({1}));
  const orp::keys::steady_time later(std::chrono::hours(7));
  soon.restore(state, later, wall0 + 100s, 300s);
  EXPECT_TRUE(soon.due_for_probe(later + 199s, 300s).empty());
  EXPECT_EQ(soon.due_for_probe(later + 200s, 300s).size(), 1u);
}

TEST_F(KeysStateFile, KeysDisabledLongAgoAreProbedSoonAfterAStartOneASecond) {
  // A proxy restarted more often than the interval (one per CI job) used to put each restored
  // key's probe a whole interval after its start, and so never probed it.
  key_pool restarted(orp::keys::strategy::round_robin, 1);
  restarted.replace(records({1, 2}));
  const orp::keys::steady_time later(std::chrono::hours(7));
  restarted.restore(saved_with_disabled_keys(), later, wall0 + 1h, 300s);
  EXPECT_EQ(restarted.due_for_probe(later, 300s).size(), 1u);
  EXPECT_TRUE(restarted.due_for_probe(later + 999ms, 300s).empty());
  EXPECT_EQ(restarted.due_for_probe(later + 1s, 300s).size(), 1u);
}

TEST_F(KeysStateFile, AFileWithoutProbeTimesSchedulesFromItsSaveTime) {
  // Written before last_probe_ms was saved: the last probe was no later than the save.
  const std::string fingerprint = orp::keys::api_key(secret(1), "k1").fingerprint();
  const auto state = orp::keys::parse_state(
      R"({"version":1,"saved_at_ms":)" + std::to_string(orp::keys::to_epoch_ms(wall0)) +
          R"(,"keys":[{"fingerprint":")" + fingerprint + R"(","state":"disabled_invalid","reason":"401"}]})",
      "mem");
  key_pool restarted(orp::keys::strategy::round_robin, 1);
  restarted.replace(records({1}));
  restarted.restore(state, t0, wall0 + 250s, 300s);
  EXPECT_TRUE(restarted.due_for_probe(t0 + 49s, 300s).empty());
  EXPECT_EQ(restarted.due_for_probe(t0 + 50s, 300s).size(), 1u);
}

TEST_F(KeysStateFile, ARestoredCooldownIsCutToTheLongestALiveOneCanBe) {
  const std::string fingerprint = orp::keys::api_key(secret(0), "k0").fingerprint();
  const auto state = orp::keys::parse_state(
      R"({"version":1,"keys":[{"fingerprint":")" + fingerprint +
          R"(","state":"cooling","reason":"429","cooling_until_ms":1000000000000000000}]})",
      "mem");
  key_pool restarted(orp::keys::strategy::round_robin, 1);
  restarted.replace(records({0}));
  restarted.restore(state, t0, wall0, 300s);
  const auto snap = restarted.snapshot(t0);
  EXPECT_EQ(snap[0].state, key_state::cooling);
  EXPECT_EQ(snap[0].cooling_left, orp::keys::max_cooldown_hint);
  EXPECT_NE(snap[0].reason.find("cool-down cut to 365 days"), std::string::npos) << snap[0].reason;
}

TEST_F(KeysStateFile, ACorruptFileIsSetAsideWithATimestamp) {
  fs::create_directories(dir_);
  const fs::path file = dir_ / "key_state.json";
  std::ofstream(file) << "{not json";
  EXPECT_THROW(orp::keys::load_state_file(file), orp::keys::corrupt_state_file);
  const fs::path aside = orp::keys::set_aside_corrupt(file, wall0 + 3661s);
  EXPECT_EQ(aside, dir_ / "key_state.json.corrupt-20250301T010101Z");
  EXPECT_FALSE(fs::exists(file));
  EXPECT_EQ(read(aside), "{not json");
}

}  // namespace
