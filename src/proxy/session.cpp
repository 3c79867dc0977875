#include "proxy/session.hpp"

#include "proxy/plain_http.hpp"
#include "proxy/refuse.hpp"

#include <algorithm>
#include <array>
#include <optional>

#include <boost/url/parse.hpp>

#include "forward/heads.hpp"
#include "forward/responses.hpp"
#include "http/parser.hpp"
#include "config/settings.hpp"
#include "log/logging.hpp"

namespace orp::proxy {

namespace asio = net::asio;
using net::clock;
using net::error_code;

namespace {

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::size_t kReadChunk = 16 * 1024;
// A body must keep coming at this average rate (after header_timeout's grace): a client that
// trickles a byte now and then would otherwise hold its share of proxy.max_body_memory for as
// long as it liked, and with a few such clients everyone else's bodies get 503. 16 KiB/s lets a
// 32 MiB body take over half an hour.
constexpr double kMinBodyBytesPerSecond = 16 * 1024;
// Answers to a request the proxy refused before choosing a key say so, like every answer to an
// intercepted request (SPEC: X-Proxy-Key, X-Proxy-Attempts).
const std::string no_key_tried = forward::proxy_headers({}, 0);
const std::string kHttpProxyMode = "http_proxy";

// "http://host[:port]/path" -> host, port and "/path"; origin-form targets pass through unchanged.
// Refused: another scheme (only plain HTTP comes this way; inside an intercepted TLS tunnel also
// https, which a server must accept in absolute form, RFC 9112 3.2.2), an empty host (RFC 9110
// 4.2.1), a port that is not 1-65535. The scheme is case-insensitive (RFC 3986 3.1).
bool split_absolute_form(std::string& target, std::string& host, std::uint16_t& port, bool tls) {
  if (target.empty() || target.front() == '/') return true;
  auto u = boost::urls::parse_absolute_uri(target);
  if (!u || !u->has_authority()) return false;
  const bool https = u->scheme_id() == boost::urls::scheme::https;
  if (u->scheme_id() != boost::urls::scheme::http && !(tls && https)) return false;
  std::string name(u->host_name().empty() ? u->host_address() : u->host_name());
  if (name.empty()) return false;
  port = https ? 443 : 80;  // an empty port is the default one (RFC 3986 3.2.3)
  if (u->has_port() && !u->port().empty()) {
    if (u->port_number() == 0) return false;  // 0, or past 65535 (which port_number gives as 0)
    port = u->port_number();
  }
  host = std::move(name);
  std::string path(u->encoded_path());
  if (path.empty()) path = "/";
  if (u->has_query()) path += "?" + std::string(u->encoded_query());
  target = std::move(path);
  return true;
}

// RFC 9112 3.2: a server answers 400 to an HTTP/1.1 request without Host and to any request with
// more than one. Returns why, or nothing.
std::optional<std::string_view> host_header_problem(const http::request_head& head) {
  auto count = std::count_if(head.headers.begin(), head.headers.end(),
                             [](const http::header_field& f) { return http::iequals(f.name, "Host"); });
  if (count > 1) return "more than one Host header";
  if (count == 0 && head.version_minor >= 1) return "an HTTP/1.1 request needs a Host header";
  return std::nullopt;
}

}  // namespace

template <class Stream>
asio::awaitable<void> run_session(Stream& stream, session_info info, std::string buffered, shared_context& shared,
                                  worker& w) {
  std::string in = std::move(buffered);
  std::string body;
  http::request_parser parser(shared.lim.max_head_bytes);
  std::unique_ptr<char[]> read_buf;
  net::deadline dl(net::socket_of(stream));
  body_budget::lease body_share(shared.bodies);
  bool first = true;

  while (true) {
    parser.reset();
    parser.set_max_body_bytes(shared.lim.max_request_body);
    body.clear();
    body_share.release();
    if (!first && in.empty()) {
      // Idle keep-alive: hold no buffers while waiting for the next request (thousands of idle
      // connections must stay cheap); read only once bytes are there.
      body.shrink_to_fit();
      in.shrink_to_fit();
      read_buf.reset();
      if (co_await net::wait_readable(stream, dl, net::coarse_now() + shared.lim.idle_timeout)) co_return;
    }
    // A new request may take its time to start (keep-alive idle); once it has, its head must
    // arrive within header_timeout (slowloris).
    auto deadline = net::coarse_now() + (first || !in.empty() ? shared.lim.header_timeout : shared.lim.idle_timeout);
    bool started = !in.empty();
    bool head_done = false, message_done = false, feed_again = false;
    // In flight from its head on: a body still uploading at SIGTERM is waited for by the drain.
    std::optional<scoped_count> in_flight;
    net::clock::time_point body_started{};
    while (!message_done) {
      // After the head, feed once more even with nothing buffered: a message without a body
      // completes on an empty feed.
      if (!in.empty() || feed_again) {
        feed_again = false;
        auto r = parser.feed(in, &body);
        in.erase(0, r.consumed);
        if (r.status == http::parse_status::error) {
          // A body over the limit is the one refusal a well-behaved client meets: say which limit.
          const std::string reason = parser.error_status() == 413
                                         ? "request body over " + config::size_text(shared.lim.max_request_body) +
                                               " (proxy.max_request_body)"
                                         : std::string(parser.error_reason());
          log::info("client {}: refused request: {} ({})", info.client, reason, parser.error_status());
          co_await refuse(stream, parser.error_status(), reason, no_key_tried);
          co_return;
        }
        if (!body_share.grow_to(body.size())) {
          log::warn("client {}: request body refused at {} KiB: the proxy holds {} KiB of request bodies already "
                    "(proxy.max_body_memory)", info.client, body.size() / 1024, shared.bodies.in_use() / 1024);
          co_await refuse(stream, 503, "the proxy is holding too many request bodies at once; try again shortly",
                          "Retry-After: 1\r\n" + no_key_tried);
          co_return;
        }
        if (r.status == http::parse_status::head_complete) {
          head_done = true;
          in_flight.emplace(shared.active_requests);
          if (parser.head().expect_continue) {
            // The proxy answers 100-continue itself: the body must be held for retries anyway.
            if (auto ec = co_await net::write_all(stream, asio::buffer(kContinue), dl, net::coarse_now() + shared.lim.header_timeout))
              co_return;
          }
          body_started = net::coarse_now();
          deadline = body_started + shared.lim.header_timeout;
          feed_again = true;
          continue;
        }
        if (r.status == http::parse_status::message_complete) {
          message_done = true;
          break;
        }
      }
      // The read buffer exists only while a request is being read (not zero-filled: resizing a
      // string to 16 KiB per read showed up as the top cost in the profile).
      if (!read_buf) read_buf.reset(new char[kReadChunk]);
      auto [ec, n] = co_await net::read_some(stream, asio::buffer(read_buf.get(), kReadChunk), dl, deadline);
      in.append(read_buf.get(), n);
      if (ec) {
        if (ec == asio::error::timed_out && (started || head_done))
          co_await refuse(stream, 408,
                          head_done ? "request body not received in time (too slow)" : "request not received in time",
                          no_key_tried);
        co_return;
      }
      if (!started) deadline = net::coarse_now() + shared.lim.header_timeout;
      started = true;
      if (head_done) {
        // Body: a silence limit per read, and an average rate over the whole body.
        const auto by_rate = body_started + shared.lim.header_timeout +
                             std::chrono::duration_cast<net::clock::duration>(
                                 std::chrono::duration<double>(static_cast<double>(body.size()) / kMinBodyBytesPerSecond));
        deadline = std::min(net::coarse_now() + shared.lim.header_timeout, by_rate);
      }
    }
    first = false;

    http::request_head& head = parser.mutable_head();  // the parser is reset only for the next request
    std::string host = info.host;
    std::uint16_t port = 443;
    if (auto bad = host_header_problem(head)) {
      co_await refuse(stream, 400, std::string(*bad), no_key_tried);
      co_return;
    }
    if (!split_absolute_form(head.target, host, port, !std::is_same_v<Stream, net::tcp::socket>)) {
      co_await refuse(stream, 400, "malformed request target (only http:// URLs with a host and a valid port, or paths)",
                      no_key_tried);
      co_return;
    }
    std::string client_name = info.client_name;
    if (!info.authenticated && !shared.clients.empty()) {
      // Plain HTTP proves itself on every request: a proxy request (absolute form) with
      // Proxy-Authorization, a base-URL request with its client secret as the bearer token.
      bool proxy_form = !host.empty();
      auto name = proxy_form
                      ? shared.clients.check_basic(http::find_header(head.headers, "Proxy-Authorization").value_or(""))
                      : shared.clients.check_bearer(http::find_header(head.headers, "Authorization").value_or(""));
      if (!name) {
        log::info("client {}: request without valid proxy credentials", info.client);
        if (proxy_form)
          co_await refuse(stream, 407, "proxy authentication required",
                          "Proxy-Authenticate: Basic realm=\"openrouter-proxy\"\r\n");
        else
          co_await refuse(stream, 401, "this proxy needs `Authorization: Bearer <secret>`: the secret of a "
                                     "proxy.clients entry, alone (not name:secret)");
        co_return;
      }
      client_name = *name;
    }
    if (info.host.empty() && !host.empty() && !shared.intercepts(host)) {
      // A plain-HTTP proxy request for another host (HTTP_PROXY): passed on untouched.
      if constexpr (std::is_same_v<Stream, net::tcp::socket>) {
        if (!shared.tunnel.allows(host)) {
          co_await refuse(stream, 403, "proxying to " + host + " is not allowed by this proxy (proxy.tunnel)");
          co_return;
        }
        // Not an intercepted request: the drain neither waits for it nor can cut it.
        in_flight.reset();
        co_await forward_plain(stream, head, body, host, port, shared.lim);
      }
      co_return;
    }
    // An absolute-form URL on plain HTTP came through HTTP_PROXY, not from a base-URL client.
    const std::string& mode = info.host.empty() && !host.empty() ? kHttpProxyMode : info.mode;
    forward::client_request req{head, body, info.client, mode, shared.next_request_id++, client_name};
    // A long answer (a stream) should not pin the read buffer; the next request gets a new one.
    if (in.empty()) in.shrink_to_fit();
    read_buf.reset();
    if (!in_flight) in_flight.emplace(shared.active_requests);
    const bool keep = co_await forward::forward_request(stream, dl, req, *w.forward);
    in_flight.reset();
    if (!keep) co_return;
  }
}

template asio::awaitable<void> run_session<net::tls_stream>(net::tls_stream&, session_info, std::string,
                                                            shared_context&, worker&);
template asio::awaitable<void> run_session<net::tcp::socket>(net::tcp::socket&, session_info, std::string,
                                                             shared_context&, worker&);

namespace {
bool host_in(const std::vector<std::string>& hosts, std::string_view host) {
  for (const auto& h : hosts) {
    if (h.size() == host.size() && std::equal(h.begin(), h.end(), host.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        }))
      return true;
  }
  return false;
}
}  // namespace

bool shared_context::intercepts(std::string_view host) const { return host_in(intercept_hosts, host); }

tunnel_policy tunnel_policy::parse(std::string_view setting) {
  tunnel_policy p;
  if (setting == "all" || setting.empty()) return p;
  p.all = false;
  if (setting == "none") return p;
  p.hosts = config::split_list(setting);
  return p;
}

bool tunnel_policy::allows(std::string_view host) const { return all || host_in(hosts, host); }

}  // namespace orp::proxy
