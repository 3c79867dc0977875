#include "app/key_maintenance.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "forward/probe.hpp"
#include "keys/keys_csv.hpp"
#include "keys/state_file.hpp"
#include "log/logging.hpp"
#include "util/file_mode.hpp"

namespace orp::app {

namespace asio = net::asio;
using net::clock;

namespace {
constexpr auto kTick = std::chrono::milliseconds(200);
constexpr auto kSaveAfter = std::chrono::milliseconds(500);
}  // namespace

void warn_about_keys_file(const std::vector<keys::key_record>& records, const std::filesystem::path& file) {
  for (const auto& w : keys::repeated_label_warnings(records, file.string())) log::warn("{}", w);
  if (auto w = keys::unusual_keys_warning(records, file.string())) log::warn("{}", *w);
  // The user's file: named, never changed (unlike the CA key, which the proxy made).
  if (auto mode = records.empty() ? std::nullopt : util::mode_open_to_others(file))  // no keys, nothing to hide
    log::warn("{} holds API keys and is open to group or others (mode {}): run chmod 600 {}", file.string(),
              util::octal_mode(*mode), file.string());
}

std::string empty_pool_warning(const std::filesystem::path& file) {
  return file.string() + " holds no keys: tunnelling works, intercepted requests get 503 until keys are added to it";
}

key_maintenance::key_maintenance(asio::io_context& io, keys::key_pool& pool, upstream::connection_pool& probe_pool,
                                 maintenance_options options)
    : io_(io), pool_(pool), probe_pool_(probe_pool), options_(std::move(options)) {
  keys_mtime_ = keys_mtime();
}

std::optional<std::filesystem::file_time_type> key_maintenance::keys_mtime() const {
  std::error_code ec;
  auto t = std::filesystem::last_write_time(options_.keys_file, ec);
  if (ec) return std::nullopt;
  return t;
}

void key_maintenance::restore_state() {
  if (options_.state_file.empty()) return;
  try {
    if (auto state = keys::load_state_file(options_.state_file)) {
      pool_.restore(*state, clock::now(), std::chrono::system_clock::now(), options_.recovery_interval);
      log::info("restored key state from {}", options_.state_file.string());
    }
  } catch (const keys::corrupt_state_file& e) {
    set_aside(e.what());
  } catch (const std::exception& e) {
    log::error("{}; starting with fresh key state", e.what());
  }
  log_changes();
}

// The next save would overwrite a corrupt file: keep it for whoever wants to see what went wrong.
void key_maintenance::set_aside(const std::string& why) {
  try {
    const auto aside = keys::set_aside_corrupt(options_.state_file, std::chrono::system_clock::now());
    log::warn("{}; set aside as {}, starting with fresh key state", why, aside.string());
  } catch (const std::exception& e) {
    log::warn("{}; starting with fresh key state ({})", why, e.what());
  }
}

void key_maintenance::start() {
  std::error_code ec;
  keys_size_ = std::filesystem::file_size(options_.keys_file, ec);
  asio::co_spawn(io_, tick_loop(), asio::detached);
}

bool key_maintenance::reload(std::string_view why, bool explicit_request) {
  try {
    auto records = keys::read_keys_csv(options_.keys_file);
    warn_about_keys_file(records, options_.keys_file);
    auto r = pool_.replace(std::move(records));
    log::info("reloaded {} ({}): {} added, {} removed, {} kept, {} back with their state", options_.keys_file.string(),
              why, r.added.size(), r.removed.size(), r.kept, r.restored.size());
    for (const auto& k : r.added) log::info("key {} added", k);
    for (const auto& k : r.removed) log::info("key {} removed", k);
    for (const auto& k : r.restored)
      log::info("key {} is back in {}: state restored: {} ({})", k.display, options_.keys_file.filename().string(),
                keys::to_string(k.state), k.reason);
    if (pool_.size() == 0) log::warn("{}", empty_pool_warning(options_.keys_file));
    dirty_ = true;
    keys_file_error_.clear();
    if (explicit_request) probe_disabled_now();
    return true;
  } catch (const std::exception& e) {
    log::error("reload of keys refused, keeping the current pool: {}", e.what());
    keys_file_error_ = e.what();
    return false;
  }
}

void key_maintenance::probe_disabled_now() {
  auto due = pool_.due_for_probe(clock::now(), std::chrono::seconds(0));  // every disabled key
  // A burst of reloads (a script sending SIGHUP in a loop) adds no probe of a key whose probe is
  // still under way.
  std::erase_if(due, [&](const keys::key_lease& l) { return probing_.contains(l.fingerprint); });
  if (due.empty()) return;
  log::info("probing {} disabled key{} now, as asked by the reload", due.size(), due.size() == 1 ? "" : "s");
  for (auto& lease : due) asio::co_spawn(io_, probe(std::move(lease), /*asked=*/true), asio::detached);
}

void key_maintenance::log_changes() {
  for (const auto& c : pool_.drain_changes()) {
    dirty_ = true;
    if (c.global)
      log::warn("global back-off: {}", c.reason);
    else
      log::info("key {} {} -> {}: {}", c.label, keys::to_string(c.from), keys::to_string(c.to), c.reason);
  }
}

void key_maintenance::save() {
  if (options_.state_file.empty()) return;
  try {
    // Removed keys too: their state comes back with them, also after a restart.
    auto keys = pool_.snapshot(clock::now());
    auto removed = pool_.removed_snapshot(clock::now());
    keys.insert(keys.end(), std::make_move_iterator(removed.begin()), std::make_move_iterator(removed.end()));
    keys::write_state_file(options_.state_file, keys, std::chrono::system_clock::now());
  } catch (const std::exception& e) {
    log::error("cannot save key state: {}", e.what());
  }
  dirty_ = false;
  last_save_ = clock::now();
}

void key_maintenance::flush() {
  log_changes();
  save();
}

asio::awaitable<void> key_maintenance::probe(keys::key_lease lease, bool asked) {
  if (!probing_.insert(lease.fingerprint).second) co_return;  // one probe of a key at a time
  struct done {
    std::set<std::string, std::less<>>& set;
    std::string fingerprint;
    ~done() { set.erase(fingerprint); }
  } under_way{probing_, lease.fingerprint};
  if (!asked && probe_gate_ && !co_await probe_gate_(lease.fingerprint)) {
    log::debug("recovery probe of key {} left to another instance this interval", lease.display);
    co_return;
  }
  auto r = co_await forward::probe_key(probe_pool_, *lease.key, options_.probe_timeout);
  log::info("recovery probe of key {}: status {}{}{}", lease.display, r.status,
            r.limit_remaining ? ", limit_remaining " + std::to_string(*r.limit_remaining) : std::string(),
            r.error.empty() ? std::string() : ", " + r.error);
  // An unreadable 200 counts as a failed probe: the key stays as it is.
  pool_.report_probe(lease.fingerprint, r.readable ? r.status : 0, r.limit_remaining, clock::now(), r.error);
  dirty_ = true;  // the probe's time, so that a restart keeps the schedule
  log_changes();
}

asio::awaitable<void> key_maintenance::tick_loop() {
  asio::steady_timer timer(io_);
  while (true) {
    timer.expires_after(kTick);
    auto [ec] = co_await timer.async_wait(net::use_tuple);
    if (ec) co_return;
    log_changes();
    // Counters change with every request: save them with state changes, at most every few seconds.
    if (dirty_ && clock::now() - last_save_ >= kSaveAfter) save();

    auto mtime = keys_mtime();
    std::error_code size_ec;
    auto size = std::filesystem::file_size(options_.keys_file, size_ec);
    if (mtime && (mtime != keys_mtime_ || size != keys_size_)) {
      keys_mtime_ = mtime;
      keys_size_ = size;
      reload("file changed", false);
    }
    for (auto& lease : pool_.due_for_probe(clock::now(), options_.recovery_interval))
      asio::co_spawn(io_, probe(std::move(lease)), asio::detached);
  }
}

}  // namespace orp::app
