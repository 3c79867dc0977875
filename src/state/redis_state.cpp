#include "state/redis_state.hpp"

#include "admin/metrics.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <random>

#include "log/logging.hpp"

namespace orp::state {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using wall = std::chrono::system_clock;
using std::chrono::milliseconds;

namespace {

std::string make_instance_id() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "%08x", std::random_device{}());
  return std::string(host) + ":" + std::to_string(::getpid()) + ":" + suffix;
}


}  // namespace

milliseconds jittered(milliseconds d) {
  thread_local std::mt19937 rng(std::random_device{}());
  return milliseconds(std::uniform_int_distribution<long>(d.count() / 2, d.count())(rng));
}

redis_state::redis_state(keys::key_pool& pool, redis_options options)
    : pool_(pool),
      options_(std::move(options)),
      instance_id_(make_instance_id()),
      script_{events_channel(options_.endpoint.db), instance_id_, options_.record_ttl},
      queue_(options_.max_queued_keys),
      view_(instance_id_) {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

redis_state::~redis_state() {
  stop();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

bool redis_state::stopping() const {
  std::lock_guard lock(mutex_);
  return stopping_;
}

void redis_state::start() {
  if (started_) return;
  started_ = true;
  // Counters restored from the state file were sent by the run that counted them.
  for (const auto& k : pool_.snapshot(steady::now())) counters_sent_[k.fingerprint] = k.counters;
  pool_.set_observer([this](const keys::key_event& e) { on_local_change(e); });
  sync_thread_ = std::thread([this] { sync_loop(); });
  sub_thread_ = std::thread([this] { subscribe_loop(); });
  std::unique_lock lock(mutex_);
  wake_.wait_for(lock, options_.start_wait, [&] { return first_attempt_done_; });
}

void redis_state::stop() {
  if (!started_) return;
  started_ = false;
  pool_.set_observer(nullptr);
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  wake_subscriber();
  if (sync_thread_.joinable()) sync_thread_.join();
  if (sub_thread_.joinable()) sub_thread_.join();
  std::vector<lock_request> left;
  {
    std::lock_guard lock(mutex_);
    left = std::exchange(lock_requests_, {});
  }
  for (auto& r : left) r.done(true);
}

void redis_state::wake_subscriber() {
  const std::uint64_t one = 1;
  if (wake_fd_ >= 0) [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

void redis_state::first_attempt_done() {
  {
    std::lock_guard lock(mutex_);
    if (first_attempt_done_) return;
    first_attempt_done_ = true;
  }
  wake_.notify_all();
}

// Runs under the pool's lock, on whatever thread changed the key: queue and return.
void redis_state::on_local_change(const keys::key_event& e) {
  auto update = to_update(e, steady::now(), wall::now());
  {
    std::lock_guard lock(mutex_);
    queue_.push(std::move(update));
  }
  wake_.notify_all();
}

void redis_state::try_probe_lock(std::string fingerprint, milliseconds ttl, std::function<void(bool)> done) {
  {
    std::lock_guard lock(mutex_);
    if (up_.load() && !stopping_) {
      lock_requests_.push_back({std::move(fingerprint), ttl, std::move(done)});
      done = nullptr;
    }
  }
  if (done) {
    done(true);  // the fleet cannot be asked: probing locally beats never recovering
    return;
  }
  wake_.notify_all();
}

// ---------------------------------------------------------------------------------------------
// sync thread

void redis_state::sync_loop() {
  block_sigpipe();
  milliseconds backoff = options_.min_backoff;
  auto next_attempt = steady::now();
  auto next_reconcile = steady::now() + options_.reconcile_every;
  while (!stopping()) {
    if (!conn_) {
      if (steady::now() >= next_attempt) {
        if (connect_and_catch_up()) {
          backoff = options_.min_backoff;
          next_reconcile = steady::now() + options_.reconcile_every;
        } else {
          next_attempt = steady::now() + jittered(backoff);
          backoff = std::min(backoff * 2, options_.max_backoff);
        }
        first_attempt_done();
        continue;
      }
      std::vector<lock_request> granted;
      {
        std::unique_lock lock(mutex_);
        wake_.wait_until(lock, next_attempt, [&] { return stopping_ || !lock_requests_.empty(); });
        granted = std::exchange(lock_requests_, {});
      }
      for (auto& r : granted) r.done(true);
      continue;
    }

    std::vector<pending_update> updates;
    std::vector<lock_request> locks;
    bool full = false;
    {
      std::unique_lock lock(mutex_);
      wake_.wait_until(lock, next_reconcile, [&] {
        return stopping_ || !queue_.empty() || !lock_requests_.empty() || reconcile_requested_;
      });
      if (stopping_) break;
      updates = queue_.take_all();
      locks = std::exchange(lock_requests_, {});
      full = std::exchange(reconcile_requested_, false) || steady::now() >= next_reconcile;
    }
    bool ok = send_updates(std::move(updates), update_op::change);
    if (ok) ok = serve_locks(locks);
    else
      for (auto& r : locks) r.done(true);
    if (ok && full) {
      ok = push_counters() && reconcile();
      next_reconcile = steady::now() + options_.reconcile_every;
    }
    if (!ok) {
      lost(conn_ ? conn_->error() : std::string("connection lost"));
      next_attempt = steady::now() + jittered(backoff);
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
  }
  // Last words: what is still queued, within the I/O timeout.
  if (conn_) {
    std::vector<pending_update> updates;
    {
      std::lock_guard lock(mutex_);
      updates = queue_.take_all();
    }
    send_updates(std::move(updates), update_op::change);
  }
  conn_.reset();
  up_ = false;
}

bool redis_state::connect_and_catch_up() {
  std::string error;
  conn_ = redis_connection::open(options_.endpoint, options_.io_timeout, true, error);
  if (!conn_) {
    lost(error);
    return false;
  }
  auto loaded = conn_->command({"SCRIPT", "LOAD", std::string(update_script)});
  if (!loaded || loaded->type != REDIS_REPLY_STRING) {
    lost(loaded ? "SCRIPT LOAD: " + reply_text(loaded.get()) : conn_->error());
    return false;
  }
  script_sha_ = reply_text(loaded.get());
  // Changes made while Redis was away, then what a fresh Redis lacks, then everyone else's news.
  std::vector<pending_update> queued;
  {
    std::lock_guard lock(mutex_);
    queued = queue_.take_all();
  }
  const std::size_t sent = queued.size();
  if (!send_updates(std::move(queued), update_op::change) || !send_updates(local_state_for_seed(), update_op::seed) ||
      !push_counters() || !reconcile()) {
    lost(conn_ ? conn_->error() : std::string("connection lost"));
    return false;
  }
  up_ = true;
  ++connects_;
  if (!ever_connected_)
    log::info("shared key state in redis {} (instance {})", options_.endpoint.display(), instance_id_);
  else
    log::info("redis {} is reachable again: sent {} queued key changes and reconciled", options_.endpoint.display(),
              sent);
  ever_connected_ = true;
  warned_down_ = false;
  return true;
}

// One warning per outage, not one per attempt (or request): the proxy carries on with local state.
void redis_state::lost(std::string_view why) {
  conn_.reset();
  drop_pending_sigpipe();
  if (up_.exchange(false)) ++disconnects_;
  if (!warned_down_) {
    log::warn("redis {} unreachable ({}): serving with local key state, reconnecting in the background",
              options_.endpoint.display(), why);
    warned_down_ = true;
  } else {
    log::debug("redis {} still unreachable: {}", options_.endpoint.display(), why);
  }
}

bool redis_state::send_updates(std::vector<pending_update> updates, update_op op) {
  if (updates.empty()) return true;
  for (const auto& u : updates) conn_->append(update_command(script_sha_, u, op, script_));
  std::size_t done = 0;
  for (; done < updates.size(); ++done) {
    auto r = conn_->read_reply();
    if (!r) break;
    if (r->type == REDIS_REPLY_ERROR && !reply_text(r.get()).starts_with("NOSCRIPT")) {
      // Refused for good (a key of the wrong type put there by hand, say): sending it again would
      // fail the same way forever and hold up every update queued behind it.
      log::warn("redis refused the update of key {}: {}; dropped (fix or delete that redis key)", updates[done].label,
                reply_text(r.get()));
      continue;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
      log::debug("redis update of key {} refused: {}", updates[done].label, reply_text(r.get()));
      break;  // NOSCRIPT after a Redis restart, for one: reconnecting loads the script again
    }
    const bool changed = r->element[0]->integer == 1;
    const auto version = static_cast<std::uint64_t>(r->element[1]->integer);
    ++sent_;
    // A status this instance just wrote (or found already there) is no news to it.
    if (updates[done].status && (op == update_op::change || changed)) {
      std::lock_guard lock(view_mutex_);
      view_.acknowledge(updates[done].fingerprint, version);
    }
  }
  if (done == updates.size()) return true;
  if (op == update_op::change) {
    // Unconfirmed updates go back; the script makes a repeat harmless.
    updates.erase(updates.begin(), updates.begin() + static_cast<std::ptrdiff_t>(done));
    std::lock_guard lock(mutex_);
    queue_.put_back(std::move(updates));
  }
  if (conn_ && !conn_->broken()) conn_.reset();  // replies of the rest are still in flight
  return false;
}

bool redis_state::serve_locks(std::vector<lock_request>& requests) {
  bool ok = true;
  for (auto& req : requests) {
    if (!ok) {
      req.done(true);
      continue;
    }
    const std::string name = probe_lock_name(req.fingerprint), ttl = std::to_string(std::max<long long>(1, req.ttl.count()));
    auto r = conn_->command({"SET", name, instance_id_, "NX", "PX", ttl});
    if (!r) ok = false;
    if (r && r->type == REDIS_REPLY_NIL) {
      // Held by another instance, for a while: a lock left without an expiry (by hand, or by a
      // foreign tool) would stop every instance probing this key for good, so it gets one.
      auto left = conn_->command({"PTTL", name});
      if (left && left->type == REDIS_REPLY_INTEGER && left->integer == -1) conn_->command({"PEXPIRE", name, ttl});
      if (!left) ok = false;
    }
    // OK: ours for the interval; nil: another instance probes this key.
    req.done(!r || r->type != REDIS_REPLY_NIL);
  }
  return ok;
}

std::vector<pending_update> redis_state::local_state_for_seed() const {
  std::vector<pending_update> out;
  const auto now_wall = wall::now();
  for (const auto& k : pool_.snapshot(steady::now())) {
    pending_update u;
    u.fingerprint = k.fingerprint;
    u.label = k.display;
    u.at = now_wall;
    if (keys::is_disabled(k.state)) {
      u.status = k.state;
      u.status_reason = k.reason;
    } else if (k.state == keys::key_state::cooling && k.cooling_left) {
      u.cooling_until = now_wall + *k.cooling_left;
      u.cooling_reason = k.reason;
    } else {
      continue;
    }
    out.push_back(std::move(u));
  }
  return out;
}

// Counter deltas since the last push (HINCRBY). A push cut off half-way may count some twice:
// counters are for humans and dashboards, not for billing.
bool redis_state::push_counters() {
  const auto snapshot = pool_.snapshot(steady::now());
  std::vector<std::pair<std::string, keys::key_counters>> pushed;
  std::size_t commands = 0;
  for (const auto& k : snapshot) {
    const keys::key_counters& before = counters_sent_[k.fingerprint];
    const std::string key = key_name(k.fingerprint);
    bool any = false;
    auto add = [&](const char* field, std::uint64_t now, std::uint64_t then) {
      if (now <= then) return;
      conn_->append({"HINCRBY", key, field, std::to_string(now - then)});
      ++commands;
      any = true;
    };
    add("c:requests", k.counters.requests, before.requests);
    add("c:successes", k.counters.successes, before.successes);
    add("c:client_errors", k.counters.client_errors, before.client_errors);
    add("c:failures", k.counters.failures, before.failures);
    add("c:cancelled", k.counters.cancelled, before.cancelled);
    if (any) {
      conn_->append({"HSET", key, "label", k.display});
      conn_->append({"PEXPIRE", key, std::to_string(options_.record_ttl.count())});
      commands += 2;
    }
    pushed.emplace_back(k.fingerprint, k.counters);
  }
  for (std::size_t i = 0; i < commands; ++i)
    if (!conn_->read_reply()) return false;
  for (auto& [fp, counters] : pushed) counters_sent_[fp] = counters;
  return true;
}

bool redis_state::reconcile() {
  const auto snapshot = pool_.snapshot(steady::now());
  for (const auto& k : snapshot) conn_->append({"HGETALL", key_name(k.fingerprint)});
  std::vector<fleet_record> records;
  records.reserve(snapshot.size());
  for (const auto& k : snapshot) {
    auto r = conn_->read_reply();
    if (!r) return false;
    records.push_back(parse_record_fields(k.fingerprint, field_pairs(r.get())));
  }
  std::vector<std::pair<std::string, fleet_counters>> counters;
  for (std::size_t i = 0; i < records.size(); ++i) {
    apply(records[i]);
    counters.emplace_back(snapshot[i].display, records[i].counters);
  }
  std::lock_guard lock(fleet_mutex_);
  fleet_counters_ = std::move(counters);
  return true;
}

void redis_state::apply(const fleet_record& r) {
  std::lock_guard lock(view_mutex_);
  // News of a key this pool does not hold now is not taken as seen: if the key comes back to
  // keys.csv, the next reconcile brings it what the fleet decided meanwhile.
  if (!pool_.holds(r.fingerprint)) return;
  const auto now_wall = wall::now();
  auto news = view_.take(r, now_wall);
  if (news && pool_.apply_remote(r.fingerprint, *news, steady::now(), now_wall)) ++applied_;
}

// ---------------------------------------------------------------------------------------------

void redis_state::render_metrics(std::string& out) const {
  auto line = [&](const char* name, const char* type, const char* help, auto value) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " +
           std::to_string(value) + "\n";
  };
  line("orp_redis_up", "gauge", "1 when the shared-state Redis (state.redis_url) is reachable", up_.load() ? 1 : 0);
  line("orp_redis_subscribed", "gauge", "1 while subscribed to the fleet's key-change channel",
       subscribed_.load() ? 1 : 0);
  line("orp_redis_connects_total", "counter", "Connections (re)established to Redis", connects_.load());
  line("orp_redis_disconnects_total", "counter", "Connections to Redis lost", disconnects_.load());
  std::size_t queued = 0;
  std::uint64_t dropped = 0;
  {
    std::lock_guard lock(mutex_);
    queued = queue_.size();
    dropped = queue_.dropped();
  }
  line("orp_redis_queued_keys", "gauge", "Keys with local changes not yet sent to Redis", queued);
  line("orp_redis_queue_dropped_total", "counter", "Local changes dropped because the queue was full", dropped);
  line("orp_redis_updates_sent_total", "counter", "Key updates sent to Redis", sent_.load());
  line("orp_redis_messages_received_total", "counter", "Key changes received from other instances", messages_.load());
  line("orp_redis_remote_changes_applied_total", "counter", "Remote key changes that changed the local pool",
       applied_.load());
  const auto last = last_latency_us_.load();
  if (last >= 0) {
    line("orp_redis_propagation_seconds", "gauge", "Change-to-apply delay of the last message from another instance",
         static_cast<double>(last) / 1e6);
    line("orp_redis_propagation_max_seconds", "gauge", "Largest change-to-apply delay seen",
         static_cast<double>(max_latency_us_.load()) / 1e6);
  }
  std::lock_guard lock(fleet_mutex_);
  if (fleet_counters_.empty()) return;
  out += "# HELP orp_fleet_key_requests_total Requests by key across every instance sharing the Redis\n"
         "# TYPE orp_fleet_key_requests_total counter\n";
  for (const auto& [label, c] : fleet_counters_)
    out += "orp_fleet_key_requests_total{key=\"" + admin::label_value(label) + "\"} " + std::to_string(c.requests) + "\n";
  out += "# HELP orp_fleet_key_failures_total Key-specific and transient failures by key across the fleet\n"
         "# TYPE orp_fleet_key_failures_total counter\n";
  for (const auto& [label, c] : fleet_counters_)
    out += "orp_fleet_key_failures_total{key=\"" + admin::label_value(label) + "\"} " + std::to_string(c.failures) + "\n";
}

// ---------------------------------------------------------------------------------------------

}  // namespace orp::state
