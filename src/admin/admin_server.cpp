#include "admin/admin_server.hpp"
#include "admin/process_metrics.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <openssl/crypto.h>

#include <array>
#include <cmath>

#include "admin/status_page.hpp"
#include "forward/responses.hpp"  // reason_phrase
#include "http/headers.hpp"
#include "http/parser.hpp"
#include "log/logging.hpp"
#include "net/loopback.hpp"
#include "util/json_text.hpp"

namespace orp::admin {

namespace asio = net::asio;
using net::clock;

namespace {

// `extra_headers`: whole lines, each ending in CRLF.
std::string reply(unsigned status, std::string_view reason, std::string_view content_type, std::string_view body,
                  std::string_view extra_headers = {}) {
  std::string out = fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n"
                                "Cache-Control: no-store\r\n{}Connection: close\r\n\r\n",
                                status, reason, content_type, body.size(), extra_headers);
  out += body;
  return out;
}

std::string json_error(unsigned status, std::string_view reason, std::string_view message,
                       std::string_view extra_headers = {}) {
  boost::json::value v = {{"error", {{"code", status}, {"message", message}}}};
  return reply(status, reason, "application/json", util::json_text(v) + "\n", extra_headers);
}

// RFC 9110 9.3.2: HEAD is answered as GET is, with the same headers (Content-Length included)
// and no body.
std::string without_body(std::string answer) {
  if (const auto end = answer.find("\r\n\r\n"); end != std::string::npos) answer.resize(end + 4);
  return answer;
}

// The methods a path answers to, for the Allow header of a 405 (RFC 9110 15.5.6); empty for an
// unknown path.
std::string_view allowed_methods(std::string_view path) {
  if (path == "/keys/reload") return "POST";
  if (path == "/keys" || path == "/metrics" || path == "/stats" || path == "/" || path == "/index.html")
    return "GET, HEAD";
  return {};
}

bool token_matches(std::string_view authorization, const std::string& token) {
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() != kBearer.size() + token.size() || !authorization.starts_with(kBearer)) return false;
  return CRYPTO_memcmp(authorization.data() + kBearer.size(), token.data(), token.size()) == 0;
}

// host[:port] where host is localhost, an IPv4 loopback address or [::1].
bool loopback_authority(std::string_view authority) {
  std::string_view host = authority;
  if (host.starts_with('[')) {
    auto close = host.find(']');
    if (close == std::string_view::npos) return false;
    auto rest = host.substr(close + 1);
    if (!rest.empty() && !rest.starts_with(':')) return false;
    host = host.substr(1, close - 1);
  } else if (auto colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  return net::is_loopback_host(host);
}

}  // namespace

std::string_view cross_site_refusal(std::optional<std::string_view> host, std::optional<std::string_view> origin) {
  if (host && !loopback_authority(*host))
    return "the admin endpoint answers requests addressed to a loopback address or localhost only "
           "(set admin.token to reach it by another name)";
  if (origin) {
    constexpr std::string_view http_scheme = "http://", https_scheme = "https://";
    std::string_view rest = *origin;
    if (rest.starts_with(http_scheme)) rest.remove_prefix(http_scheme.size());
    else if (rest.starts_with(https_scheme)) rest.remove_prefix(https_scheme.size());
    else return "requests from web pages of other sites are refused";
    if (!loopback_authority(rest)) return "requests from web pages of other sites are refused";
  }
  return {};
}

std::string keys_json(const std::vector<keys::key_snapshot>& snapshot, std::string_view keys_file_error) {
  boost::json::array arr;
  for (const auto& k : snapshot) {
    boost::json::object o;
    o["label"] = k.display;
    o["id"] = k.fingerprint;
    o["state"] = keys::to_string(k.state);
    o["reason"] = k.reason;
    o["last_error"] = k.last_error;
    if (k.cooling_left) o["cooling_left_s"] = static_cast<double>(k.cooling_left->count()) / 1000.0;
    else o["cooling_left_s"] = nullptr;
    o["requests"] = k.counters.requests;
    o["successes"] = k.counters.successes;
    o["client_errors"] = k.counters.client_errors;
    o["failures"] = k.counters.failures;
    o["cancelled"] = k.counters.cancelled;  // the client went away first: with the others, they add up to requests
    o["in_flight"] = k.in_flight;
    o["weight"] = k.weight;
    if (k.credit_left) o["credit_left"] = *k.credit_left;
    else o["credit_left"] = nullptr;
    arr.push_back(std::move(o));
  }
  boost::json::object root{{"keys", std::move(arr)}};
  if (keys_file_error.empty()) root["keys_file_error"] = nullptr;
  else root["keys_file_error"] = keys_file_error;
  return util::json_text(root) + "\n";
}

