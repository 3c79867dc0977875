#include "app/run.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <csignal>
#include <fstream>
#include <iostream>

#include "admin/admin_server.hpp"
#include "app/client_env.hpp"
#include "app/file_checks.hpp"
#include "app/key_maintenance.hpp"
#include "app/parse_setting.hpp"
#include "keys/keys_csv.hpp"
#include "log/logging.hpp"
#include "net/loopback.hpp"
#include "proxy/server.hpp"
#include "state/redis_url.hpp"
#include "state/shared_state.hpp"
#include "tls/ca.hpp"
#include "tls/contexts.hpp"
#include "tls/leaf_cache.hpp"
#include "util/allocator.hpp"
#include "util/fd_limit.hpp"
#include "util/atomic_file.hpp"
#include "util/error_text.hpp"
#include "util/instance_lock.hpp"

namespace orp::app {

namespace asio = net::asio;

namespace {

struct startup_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};


std::string endpoint_text(const net::tcp::endpoint& ep) {
  auto addr = ep.address().to_string();
  if (ep.address().is_v6()) addr = "[" + addr + "]";
  return addr + ":" + std::to_string(ep.port());
}

// A CA error names the settings once and "the local CA" once: many of them begin with it.
std::string ca_error_text(std::string_view what) {
  constexpr std::string_view subject = "the local CA";
  std::string out(subject);
  out += " (tls.ca_cert, tls.ca_key)";
  if (what.starts_with(subject)) what.remove_prefix(subject.size());
  else out += ": ";
  out += what;
  return out;
}

tls::certificate_authority prepare_ca(const config::settings& cfg) {
  auto hosts = cfg.list("proxy.intercept_hosts");
  auto cert = cfg.path("tls.ca_cert"), key = cfg.path("tls.ca_key");
  auto outcome = tls::ensure_ca(cert, key, hosts, false, std::chrono::system_clock::now());
  for (const auto& warning : outcome.warnings) log::warn("{}", warning);
  if (outcome.status == tls::ca_status::created)
    log::info("created the local CA at {} (key {}, mode 0600)", cert.string(), key.string());
  return tls::certificate_authority::load(cert, key);
}

proxy::limits limits_from(const config::settings& cfg) {
  proxy::limits lim;
  lim.max_request_body = cfg.size("proxy.max_request_body");
  lim.max_body_memory = cfg.size("proxy.max_body_memory");
  lim.header_timeout = cfg.duration("proxy.header_timeout");
  lim.idle_timeout = cfg.duration("proxy.idle_timeout");
  lim.tunnel_idle_timeout = cfg.duration("proxy.tunnel_idle_timeout");
  lim.connect_timeout = cfg.duration("upstream.connect_timeout");
  lim.handshake_timeout = cfg.duration("proxy.header_timeout");
  lim.max_connections = cfg.integer("proxy.max_connections");
  return lim;
}

// Raises the open-file limit (util/fd_limit.hpp) and serves no more connections than it can hold.
// Short of a max_connections the user chose, that is a warning; short of the default (10,000,
// more than many hosts' hard limit), a note at every start would only teach users to ignore it.
void apply_fd_limit(proxy::limits& lim, bool max_connections_chosen) {
  const util::fd_limits fds = util::raise_fd_limit();
  if (fds.soft == 0) return;  // unknown: leave max_connections as configured
  if (fds.raised()) log::info("open-file limit raised from {} to {} (the hard limit)", fds.soft_before, fds.soft);
  const std::int64_t allowed = std::max<std::int64_t>(1, util::connections_allowed(fds.soft));
  if (allowed >= lim.max_connections) return;
  if (max_connections_chosen)
    log::warn("the open-file limit ({}) holds about {} connections (two descriptors each), fewer than "
              "proxy.max_connections = {}: more get 503; raise the hard limit (ulimit -Hn, or LimitNOFILE= for a "
              "systemd service) to serve more",
              fds.soft, allowed, lim.max_connections);
  else
    log::info("the open-file limit ({}) holds about {} connections (two descriptors each): serving at most that "
              "many (proxy.max_connections is at its default, {}); raise the hard limit (ulimit -Hn, or LimitNOFILE= "
              "for a systemd service) to serve more",
              fds.soft, allowed, lim.max_connections);
  lim.max_connections = allowed;
}

forward::forward_settings forward_from(const config::settings& cfg) {
  forward::forward_settings f;
  f.request_timeout = cfg.duration("upstream.request_timeout");
  f.stream_idle_timeout = cfg.duration("upstream.stream_idle_timeout");
  f.max_retries = static_cast<int>(cfg.integer("retry.max_retries"));
  f.retry_delay = cfg.seconds("retry.retry_delay");
  f.max_retry_delay = cfg.seconds("retry.max_retry_delay");
  return f;
}

log::log_options log_options_from(const config::settings& cfg) {
  log::log_options o;
  o.file = cfg.path("log.file");
  o.level = cfg.text("log.level");
  o.json = cfg.text("log.format") == "json";
  o.max_size = cfg.size("log.max_size");
  o.max_files = static_cast<std::size_t>(cfg.integer("log.max_files"));
  return o;
}

// Set by a second SIGINT/SIGTERM during the drain: the user wants out now, not in
// proxy.drain_timeout. Read and written on the main loop's thread only.
struct drain_control {
  bool cut_now = false;
};

// Waits until no request is in flight, or until `until`, or until the drain is cut.
asio::awaitable<void> wait_for_no_requests(asio::steady_timer& tick, const proxy::shared_context& shared,
                                           net::clock::time_point until, const drain_control& control) {
  while (shared.active_requests.load() > 0 && net::clock::now() < until && !control.cut_now) {
    tick.expires_after(std::chrono::milliseconds(20));
    co_await tick.async_wait(net::use_tuple);
  }
}

// Waits (up to proxy.drain_timeout, or until a second signal) for in-flight requests to finish,
// cuts short what is left, gives those a moment to end and write their access lines, then stops
// the main loop.
asio::awaitable<void> drain_and_stop(asio::io_context& io, proxy::server& srv, proxy::shared_context& shared,
                                     net::clock::duration drain, const drain_control& control) {
  asio::steady_timer tick(io);
  co_await wait_for_no_requests(tick, shared, net::clock::now() + drain, control);
  if (auto left = shared.active_requests.load(); left > 0) {
    if (control.cut_now)
      log::warn("stopping: {} requests still in flight are cut short now (a second signal); their access lines "
                "say error=\"proxy stopping: ...\"",
                left);
    else
      log::warn("stopping: {} requests still in flight after proxy.drain_timeout ({} s; streams, mostly) are cut "
                "short; their access lines say error=\"proxy stopping: ...\"",
                left, std::chrono::duration<double>(drain).count());
    srv.cut_in_flight();
    const drain_control no_cut;  // the 2 s grace below is for access lines, not the user's wait
    co_await wait_for_no_requests(tick, shared, net::clock::now() + std::chrono::seconds(2), no_cut);
    if (auto stuck = shared.active_requests.load(); stuck > 0)
      log::warn("{} of them did not end within 2 s (an upstream connect, most likely) and get no access line", stuck);
  }
  io.stop();
}

// certs/bundle.pem = the system roots + our CA, for clients whose setting replaces the default
// bundle (curl, requests, git, npm). A machine without a system bundle only loses that file.
void write_bundle(const config::settings& cfg) {
  auto ca_cert = cfg.path("tls.ca_cert");
  try {
    write_ca_bundle(ca_cert, ca_cert.parent_path() / "bundle.pem");
  } catch (const std::exception& e) {
    log::warn("not writing {}: {}", (ca_cert.parent_path() / "bundle.pem").string(), e.what());
  }
}

// "256.1.1.1": dotted digits that make no IPv4 address, rather than a name to look up.
bool looks_like_ipv4(std::string_view host) {
  return std::ranges::all_of(host, [](char c) { return c == '.' || (c >= '0' && c <= '9'); });
}

// A listen address that names no address of any machine is said to be that, not "reachable
// from other machines" (what the exposure check below would make of it).
void check_listen_host(const config::settings& cfg, std::string_view setting) {
  const std::string host = cfg.address(setting).host;
  if (host.empty()) return;
  net::error_code ec;
  (void)asio::ip::make_address(host, ec);
  if (!ec) return;
  const std::string named = std::string(setting) + " = " + cfg.text(setting) + ": ";
  if (looks_like_ipv4(host)) throw startup_error(named + "'" + host + "' is not a valid IP address");
  asio::io_context io(1);
  net::tcp::resolver resolver(io);
  (void)resolver.resolve(host, "", ec);
  if (ec)
    throw startup_error(named + "cannot resolve '" + host + "' (" + ec.message() +
                        "): name an address of this machine, e.g. 127.0.0.1");
}

// A proxy or admin endpoint reachable from other machines must not be open to all of them.
void check_exposure(const config::settings& cfg) {
  check_listen_host(cfg, "proxy.listen");
  check_listen_host(cfg, "admin.listen");
  parse_setting("proxy.clients", [&] { return proxy::client_credentials(cfg.text("proxy.clients")); });
  auto listen = cfg.address("proxy.listen");
  if (!net::is_loopback_host(listen.host) && proxy::client_credentials(cfg.text("proxy.clients")).empty())
    throw startup_error("proxy.listen = " + cfg.text("proxy.listen") +
                        " is reachable from other machines but proxy.clients is empty: add clients "
                        "(proxy.clients = name:secret,...) or listen on 127.0.0.1");
  auto admin = cfg.address("admin.listen");
  if (!admin.host.empty() && !net::is_loopback_host(admin.host) && cfg.text("admin.token").empty())
    throw startup_error("admin.listen = " + cfg.text("admin.listen") +
                        " is not loopback: set admin.token (clients then send Authorization: Bearer <token>)");
}

}  // namespace

