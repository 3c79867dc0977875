// Key state that comes back from outside the process: the state file (a user may edit or damage
// it) and the fleet's records in Redis (written by other instances, or by anything with access to
// Redis). The first byte picks the reader; whatever it accepts is applied to a small pool, which
// must then still answer. A state file is either read or refused with state_file_error.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "keys/key_pool.hpp"
#include "keys/state_file.hpp"
#include "state/fleet_record.hpp"
#include "state/fleet_view.hpp"

namespace {

using namespace std::chrono_literals;
const orp::keys::steady_time now{std::chrono::hours(30)};
const orp::keys::wall_time now_wall{std::chrono::sys_days{std::chrono::year{2026} / 11 / 26}};

// Two keys whose fingerprints the input may name ("sk-or-v1-fuzz-0" and "-1").
orp::keys::key_pool& fresh_pool(orp::keys::key_pool& pool) {
  std::vector<orp::keys::key_record> records;
  for (int i = 0; i < 2; ++i) {
    const std::string label = "k" + std::to_string(i);
    records.push_back(orp::keys::key_record{orp::keys::api_key("sk-or-v1-fuzz-" + std::to_string(i), label), label,
                                            1.0, i + 1});
  }
  pool.replace(std::move(records));
  return pool;
}

void exercise(orp::keys::key_pool& pool) {
  for (const auto& snap : pool.snapshot(now + 1s)) {
    if (snap.cooling_left && snap.cooling_left->count() < 0) __builtin_trap();
  }
  if (auto lease = pool.pick({}, now + 2s)) pool.cancel(*lease);
  (void)pool.availability_now(now + 3s);
  (void)pool.due_for_probe(now + 1h, 300s);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  orp::keys::key_pool pool(orp::keys::strategy::round_robin, 7);
  fresh_pool(pool);
  switch (data[0] % 3) {
    case 0: {
      orp::keys::persisted_state state;
      try {
        state = orp::keys::parse_state(input, "fuzz");
      } catch (const orp::keys::state_file_error&) {
        return 0;
      }
      // The fuzzer cannot guess SHA-256 fingerprints: the file's first two keys become the pool's.
      const auto snaps = pool.snapshot(now);
      orp::keys::persisted_state renamed;
      renamed.saved_at = state.saved_at;
      std::size_t i = 0;
      for (auto& [fingerprint, key] : state.keys) {
        if (i == snaps.size()) break;
        key.fingerprint = snaps[i++].fingerprint;
        renamed.keys.emplace(key.fingerprint, key);
      }
      pool.restore(renamed, now, now_wall, std::chrono::seconds(300));
      break;
    }
    case 1: {
      auto record = orp::state::decode_message(input);
      if (!record) return 0;
      (void)orp::state::encode_message(*record);
      record->fingerprint = pool.snapshot(now)[record->fingerprint.size() % 2].fingerprint;
      orp::state::fleet_view view("fuzz-instance");
      if (auto remote = view.take(*record, now_wall)) pool.apply_remote(record->fingerprint, *remote, now, now_wall);
      break;
    }
    default: {
      // HGETALL's field/value pairs: NUL-separated, alternating.
      std::vector<std::pair<std::string, std::string>> fields;
      std::vector<std::string> parts;
      std::size_t start = 0;
      for (std::size_t i = 0; i <= input.size(); ++i) {
        if (i == input.size() || input[i] == '\0') {
          parts.emplace_back(input.substr(start, i - start));
          start = i + 1;
        }
      }
      for (std::size_t i = 0; i + 1 < parts.size(); i += 2) fields.emplace_back(parts[i], parts[i + 1]);
      const auto record = orp::state::parse_record_fields(pool.snapshot(now)[0].fingerprint, fields);
      orp::state::fleet_view view("fuzz-instance");
      if (auto remote = view.take(record, now_wall)) pool.apply_remote(record.fingerprint, *remote, now, now_wall);
      break;
    }
  }
  exercise(pool);
  return 0;
}
