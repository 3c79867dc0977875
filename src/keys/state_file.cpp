#include "keys/state_file.hpp"

#include "keys/classify.hpp"
#include "keys/epoch_ms.hpp"
#include "util/atomic_file.hpp"

#include <boost/json.hpp>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

namespace orp::keys {
namespace {

namespace json = boost::json;
using std::chrono::milliseconds;

constexpr std::int64_t format_version = 1;

class reader {
 public:
  explicit reader(std::string_view file_name) : file_(file_name) {}

  [[noreturn]] void fail(std::string_view where, std::string_view what) const {
    throw corrupt_state_file(file_ + ": corrupt state file: " + std::string(where) + ": " + std::string(what));
  }
  const json::object& object(const json::value& v, std::string_view where) const {
    if (!v.is_object()) fail(where, "expected an object");
    return v.get_object();
  }
  const json::value& field(const json::object& o, std::string_view name, std::string_view where) const {
    const auto* v = o.if_contains(name);
    if (!v) fail(where, "missing \"" + std::string(name) + "\"");
    return *v;
  }
  std::string text(const json::object& o, std::string_view name, std::string_view where, bool required) const {
    const auto* v = o.if_contains(name);
    if (!v || v->is_null()) {
      if (required) fail(where, "missing \"" + std::string(name) + "\"");
      return {};
    }
    if (!v->is_string()) fail(where, "\"" + std::string(name) + "\" is not a string");
    return std::string(v->get_string());
  }
  std::int64_t integer(const json::value& v, std::string_view where) const {
    if (v.is_int64()) return v.get_int64();
    if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
      return static_cast<std::int64_t>(v.get_uint64());
    }
    fail(where, "expected an integer");
  }
  std::uint64_t count(const json::object& o, std::string_view name, std::string_view where) const {
    const auto* v = o.if_contains(name);
    if (!v) return 0;
    if (v->is_uint64()) return v->get_uint64();
    if (v->is_int64() && v->get_int64() >= 0) return static_cast<std::uint64_t>(v->get_int64());
    fail(std::string(where) + "." + std::string(name), "expected a non-negative integer");
  }