int run(const config::settings& cfg, const run_options& opts) {
  std::unique_ptr<tls::certificate_authority> ca;
  std::unique_ptr<tls::leaf_cache> leaves;
  std::vector<keys::key_record> records;
  upstream::target target;
  upstream::resolve_overrides overrides;
  tls::ssl_ctx_ptr client_ctx;
  util::instance_lock state_lock;  // held until the process ends
  try {
    // Everything the user can get wrong is checked before anything is created or logged.
    check_distinct_files(cfg);
    target = parse_setting("upstream.api_url", [&] { return upstream::parse_api_url(cfg.text("upstream.api_url")); });
    overrides = parse_setting("upstream.resolve",
                              [&] { return upstream::parse_resolve_overrides(cfg.text("upstream.resolve")); });
    check_exposure(cfg);
    config::check_combinations(cfg);
    if (cfg.text("state.backend") == "redis")
      parse_setting("state.redis_url", [&] { return state::parse_redis_url(cfg.text("state.redis_url")); });
    records = keys::read_keys_csv(checked_keys_file(cfg));
    check_state_file(cfg);
    if (const auto state_file = cfg.path("keys.state_file"); !state_file.empty()) {
      try {
        state_lock = util::instance_lock::acquire(state_file);
      } catch (const std::exception& e) {
        throw startup_error("keys.state_file = " + state_file.string() + ": " + e.what() +
                            "; stop that one, or give this one a keys.state_file of its own");
      }
    }
    client_ctx = upstream_client_context(cfg);
    try {
      log::init(log_options_from(cfg));
    } catch (const std::exception& e) {
      throw startup_error("log.file = " + cfg.text("log.file") + ": " + util::error_text(e));
    }
    try {
      ca = std::make_unique<tls::certificate_authority>(prepare_ca(cfg));
    } catch (const tls::tls_error& e) {
      throw startup_error(ca_error_text(e.what()));
    }
    write_bundle(cfg);
    leaves = std::make_unique<tls::leaf_cache>(*ca);
  } catch (const std::exception& e) {
    std::cerr << "openrouter-proxy: " << util::error_text(e) << "\n";
    return 2;
  }

  auto strategy = keys::parse_strategy(cfg.text("keys.strategy")).value_or(keys::strategy::round_robin);
  keys::key_pool pool(strategy, std::random_device{}());
  warn_about_keys_file(records, cfg.path("keys.file"));
  pool.replace(std::move(records));
  if (pool.size() == 0)
    log::warn("{}", empty_pool_warning(cfg.path("keys.file")));
  else
    log::info("loaded {} keys from {}", pool.size(), cfg.path("keys.file").string());

  asio::io_context main_io(1);
  upstream::connection_pool probe_pool(main_io.get_executor(), client_ctx.get(), target, overrides,
                                       cfg.duration("upstream.connect_timeout"),
                                       cfg.duration("upstream.pool_idle_timeout"));
  maintenance_options mopts{cfg.path("keys.file"), cfg.path("keys.state_file"),
                            std::chrono::seconds(static_cast<long>(cfg.seconds("keys.key_recovery_interval")))};
  key_maintenance maintenance(main_io, pool, probe_pool, mopts);
  maintenance.restore_state();
  // After the restore, before serving: the first requests already see the fleet's key state.
  auto fleet = state::make_shared_state(cfg, pool);
  if (fleet) {
    fleet->start();
    // The lock lapses just before the next local probe is due, so its owner keeps it.
    const auto interval = std::chrono::duration_cast<std::chrono::milliseconds>(mopts.recovery_interval);
    const auto lock_ttl = interval - std::min<std::chrono::milliseconds>(interval / 10, std::chrono::milliseconds(200));
    maintenance.set_probe_gate([&fleet, lock_ttl](std::string fingerprint) {
      return state::acquire_probe_lock(*fleet, std::move(fingerprint), lock_ttl);
    });
  }

  proxy::shared_context shared;
  shared.intercept_hosts = cfg.list("proxy.intercept_hosts");
  shared.tunnel = proxy::tunnel_policy::parse(cfg.text("proxy.tunnel"));
  shared.clients = proxy::client_credentials(cfg.text("proxy.clients"));
  shared.leaves = leaves.get();
  shared.lim = limits_from(cfg);
  shared.bodies.set_limit(shared.lim.max_body_memory);
  apply_fd_limit(shared.lim, !cfg.at_default("proxy.max_connections"));
  auto fwd = forward_from(cfg);
  proxy::upstream_options up{client_ctx.get(), target, overrides, cfg.duration("upstream.connect_timeout"),
                             cfg.duration("upstream.pool_idle_timeout")};
  unsigned workers = static_cast<unsigned>(cfg.integer("proxy.workers"));
  if (workers == 0) workers = std::max(1u, std::thread::hardware_concurrency());

  admin::metrics request_metrics;
  proxy::server srv(main_io, shared, pool, fwd, up, workers, &request_metrics);
  std::string bound;
  try {
    bound = endpoint_text(srv.listen(cfg.address("proxy.listen")));
  } catch (const std::exception& e) {
    std::cerr << "openrouter-proxy: cannot listen on proxy.listen = " << cfg.text("proxy.listen") << ": "
              << util::error_text(e) << "\n";
    return 2;
  }
  std::unique_ptr<admin::admin_server> admin;
  std::string admin_bound;
  if (auto where = cfg.address("admin.listen"); !where.host.empty()) {
    admin::sources src;
    src.keys = &pool;
    src.requests = &request_metrics;
    src.extra_metrics = [&srv, &fleet](std::string& out) {
      srv.render_metrics(out);
      if (fleet) fleet->render_metrics(out);
    };
    src.extra_stats = [&srv](boost::json::object& o) { srv.add_stats(o); };
    src.reload_keys = [&maintenance] { return maintenance.reload("admin request"); };
    src.keys_file_error = [&maintenance] { return maintenance.keys_file_error(); };
    src.token = cfg.text("admin.token");
    admin = std::make_unique<admin::admin_server>(main_io, std::move(src));
    try {
      admin_bound = endpoint_text(admin->listen(where));
    } catch (const std::exception& e) {
      std::cerr << "openrouter-proxy: cannot listen on admin.listen = " << cfg.text("admin.listen") << ": "
                << util::error_text(e)
                << "\n";
      return 2;
    }
    admin->start();
    log::info("admin endpoint on http://{}/ (/healthz /metrics /keys)", admin_bound);
  }
  srv.start();
  maintenance.start();
  log::info("openrouter-proxy {} listening on {} ({} workers, {}), intercepting {}, upstream {}", ORP_VERSION, bound,
            workers, util::allocator_name(), cfg.text("proxy.intercept_hosts"), cfg.text("upstream.api_url"));
  asio::signal_set signals(main_io, SIGINT, SIGTERM);
  drain_control drain;
  auto on_second_signal = [&](const net::error_code& ec, int sig) {
    if (ec) return;
    log::info("received signal {} again: cutting the drain short now", sig);
    drain.cut_now = true;
  };
  signals.async_wait([&](const net::error_code& ec, int sig) {
    if (ec) return;
    log::info("received signal {}: no new connections, finishing in-flight requests (send it again to cut them "
              "short now)",
              sig);
    shared.stopping = true;
    srv.wake_waiters();  // after the flag: a request about to wait sees it, one waiting is woken
    srv.stop_accepting();
    if (admin) admin->stop();
    signals.async_wait(on_second_signal);
    asio::co_spawn(main_io, drain_and_stop(main_io, srv, shared, cfg.duration("proxy.drain_timeout"), drain),
                   asio::detached);
  });
  asio::signal_set hangup(main_io, SIGHUP);
  std::function<void(const net::error_code&, int)> on_hangup = [&](const net::error_code& ec, int) {
    if (ec) return;
    // SIGHUP is often sent to reload a configuration: say that config.ini is not reloaded.
    if (cfg.source_changed())
      log::warn("{} changed since the start: restart to apply it (SIGHUP reloads only keys.csv)",
                cfg.source_file().string());
    maintenance.reload("SIGHUP");
    hangup.async_wait(on_hangup);
  };
  hangup.async_wait(on_hangup);
  if (!opts.ready_file.empty()) {
    boost::json::object ready{{"proxy", bound}, {"admin", admin_bound}, {"pid", ::getpid()}};
    util::write_file_atomically(opts.ready_file, boost::json::serialize(ready));
  }

  main_io.run();
  // The drain is over; what is left (workers joined, the fleet's queue sent, the state saved) is
  // bounded. Asio restores the default action when its signal sets go, so a SIGTERM repeated by
  // a supervisor (or a SIGHUP) in that window used to kill the process before its state was
  // saved: ignored from here on.
  signals.clear();
  hangup.clear();
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) std::signal(sig, SIG_IGN);
  srv.stop();
  if (fleet) fleet->stop();  // sends what is still queued, bounded
  maintenance.flush();
  log::info("stopped");
  log::shutdown();
  return 0;
}

}  // namespace orp::app