admin_server::admin_server(asio::io_context& io, sources src) : io_(io), acceptor_(io), src_(std::move(src)) {}

net::tcp::endpoint admin_server::listen(const config::endpoint& where) {
  net::tcp::resolver resolver(io_);
  auto ep = resolver.resolve(where.host, std::to_string(where.port)).begin()->endpoint();
  acceptor_.open(ep.protocol());
  acceptor_.set_option(net::tcp::acceptor::reuse_address(true));
  acceptor_.bind(ep);
  acceptor_.listen();
  return acceptor_.local_endpoint();
}

void admin_server::start() { asio::co_spawn(io_, accept_loop(), asio::detached); }

void admin_server::stop() {
  net::error_code ignored;
  acceptor_.close(ignored);
}

asio::awaitable<void> admin_server::accept_loop() {
  while (acceptor_.is_open()) {
    auto [ec, socket] = co_await acceptor_.async_accept(net::use_tuple);
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (ec) continue;
    asio::co_spawn(io_, serve(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> admin_server::serve(net::tcp::socket socket) {
  http::request_parser parser(16 * 1024);
  parser.set_max_body_bytes(64 * 1024);
  std::string body;
  std::array<char, 4096> buf;
  auto deadline = clock::now() + std::chrono::seconds(10);
  bool continued = false;
  while (true) {
    auto [ec, n] = co_await net::read_some(socket, asio::buffer(buf), deadline);
    if (ec) co_return;
    std::string_view data(buf.data(), n);
    bool done = false;
    while (!data.empty() || !done) {
      auto r = parser.feed(data, &body);
      data.remove_prefix(r.consumed);
      if (r.status == http::parse_status::error) {
        // 400, or 413 / 431 for a body or header block over the limits: each with its own phrase.
        auto text = json_error(parser.error_status(), forward::reason_phrase(parser.error_status()),
                               parser.error_reason());
        co_await net::write_all(socket, asio::buffer(text), clock::now() + std::chrono::seconds(5));
        co_return;
      }
      if (r.status == http::parse_status::message_complete) {
        done = true;
        break;
      }
      if (r.status == http::parse_status::head_complete && parser.head().expect_continue && !continued) {
        // curl waits a second for this before sending a body (RFC 9110 10.1.1).
        continued = true;
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        if (co_await net::write_all(socket, asio::buffer(kContinue), deadline)) co_return;
      }
      if (r.status == http::parse_status::need_more) break;
    }
    if (done) break;
  }
  const auto& head = parser.head();
  auto auth = http::find_header(head.headers, "Authorization").value_or("");
  std::string text;
  auto refusal = src_.token.empty() ? cross_site_refusal(http::find_header(head.headers, "Host"),
                                                          http::find_header(head.headers, "Origin"))
                                    : std::string_view{};
  if (!refusal.empty()) {
    log::warn("admin: refused {} {}: {}", head.method, head.target.substr(0, head.target.find('?')), refusal);
    text = json_error(403, "Forbidden", refusal);
  } else {
    text = respond(head.method == "HEAD" ? "GET" : head.method, head.target, std::string(auth));
  }
  if (head.method == "HEAD") text = without_body(std::move(text));
  co_await net::write_all(socket, asio::buffer(text), clock::now() + std::chrono::seconds(10));
  net::error_code ignored;
  socket.shutdown(net::tcp::socket::shutdown_both, ignored);
}

std::string admin_server::respond(const std::string& method, const std::string& target,
                                  const std::string& authorization) {
  std::string path = target.substr(0, target.find('?'));
  if (path == "/healthz") return reply(200, "OK", "text/plain", "ok\n");
  // Readiness, for a load balancer in front of several proxies: the process is up (/healthz), but
  // can it serve an intercepted request? Not with no keys, or every key disabled; cooling keys come
  // back by themselves. Tunnels work either way.
  if (path == "/readyz" && src_.keys) {
    const auto a = src_.keys->availability_now(clock::now());
    // Asked without the token (a load balancer's probe): the verdict, not the pool's counts.
    const bool show_counts = src_.token.empty() || token_matches(authorization, src_.token);
    const std::string counts = show_counts ? std::to_string(a.active) + " active, " + std::to_string(a.cooling) +
                                                 " cooling, " + std::to_string(a.disabled) + " disabled of " +
                                                 std::to_string(a.total) + " keys\n"
                                           : std::string("see /keys\n");
    if (a.active + a.cooling == 0)
      return reply(503, "Service Unavailable", "text/plain",
                   std::string(a.total == 0 ? "not ready: keys.csv holds no keys: " : "not ready: every key is disabled: ") +
                       counts);
    return reply(200, "OK", "text/plain", "ready: " + counts);
  }
  // The status page holds no data: its script fetches /keys and /stats with the token it takes
  // from the address's #fragment, which a browser never sends, so the page itself needs none.
  if (method == "GET" && (path == "/" || path == "/index.html")) return reply(200, "OK", "text/html; charset=utf-8", status_page());
  if (!src_.token.empty() && !token_matches(authorization, src_.token))
    return json_error(401, "Unauthorized", "admin token required: Authorization: Bearer <admin.token>");

  auto now = clock::now();
  const auto keys_answer = [&] {
    return reply(200, "OK", "application/json",
                 keys_json(src_.keys->snapshot(now), src_.keys_file_error ? src_.keys_file_error() : std::string()));
  };
  if (method == "GET" && path == "/keys") return keys_answer();
  if (method == "GET" && path == "/metrics") {
    std::string out;
    src_.requests->render(out);
    auto snapshot = src_.keys->snapshot(now);
    out += "# HELP orp_key_state Key state by label and id (1 = the key is in that state).\n"
           "# TYPE orp_key_state gauge\n";
    for (const auto& k : snapshot)
      for (auto s : {keys::key_state::active, keys::key_state::cooling, keys::key_state::disabled_invalid,
                     keys::key_state::disabled_no_credit})
        out += fmt::format("orp_key_state{{key=\"{}\",id=\"{}\",state=\"{}\"}} {}\n", label_value(k.display),
                           k.fingerprint, keys::to_string(s), k.state == s ? 1 : 0);
    if (src_.extra_metrics) src_.extra_metrics(out);
    render_process_metrics(out);
    return reply(200, "OK", "text/plain; version=0.0.4", out);
  }
  if (method == "GET" && path == "/stats") {
    boost::json::object o;
    o["requests_total"] = src_.requests->total_requests();
    // Milliseconds are plenty for an uptime; more digits would only be noise.
    o["uptime_s"] = std::round(std::chrono::duration<double>(now - started_).count() * 1000) / 1000;
    if (src_.extra_stats) src_.extra_stats(o);
    return reply(200, "OK", "application/json", util::json_text(o) + "\n");
  }
  if (method == "POST" && path == "/keys/reload") {
    if (!src_.reload_keys || !src_.reload_keys()) {
      const std::string why = src_.keys_file_error ? src_.keys_file_error() : std::string();
      return json_error(422, "Unprocessable Content",
                        "keys.csv was refused; the old pool is kept: " + (why.empty() ? "see the log" : why));
    }
    return keys_answer();
  }
  if (const auto allowed = allowed_methods(path); !allowed.empty())
    return json_error(405, "Method Not Allowed", "method not allowed: use " + std::string(allowed),
                      "Allow: " + std::string(allowed) + "\r\n");
  return json_error(404, "Not Found", "no such admin endpoint");
}

}  // namespace orp::admin
