// `keys check` and `keys status`.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <cstdio>
#include <iostream>
#include <unistd.h>

#include "app/commands.hpp"
#include "app/file_checks.hpp"
#include "app/parse_setting.hpp"
#include "app/table.hpp"
#include "forward/probe.hpp"
#include "keys/keys_csv.hpp"
#include "tls/contexts.hpp"
#include "upstream/target.hpp"
#include "util/error_text.hpp"

namespace orp::app {

namespace asio = net::asio;

namespace {

constexpr std::size_t kParallelProbes = 4;

std::string verdict(const forward::probe_result& r) {
  if (!r.readable) return "not checked: " + r.error;
  switch (r.status) {
    case 200:
      if (r.limit_remaining && *r.limit_remaining <= 0) return "no credit";
      return "ok";
    case 401: return "invalid";
    case 402: return "no credit";
    case 429: return "rate limited";
    case 0: return "unreachable: " + r.error;
    default: return "error " + std::to_string(r.status);
  }
}

// No answer, a timeout (408) or the upstream's own failure: the key was not checked, it is not
// known to be bad (SPEC counts 408 and 5xx as transient, never the key's fault).
bool not_checked(const forward::probe_result& r) {
  return !r.readable || r.status == 0 || r.status == 408 || r.status >= 500;
}

std::string credit_text(const forward::probe_result& r) {
  if (r.status != 200 || !r.readable) return "-";
  if (!r.limit_remaining) return "unlimited";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", *r.limit_remaining);
  return buf;
}

}  // namespace

int keys_check(const config::settings& cfg) {
  std::vector<keys::key_record> records;
  upstream::target target;
  upstream::resolve_overrides overrides;
  tls::ssl_ctx_ptr ctx;
  try {
    check_distinct_files(cfg);
    records = keys::read_keys_csv(checked_keys_file(cfg));
    target = parse_setting("upstream.api_url", [&] { return upstream::parse_api_url(cfg.text("upstream.api_url")); });
    overrides = parse_setting("upstream.resolve",
                              [&] { return upstream::parse_resolve_overrides(cfg.text("upstream.resolve")); });
    ctx = upstream_client_context(cfg);
  } catch (const std::exception& e) {
    std::cerr << "openrouter-proxy: " << e.what() << "\n";
    return 2;
  }
  if (records.empty()) {
    std::cerr << "openrouter-proxy: " << cfg.path("keys.file").string() << " holds no keys\n";
    return kKeysCheckUnusable;
  }

  asio::io_context io(1);
  upstream::connection_pool pool(io.get_executor(), ctx.get(), target,
                                 std::move(overrides),
                                 cfg.duration("upstream.connect_timeout"), std::chrono::seconds(60));
  std::vector<forward::probe_result> results(records.size());
  std::size_t next = 0, done = 0;
  bool tty = ::isatty(STDERR_FILENO);
  auto worker = [&]() -> asio::awaitable<void> {
    while (next < records.size()) {
      std::size_t i = next++;
      results[i] = co_await forward::probe_key(pool, records[i].key, cfg.duration("upstream.connect_timeout") * 3);
      // Pooled connections keep watchdogs waiting: stop the loop once every key has an answer.
      if (++done == records.size()) io.stop();
      std::cerr << (tty ? "\r" : "") << "probing keys: " << done << "/" << records.size() << (tty ? "" : "\n")
                << std::flush;
    }
  };
  for (std::size_t i = 0; i < std::min(kParallelProbes, records.size()); ++i) asio::co_spawn(io, worker(), asio::detached);
  io.run();
  if (tty) std::cerr << "\n";

  table t({"label", "key", "state", "credit left", "free tier"});
  std::size_t usable = 0, unchecked = 0;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& r = results[i];
    auto v = verdict(r);
    if (v == "ok") ++usable;
    if (not_checked(r)) ++unchecked;
    t.add({records[i].label.empty() ? "-" : records[i].label, keys::mask_secret(records[i].key.reveal()), v,
           credit_text(r), r.is_free_tier ? (*r.is_free_tier ? "yes" : "no") : "-"});
  }
  std::cout << t.render();
  std::cout << usable << " of " << records.size() << " keys usable";
  if (unchecked > 0) std::cout << "; " << unchecked << " not checked (the upstream was not reached or failed)";
  std::cout << "\n";
  // A key found bad outweighs keys that could not be checked: both need the user, the first now.
  if (usable + unchecked < records.size()) return kKeysCheckUnusable;
  return unchecked > 0 ? kKeysCheckUnreached : 0;
}

}  // namespace orp::app

