#pragma once
// Key state across restarts: data/key_state.json, keyed by fingerprint, never holding a secret.
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "keys/key_pool.hpp"

namespace orp::keys {

// A corrupt or unwritable state file; what() names the file and what is wrong. The caller logs it
// and starts fresh (load) or keeps running (write).
struct state_file_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// The file was read but is not a state file: set it aside (set_aside_corrupt), then start fresh.
struct corrupt_state_file : state_file_error {
  using state_file_error::state_file_error;
};

struct persisted_key {
  std::string fingerprint;
  std::string label;  // display form, for humans reading the file
  key_state state = key_state::active;
  std::optional<wall_time> cooling_until;  // stored as epoch ms: steady time does not survive a reboot
  std::string reason;
  std::string last_error;
  key_counters counters;
  std::optional<double> credit_left;
  // Disabled keys: the last probe, or the disable before any probe. Absent in files written
  // before it was saved.
  std::optional<wall_time> last_probe;
};

struct persisted_state {
  std::optional<wall_time> saved_at;
  std::map<std::string, persisted_key, std::less<>> keys;  // by fingerprint
};

std::string serialize_state(const std::vector<key_snapshot>& keys, wall_time now_wall);
persisted_state parse_state(std::string_view text, std::string_view file_name);

// Empty when the file does not exist (first start); state_file_error when it cannot be read or parsed.
std::optional<persisted_state> load_state_file(const std::filesystem::path& file);

// Renames a corrupt state file to `<file>.corrupt-<UTC time>` so that the next save does not
// destroy what a user may want to inspect or repair; returns the new name.
std::filesystem::path set_aside_corrupt(const std::filesystem::path& file, wall_time now_wall);

void write_state_file(const std::filesystem::path& file, const std::vector<key_snapshot>& keys, wall_time now_wall);

}  // namespace orp::keys