 private:
  std::string file_;
};

persisted_key read_key(const reader& r, const json::value& value, const std::string& where) {
  const auto& o = r.object(value, where);
  persisted_key key;
  key.fingerprint = r.text(o, "fingerprint", where, true);
  if (key.fingerprint.empty()) r.fail(where, "empty fingerprint");
  key.label = r.text(o, "label", where, false);
  const std::string state = r.text(o, "state", where, true);
  const auto parsed = parse_key_state(state);
  if (!parsed) r.fail(where, "unknown state '" + state + "'");
  key.state = *parsed;
  key.reason = r.text(o, "reason", where, false);
  key.last_error = r.text(o, "last_error", where, false);
  if (const auto* until = o.if_contains("cooling_until_ms"); until && !until->is_null()) {
    key.cooling_until = from_epoch_ms(r.integer(*until, where + ".cooling_until_ms"));
  }
  if (const auto* probed = o.if_contains("last_probe_ms"); probed && !probed->is_null()) {
    key.last_probe = from_epoch_ms(r.integer(*probed, where + ".last_probe_ms"));
  }
  if (const auto* credit = o.if_contains("credit_left"); credit && !credit->is_null()) {
    if (!credit->is_number()) r.fail(where + ".credit_left", "expected a number");
    key.credit_left = credit->to_number<double>();
  }
  if (const auto* c = o.if_contains("counters")) {
    const std::string cw = where + ".counters";
    const auto& counters = r.object(*c, cw);
    key.counters.requests = r.count(counters, "requests", cw);
    key.counters.successes = r.count(counters, "successes", cw);
    key.counters.client_errors = r.count(counters, "client_errors", cw);
    key.counters.failures = r.count(counters, "failures", cw);
    key.counters.cancelled = r.count(counters, "cancelled", cw);
    key.counters.consecutive_429 = static_cast<std::uint32_t>(
        std::min<std::uint64_t>(r.count(counters, "consecutive_429", cw), UINT32_MAX));
  }
  return key;
}

// First probes of restored disabled keys already due are this far apart: a proxy started after a
// long stop must not probe every disabled key in the same instant.
constexpr milliseconds restored_probe_spacing{1'000};

// When a restored disabled key counts as last probed, in steady time: its next probe comes one
// interval after the persisted one. A file from before last_probe_ms gives its save time (the
// last probe was no later); without either the schedule starts now, as before.
class probe_schedule {
 public:
  probe_schedule(std::optional<wall_time> saved_at, steady_time now, wall_time now_wall, std::chrono::seconds interval)
      : saved_at_(saved_at), now_(now), now_wall_(now_wall), interval_(interval) {}

  steady_time last_probe(const persisted_key& p) {
    const std::optional<wall_time> probed = p.last_probe ? p.last_probe : saved_at_;
    if (!probed) return now_;
    // A clock set back makes no negative age; an age past the interval only says "due".
    const milliseconds since = std::clamp(std::chrono::floor<milliseconds>(now_wall_ - *probed), milliseconds(0),
                                          milliseconds(interval_));
    if (since < interval_) return now_ - since;
    return now_ - interval_ + std::min<milliseconds>(restored_probe_spacing * due_++, interval_);
  }

 private:
  std::optional<wall_time> saved_at_;
  steady_time now_;
  wall_time now_wall_;
  std::chrono::seconds interval_;
  int due_ = 0;
};

// A cool-down left in the file, no longer than a live one can be: a corrupt or hand-edited
// instant centuries ahead would otherwise bench the key for good.
struct restored_cooldown {
  milliseconds left;
  std::string note;  // for the reason when it was cut
};

restored_cooldown cooldown_left(wall_time until, wall_time now_wall) {
  const milliseconds left = std::chrono::ceil<milliseconds>(until - now_wall);
  if (left <= max_cooldown_hint) return {left, {}};
  return {max_cooldown_hint, " (cool-down cut to " + std::to_string(max_cooldown_hint.count() / 86'400'000) +
                                 " days, the longest the proxy sets; the file said " +
                                 std::to_string(left.count() / 86'400'000) + " days)"};
}

[[noreturn]] void fail_io(const std::string& what, const std::filesystem::path& file) {
  throw state_file_error(file.string() + ": " + what + ": " + std::strerror(errno));
}

}  // namespace

std::string serialize_state(const std::vector<key_snapshot>& keys, wall_time now_wall) {
  json::array list;
  for (const auto& k : keys) {
    json::object o;
    o["fingerprint"] = k.fingerprint;
    // Already masked upstream; masked again so that no path can put a secret into this file.
    o["label"] = mask_secrets(k.display);
    o["state"] = to_string(k.state);
    o["reason"] = mask_secrets(k.reason);
    o["last_error"] = mask_secrets(k.last_error);
    if (k.state == key_state::cooling && k.cooling_left) {
      o["cooling_until_ms"] = to_epoch_ms(now_wall + *k.cooling_left);
    }
    if (is_disabled(k.state) && k.since_last_probe) {
      o["last_probe_ms"] = to_epoch_ms(now_wall - *k.since_last_probe);
    }
    o["credit_left"] = k.credit_left ? json::value(*k.credit_left) : json::value(nullptr);
    o["counters"] = json::object{{"requests", k.counters.requests},
                                 {"successes", k.counters.successes},
                                 {"client_errors", k.counters.client_errors},
                                 {"failures", k.counters.failures},
                                 {"cancelled", k.counters.cancelled},
                                 {"consecutive_429", k.counters.consecutive_429}};
    list.push_back(std::move(o));
  }
  json::object root{{"version", format_version}, {"saved_at_ms", to_epoch_ms(now_wall)}, {"keys", std::move(list)}};
  return json::serialize(root) + "\n";
}

persisted_state parse_state(std::string_view text, std::string_view file_name) {
  const reader r(file_name);
  boost::system::error_code ec;
  const json::value root = json::parse(text, ec);
  if (ec) r.fail("JSON", ec.message());
  const auto& top = r.object(root, "top level");
  if (r.integer(r.field(top, "version", "top level"), "version") != format_version) {
    r.fail("version", "unsupported format version");
  }
  persisted_state state;
  if (const auto* saved = top.if_contains("saved_at_ms"); saved && !saved->is_null()) {
    state.saved_at = from_epoch_ms(r.integer(*saved, "saved_at_ms"));
  }
  const json::value& keys = r.field(top, "keys", "top level");
  if (!keys.is_array()) r.fail("keys", "expected an array");
  std::size_t index = 0;
  for (const auto& value : keys.get_array()) {
    persisted_key key = read_key(r, value, "keys[" + std::to_string(index++) + "]");
    const std::string fingerprint = key.fingerprint;
    state.keys.insert_or_assign(fingerprint, std::move(key));
  }
  return state;
}

std::optional<persisted_state> load_state_file(const std::filesystem::path& file) {
  std::error_code exists_error;
  if (!std::filesystem::exists(file, exists_error) && !exists_error) return std::nullopt;
  std::ifstream in(file, std::ios::binary);
  if (!in) fail_io("cannot read state file", file);
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) fail_io("cannot read state file", file);
  return parse_state(content.str(), file.string());
}