namespace orp::app {

namespace {

// A small blocking GET against the admin endpoint (a command, not the data path).
std::string admin_get(const config::endpoint& where, const std::string& path, const std::string& token,
                      unsigned& status) {
  asio::io_context io;
  net::tcp::resolver resolver(io);
  net::tcp::socket socket(io);
  asio::connect(socket, resolver.resolve(where.host, std::to_string(where.port)));
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: " + where.to_string() + "\r\nConnection: close\r\n";
  if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
  req += "\r\n";
  asio::write(socket, asio::buffer(req));
  std::string response;
  net::error_code ec;
  std::array<char, 8192> buf;
  while (true) {
    std::size_t n = socket.read_some(asio::buffer(buf), ec);
    response.append(buf.data(), n);
    if (ec) break;
  }
  auto head_end = response.find("\r\n\r\n");
  if (response.size() < 12 || head_end == std::string::npos) throw std::runtime_error("malformed admin answer");
  status = static_cast<unsigned>(std::stoul(response.substr(9, 3)));
  return response.substr(head_end + 4);
}

std::string json_text(const boost::json::value& v, int precision = -1) {
  if (v.is_null()) return "-";
  if (v.is_string()) return std::string(v.as_string());
  // Any number: the admin endpoint writes a whole number as an integer (10, not 10.0).
  if (v.is_number() && precision >= 0) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.*f", precision, v.to_number<double>());
    return buf;
  }
  return boost::json::serialize(v);
}

}  // namespace

int keys_status(const config::settings& cfg) {
  auto where = cfg.address("admin.listen");
  if (where.host.empty()) {
    std::cerr << "openrouter-proxy: admin.listen is empty, so the running proxy has no admin endpoint to ask\n";
    return 2;
  }
  unsigned status = 0;
  std::string body;
  try {
    body = admin_get(where, "/keys", cfg.text("admin.token"), status);
  } catch (const std::exception& e) {
    std::cerr << "openrouter-proxy: cannot reach the admin endpoint at " << where.to_string() << ": "
              << util::error_text(e) << " (is the proxy running?)\n";
    return 1;
  }
  if (status != 200) {
    std::cerr << "openrouter-proxy: admin endpoint answered " << status << ": " << body;
    return 1;
  }
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (ec || !v.is_object() || !v.as_object().contains("keys")) {
    std::cerr << "openrouter-proxy: unexpected admin answer\n";
    return 1;
  }
  // requests = ok + client errors (4xx passed on: not the key's fault) + failed + cancelled + in flight
  table t({"key", "state", "reason", "cooling", "requests", "ok", "client errors", "failed", "cancelled", "in flight",
           "credit"});
  for (const auto& k : v.at("keys").as_array()) {
    const auto& o = k.as_object();
    const auto count = [&](std::string_view name) {
      const auto* n = o.if_contains(name);
      return n ? json_text(*n) : std::string("-");  // a proxy from before the field
    };
    t.add({json_text(o.at("label")), json_text(o.at("state")), json_text(o.at("reason")),
           o.at("cooling_left_s").is_null() ? "-" : json_text(o.at("cooling_left_s"), 0) + "s", count("requests"),
           count("successes"), count("client_errors"), count("failures"), count("cancelled"), count("in_flight"),
           json_text(o.at("credit_left"), 2)});
  }
  std::cout << t.render();
  if (const auto* refused = v.as_object().if_contains("keys_file_error"); refused && refused->is_string())
    std::cout << "keys file refused, the pool above is the one loaded before it: " << refused->as_string().c_str()
              << "\n";
  return 0;
}

}  // namespace orp::app
