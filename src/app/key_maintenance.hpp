#pragma once
// The key pool's background work, on the main io_context: logging state changes, saving the
// state file soon after a change, reloading keys.csv (SIGHUP or a changed file), and probing
// disabled keys until they recover.
#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <string>

#include "keys/key_pool.hpp"
#include "keys/keys_csv.hpp"
#include "net/io.hpp"
#include "upstream/connection_pool.hpp"

namespace orp::app {

// Logs what is worth a look in a keys.csv that loaded: repeated labels, keys that do not look like
// OpenRouter's (by line, never the key), a file open to group or others. At start and on every reload.
void warn_about_keys_file(const std::vector<keys::key_record>& records, const std::filesystem::path& file);

// Said at start and after a reload that leaves the pool empty.
std::string empty_pool_warning(const std::filesystem::path& file);

// Asked before each recovery probe; false: another instance probes this key this interval.
using probe_gate = std::function<net::asio::awaitable<bool>(std::string fingerprint)>;

struct maintenance_options {
  std::filesystem::path keys_file;
  std::filesystem::path state_file;  // empty: no persistence
  std::chrono::seconds recovery_interval{300};
  net::clock::duration probe_timeout = std::chrono::seconds(30);
};

class key_maintenance {
 public:
  key_maintenance(net::asio::io_context& io, keys::key_pool& pool, upstream::connection_pool& probe_pool,
                  maintenance_options options);

  // Reads the state file into the pool (a corrupt one is logged and ignored).
  void restore_state();
  void start();
  // Re-reads keys.csv; a malformed file is refused and the old pool kept. Returns success.
  // An explicit reload (SIGHUP, the admin endpoint) also probes every disabled key at once: the
  // user may just have added credit.
  bool reload(std::string_view why, bool explicit_request = true);
  // Why the last reload refused keys.csv ("FILE:LINE: reason", no key in it); empty after one
  // that succeeded: the file on disk is not the pool in use until it is fixed.
  const std::string& keys_file_error() const { return keys_file_error_; }
  // Logs pending changes and writes the state file now (shutdown).
  void flush();
  void set_probe_gate(probe_gate gate) { probe_gate_ = std::move(gate); }

 private:
  net::asio::awaitable<void> tick_loop();
  // `asked`: a probe the user asked for (a reload) goes ahead even when the fleet's probe lock says
  // another instance probed this key this interval.
  net::asio::awaitable<void> probe(keys::key_lease lease, bool asked = false);
  void probe_disabled_now();
  void log_changes();
  void save();
  void set_aside(const std::string& why);
  std::optional<std::filesystem::file_time_type> keys_mtime() const;

  net::asio::io_context& io_;
  keys::key_pool& pool_;
  upstream::connection_pool& probe_pool_;
  maintenance_options options_;
  probe_gate probe_gate_;
  std::set<std::string, std::less<>> probing_;  // fingerprints with a probe under way (main thread only)
  bool dirty_ = false;
  net::clock::time_point last_save_{};
  std::optional<std::filesystem::file_time_type> keys_mtime_;
  std::uintmax_t keys_size_ = 0;
  std::string keys_file_error_;
};

}  // namespace orp::app