std::filesystem::path set_aside_corrupt(const std::filesystem::path& file, wall_time now_wall) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now_wall);
  std::tm tm{};
  char stamp[32] = "unknown-time";
  if (::gmtime_r(&seconds, &tm)) std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  std::filesystem::path aside = file;
  aside += std::string(".corrupt-") + stamp;
  std::error_code ec;
  std::filesystem::rename(file, aside, ec);
  if (ec) throw state_file_error(file.string() + ": cannot rename it to " + aside.string() + ": " + ec.message());
  return aside;
}

void write_state_file(const std::filesystem::path& file, const std::vector<key_snapshot>& keys, wall_time now_wall) {
  try {
    util::write_file_atomically(file, serialize_state(keys, now_wall), 0600);
  } catch (const util::file_error& e) {
    throw state_file_error(e.what());
  }
}

// key_pool::restore lives with the file format it reads.
void key_pool::restore(const persisted_state& state, steady_time now, wall_time now_wall,
                       std::chrono::seconds probe_interval) {
  std::lock_guard lock(mutex_);
  // The probe schedule carries on across a restart rather than starting again at each: a proxy
  // restarted more often than the interval (one per CI job) would otherwise never probe a key.
  probe_schedule probes(state.saved_at, now, now_wall, probe_interval);
  for (auto& e : entries_) {
    const auto it = state.keys.find(e.key->fingerprint());
    if (it == state.keys.end()) continue;
    const persisted_key& p = it->second;
    e.counters = p.counters;
    e.last_error = p.last_error;
    e.credit_left = p.credit_left;
    if (p.state == key_state::cooling && p.cooling_until && *p.cooling_until > now_wall) {
      const auto cooldown = cooldown_left(*p.cooling_until, now_wall);
      e.cooling_until = now + cooldown.left;
      set_state(e, key_state::cooling, now, "restored: " + p.reason + cooldown.note);
    } else if (is_disabled(p.state)) {
      set_state(e, p.state, now, "restored: " + p.reason);
      e.last_probe = probes.last_probe(p);
    }
  }
  // Keys not in keys.csv now are remembered as removed, so that their state returns with them.
  for (const auto& kv : state.keys) {
    // Named, not a structured binding: clang before 16 (the fuzz build) cannot capture one.
    const std::string& fingerprint = kv.first;
    const auto& p = kv.second;
    const auto is_it = [&](const removed_key& r) { return r.fingerprint == fingerprint; };
    if (find(fingerprint) || std::any_of(removed_.begin(), removed_.end(), is_it)) continue;
    entry gone;
    gone.counters = p.counters;
    gone.last_error = p.last_error;
    gone.credit_left = p.credit_left;
    gone.reason = p.reason;
    gone.state_since = now;
    if (p.state == key_state::cooling && p.cooling_until && *p.cooling_until > now_wall) {
      const auto cooldown = cooldown_left(*p.cooling_until, now_wall);
      gone.state = key_state::cooling;
      gone.cooling_until = now + cooldown.left;
      gone.reason += cooldown.note;
    } else if (is_disabled(p.state)) {
      gone.state = p.state;
      gone.last_probe = probes.last_probe(p);
    }
    remember_removed(fingerprint, p.label, std::move(gone));
  }
}

}  // namespace orp::keys
