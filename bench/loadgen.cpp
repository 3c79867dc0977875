// bench/loadgen: a small HTTPS load generator for scripts/bench.sh (loopback only).
//
// Speaks TLS straight to an upstream (the no-proxy baseline) or HTTP CONNECT to a proxy and then
// TLS inside the tunnel, trusting the CA given with --ca. One thread, one io_context, one
// coroutine per connection. Every run is bounded by a request count and by --time-limit.
//
// Modes (one JSON object on stdout per run):
//   rps      N connections x M keep-alive POSTs: req/s, latency p50/p90/p99/max
//   idle     K connections opened one after another, one request each, then held open: the
//            watched process's VmRSS before and after (KiB per connection)
//   streams  K streaming requests held open mid-stream (upstream paces its events slowly)
//   connect  new connection per request (C at a time): proxy CPU per new TLS connection,
//            optionally resuming the TLS session of the previous connection (--resume)
//   sse      M streaming requests per connection: time to first `data:` event and the gaps
//            between events
// --watch-pid P reads /proc/P/stat (utime+stime), /proc/P/status (VmRSS) and /proc/P/io (read
// calls) around the measured phase, so CPU and memory are the proxy's own, excluding start-up and
// warm-up.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using clk = std::chrono::steady_clock;
using asio::awaitable;
using asio::use_awaitable;

namespace {

struct options {
  std::string mode = "rps";
  std::string connect = "127.0.0.1:443";  // where the TCP connection goes (upstream or proxy)
  bool via_proxy = false;
  std::string host = "openrouter.ai";     // SNI, Host header, certificate name
  std::string connect_target;             // CONNECT authority; default host:443
  std::string ca;
  std::string path = "/api/v1/chat/completions";
  std::string key = "sk-or-v1-bench-client";
  int conns = 1;
  int requests = 100;     // per connection (rps, sse); total (connect)
  int warmup = 2;         // per connection, not measured
  double time_limit = 30; // seconds, the whole run
  int watch_pid = 0;
  double settle = 1.0;    // seconds before the "after" RSS reading
  double hold = 0;        // seconds to keep idle/stream connections open after measuring
  bool resume = false;
  int sse_events = 20;
  int sse_interval_ms = 20;
  int pace_ms = 0;        // rps: pause between a connection's requests (the 429-rotation row)
  std::string label;
  std::string before_measure;  // shell command run (and waited for) right before the measured phase
  std::string after_measure;   // ... and right after it (e.g. callgrind_control -i on/off PID)
};

// ---- /proc readings -----------------------------------------------------------------------------
struct proc_sample {
  double cpu_s = 0;  // utime + stime
  long rss_kib = 0;
  long long read_calls = -1;  // syscr of /proc/P/io: read(2)-family calls (not recv*)
  bool ok = false;
};

proc_sample read_proc(int pid) {
  proc_sample s;
  if (pid <= 0) return s;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return s;
  auto close = line.rfind(')');  // comm may hold spaces
  if (close == std::string::npos) return s;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  std::vector<std::string> f;
  while (rest >> field) f.push_back(field);
  // After "pid (comm) ": state is field 3, utime 14, stime 15 -> indexes 11 and 12 here.
  if (f.size() < 13) return s;
  double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  s.cpu_s = (std::stod(f[11]) + std::stod(f[12])) / tick;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) s.rss_kib = std::stol(line.substr(6));
  std::ifstream io("/proc/" + std::to_string(pid) + "/io");
  while (std::getline(io, line))
    if (line.rfind("syscr:", 0) == 0) s.read_calls = std::stoll(line.substr(6));
  s.ok = true;
  return s;
}

double self_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// ---- statistics ---------------------------------------------------------------------------------
double percentile(std::vector<double> v, double p) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  auto idx = static_cast<std::size_t>(p / 100.0 * (v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}

// A JSON number; null for what JSON cannot spell (a ratio over zero requests is NaN).
std::string num(double v, int prec = 3) {
  if (!std::isfinite(v)) return "null";
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}

std::string latency_json(const std::string& prefix, const std::vector<double>& us) {
  std::string o;
  o += "\"" + prefix + "_p50_ms\": " + num(percentile(us, 50) / 1000, 4) + ", ";
  o += "\"" + prefix + "_p90_ms\": " + num(percentile(us, 90) / 1000, 4) + ", ";
  o += "\"" + prefix + "_p99_ms\": " + num(percentile(us, 99) / 1000, 4) + ", ";
  o += "\"" + prefix + "_max_ms\": " + num(percentile(us, 100) / 1000, 4) + ", ";
  o += "\"" + prefix + "_samples\": " + std::to_string(us.size());
  return o;
}

// ---- HTTP/1.1 over TLS --------------------------------------------------------------------------
std::pair<std::string, std::string> split_host_port(const std::string& hp) {
  auto c = hp.rfind(':');
  if (c == std::string::npos) throw std::runtime_error("expected host:port, got " + hp);
  return {hp.substr(0, c), hp.substr(c + 1)};
}

bool iequals_prefix(std::string_view line, std::string_view name) {
  if (line.size() < name.size()) return false;
  for (std::size_t i = 0; i < name.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(line[i])) != std::tolower(static_cast<unsigned char>(name[i])))
      return false;
  return true;
}

struct connection {
  explicit connection(asio::io_context& io, ssl::context& ctx) : stream(io, ctx) {}
  ssl::stream<tcp::socket> stream;
  std::string buf;          // bytes read and not consumed yet (keep-alive leftovers)
  clk::time_point last_read;
  bool resumed = false;
  int proxy_attempts = 0;   // X-Proxy-Attempts of the last response (0 when absent)

  awaitable<void> read_more() {
    char tmp[16384];
    std::size_t n = co_await stream.async_read_some(asio::buffer(tmp), use_awaitable);
    last_read = clk::now();
    buf.append(tmp, n);
  }
};

// Called with each decoded body piece and the time of the read that completed it.
using body_sink = std::function<void(std::string_view, clk::time_point)>;

// Reads one response; returns its status. Content-Length and chunked bodies.
awaitable<int> read_response(connection& c, const body_sink& sink) {
  std::size_t end;
  while ((end = c.buf.find("\r\n\r\n")) == std::string::npos) co_await c.read_more();
  std::string_view head(c.buf.data(), end + 2);
  int status = 0;
  if (head.size() > 12) std::from_chars(head.data() + 9, head.data() + 12, status);
  std::optional<std::size_t> length;
  bool chunked = false;
  c.proxy_attempts = 0;
  std::size_t pos = head.find("\r\n") + 2;
  while (pos < head.size()) {
    auto eol = head.find("\r\n", pos);
    auto line = head.substr(pos, eol - pos);
    if (iequals_prefix(line, "content-length:")) {
      auto v = line.substr(15);
      while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      std::size_t n = 0;
      std::from_chars(v.data(), v.data() + v.size(), n);
      length = n;
    } else if (iequals_prefix(line, "x-proxy-attempts:")) {
      auto v = line.substr(17);
      while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      std::from_chars(v.data(), v.data() + v.size(), c.proxy_attempts);
    } else if (iequals_prefix(line, "transfer-encoding:") && line.find("chunked") != std::string_view::npos) {
      chunked = true;
    }
    pos = eol + 2;
  }
  c.buf.erase(0, end + 4);
  if (chunked) {
    while (true) {
      std::size_t eol;
      while ((eol = c.buf.find("\r\n")) == std::string::npos) co_await c.read_more();
      std::size_t size = 0;
      std::from_chars(c.buf.data(), c.buf.data() + eol, size, 16);
      if (size == 0) {
        // No trailers expected: "0\r\n\r\n".
        while (c.buf.size() < eol + 4) co_await c.read_more();
        c.buf.erase(0, eol + 4);
        break;
      }
      while (c.buf.size() < eol + 2 + size + 2) co_await c.read_more();
      if (sink) sink(std::string_view(c.buf.data() + eol + 2, size), c.last_read);
      c.buf.erase(0, eol + 2 + size + 2);
    }
  } else {
    std::size_t n = length.value_or(0);
    while (c.buf.size() < n) co_await c.read_more();
    if (sink) sink(std::string_view(c.buf.data(), n), c.last_read);
    c.buf.erase(0, n);
  }
  co_return status;
}

struct run_state {
  options opt;
  asio::io_context& io;
  ssl::context& ctx;
  tcp::endpoint endpoint;
  clk::time_point deadline;
  std::string request;         // the whole keep-alive request, built once
  std::uint64_t errors = 0;
  std::string first_error;
  void error(const std::string& what) {
    if (errors++ == 0) first_error = what;
  }
};

std::string build_request(const options& o, bool stream, const std::string& extra_headers) {
  std::string body = std::string("{\"model\":\"openai/gpt-4o-mini\",\"messages\":[{\"role\":\"user\",") +
                     "\"content\":\"Say hello in one short sentence.\"}]" + (stream ? ",\"stream\":true" : "") +
                     "}";
  std::string r = "POST " + o.path + " HTTP/1.1\r\nHost: " + o.host + "\r\nAuthorization: Bearer " + o.key +
                  "\r\nContent-Type: application/json\r\nAccept: " +
                  (stream ? "text/event-stream" : "application/json") + "\r\nUser-Agent: orp-bench-loadgen/1\r\n" +
                  extra_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  return r;
}

awaitable<std::unique_ptr<connection>> open_connection(run_state& st, SSL_SESSION* resume_from = nullptr) {
  auto c = std::make_unique<connection>(st.io, st.ctx);
  auto& sock = c->stream.next_layer();
  co_await sock.async_connect(st.endpoint, use_awaitable);
  sock.set_option(tcp::no_delay(true));
  if (st.opt.via_proxy) {
    std::string authority = st.opt.connect_target.empty() ? st.opt.host + ":443" : st.opt.connect_target;
    std::string req = "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n";
    co_await asio::async_write(sock, asio::buffer(req), use_awaitable);
    std::string reply;
    char tmp[1024];
    while (reply.find("\r\n\r\n") == std::string::npos) {
      // Byte-exact: nothing after the CONNECT reply may be swallowed (the server speaks TLS next).
      std::size_t n = co_await sock.async_read_some(asio::buffer(tmp, 1), use_awaitable);
      reply.append(tmp, n);
      if (reply.size() > 4096) throw std::runtime_error("CONNECT reply too long");
    }
    if (reply.compare(9, 3, "200") != 0) throw std::runtime_error("CONNECT refused: " + reply.substr(0, 40));
  }
  SSL* ssl = c->stream.native_handle();
  if (!SSL_set_tlsext_host_name(ssl, st.opt.host.c_str())) throw std::runtime_error("SNI");
  c->stream.set_verify_callback(ssl::host_name_verification(st.opt.host));
  if (resume_from) SSL_set_session(ssl, resume_from);
  co_await c->stream.async_handshake(ssl::stream_base::client, use_awaitable);
  c->resumed = SSL_session_reused(ssl) == 1;
  co_return c;
}

// One request/response; returns the latency in microseconds.
awaitable<double> exchange_once(run_state&, connection& c, const std::string& request,
                                const body_sink& sink = {}) {
  auto t0 = clk::now();
  co_await asio::async_write(c.stream, asio::buffer(request), use_awaitable);
  int status = co_await read_response(c, sink);
  if (status != 200) throw std::runtime_error("HTTP status " + std::to_string(status));
  co_return std::chrono::duration<double, std::micro>(clk::now() - t0).count();
}

// A countdown the main coroutine can wait on.
struct latch {
  explicit latch(asio::io_context& io, int n) : timer(io, clk::time_point::max()), left(n) {}
  asio::steady_timer timer;
  int left;
  void count_down() {
    if (--left <= 0) timer.cancel();
  }
  awaitable<void> wait() {
    while (left > 0) {
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
    }
  }
};

std::string proc_json(const proc_sample& a, const proc_sample& b, double units, const std::string& per) {
  if (!a.ok || !b.ok) return "";
  double cpu = b.cpu_s - a.cpu_s;
  std::string o = ", \"proc_cpu_s\": " + num(cpu, 3) + ", \"rss_before_kib\": " + std::to_string(a.rss_kib) +
                  ", \"rss_after_kib\": " + std::to_string(b.rss_kib);
  if (units > 0) o += ", \"proc_cpu_ms_per_" + per + "\": " + num(cpu * 1000 / units, 4);
  return o;
}

void run_hook(const std::string& command) {
  if (!command.empty() && std::system(command.c_str()) != 0) std::cerr << "loadgen: hook failed: " << command << "\n";
}

// ---- modes --------------------------------------------------------------------------------------
// Every connection sends `count` requests at once (concurrently with the others); latencies
// go to `lat` when it is given. Stops early at the run's deadline.
awaitable<void> run_all(run_state& st, std::vector<std::unique_ptr<connection>>& conns, int count,
                        std::vector<double>* lat, std::vector<double>* retried = nullptr) {
  latch done(st.io, static_cast<int>(conns.size()));
  for (auto& c : conns) {
    asio::co_spawn(
        st.io,
        [&st, lat, retried, count, &done, conn = c.get()]() -> awaitable<void> {
          try {
            asio::steady_timer pause(st.io);
            for (int i = 0; i < count && clk::now() < st.deadline; ++i) {
              if (st.opt.pace_ms > 0 && i > 0) {
                pause.expires_after(std::chrono::milliseconds(st.opt.pace_ms));
                co_await pause.async_wait(use_awaitable);
              }
              double us = co_await exchange_once(st, *conn, st.request);
              if (retried && conn->proxy_attempts > 1) retried->push_back(us);
              else if (lat) lat->push_back(us);
            }
          } catch (const std::exception& e) {
            st.error(e.what());
          }
          done.count_down();
        },
        asio::detached);
  }
  co_await done.wait();
}

awaitable<void> mode_rps(run_state& st, std::string& out) {
  const auto& o = st.opt;
  std::vector<std::unique_ptr<connection>> conns;
  for (int i = 0; i < o.conns; ++i) conns.push_back(co_await open_connection(st));
  // Warm-up at full concurrency, so that the proxy's upstream pool is as large as it will get.
  co_await run_all(st, conns, o.warmup, nullptr);
  std::vector<double> lat, retried;
  lat.reserve(static_cast<std::size_t>(o.conns) * o.requests);
  run_hook(o.before_measure);
  auto before = read_proc(o.watch_pid);
  double self0 = self_cpu_s();
  auto t0 = clk::now();
  co_await run_all(st, conns, o.requests, &lat, &retried);
  double secs = std::chrono::duration<double>(clk::now() - t0).count();
  auto after = read_proc(o.watch_pid);
  double self1 = self_cpu_s();
  run_hook(o.after_measure);
  out += "\"requests\": " + std::to_string(lat.size()) + ", \"seconds\": " + num(secs, 3) +
         ", \"rps\": " + num(lat.size() / secs, 1) + ", " + latency_json("lat", lat) +
         ", \"loadgen_cpu_s\": " + num(self1 - self0, 3) + proc_json(before, after, lat.size() / 1000.0, "1k_req");
  if (!retried.empty()) out += ", " + latency_json("retried", retried);
  if (before.ok && after.ok && !lat.empty())
    out += ", \"proc_cpu_s_per_1k_req\": " + num((after.cpu_s - before.cpu_s) / (lat.size() / 1000.0), 4);
  if (before.read_calls >= 0 && after.read_calls >= 0 && !lat.empty())
    out += ", \"proc_read_calls_per_req\": " +
           num(static_cast<double>(after.read_calls - before.read_calls) / static_cast<double>(lat.size()), 2);
}

awaitable<void> sleep_for(asio::io_context& io, double seconds) {
  asio::steady_timer t(io, std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(seconds)));
  co_await t.async_wait(use_awaitable);
}
// After opening `held` connections: lets the proxy settle, reads its RSS again and reports what
// each held connection costs, then holds them for --hold seconds.
awaitable<void> report_held(run_state& st, const proc_sample& before, std::size_t held, const char* count_name,
                            const char* per_name, std::string& out) {
  const auto& o = st.opt;
  co_await sleep_for(st.io, o.settle);
  auto after = read_proc(o.watch_pid);
  out += std::string("\"") + count_name + "\": " + std::to_string(held) + proc_json(before, after, 0, "");
  if (before.ok && after.ok && held > 0)
    out += std::string(", \"") + per_name + "\": " + num(double(after.rss_kib - before.rss_kib) / held, 2);
  if (o.hold > 0) co_await sleep_for(st.io, o.hold);
}


// Idle: each connection does one request and then stays open, idle.
awaitable<void> mode_idle(run_state& st, std::string& out) {
  const auto& o = st.opt;
  // Warm-up on its own connection, kept open: leaf cache, upstream pool, allocator arenas.
  auto warm = co_await open_connection(st);
  for (int w = 0; w < std::max(1, o.warmup); ++w) co_await exchange_once(st, *warm, st.request);
  co_await sleep_for(st.io, o.settle);
  auto before = read_proc(o.watch_pid);
  std::vector<std::unique_ptr<connection>> conns;
  for (int i = 0; i < o.conns && clk::now() < st.deadline; ++i) {
    try {
      auto c = co_await open_connection(st);
      co_await exchange_once(st, *c, st.request);
      conns.push_back(std::move(c));
    } catch (const std::exception& e) {
      st.error(e.what());
      break;
    }
  }
  co_await report_held(st, before, conns.size(), "connections", "rss_kib_per_conn", out);
}

// Streams: K streaming requests, each held open after its first event (the upstream paces slowly).
awaitable<void> mode_streams(run_state& st, std::string& out) {
  const auto& o = st.opt;
  auto warm = co_await open_connection(st);
  co_await exchange_once(st, *warm, build_request(o, false, ""));
  co_await sleep_for(st.io, o.settle);
  auto before = read_proc(o.watch_pid);
  std::string req = build_request(o, true, "X-Fake-Events: 100000\r\nX-Fake-Interval-Ms: " +
                                               std::to_string(o.sse_interval_ms) + "\r\n");
  std::vector<std::unique_ptr<connection>> conns;
  std::uint64_t events = 0;
  for (int i = 0; i < o.conns && clk::now() < st.deadline; ++i) {
    try {
      auto c = co_await open_connection(st);
      co_await asio::async_write(c->stream, asio::buffer(req), use_awaitable);
      // Held mid-stream: wait for the head and the first event, then keep reading in the background
      // so the stream keeps flowing (and an error shows).
      while (c->buf.find("data:") == std::string::npos) co_await c->read_more();
      if (c->buf.compare(9, 3, "200") != 0) throw std::runtime_error("stream status " + c->buf.substr(9, 3));
      asio::co_spawn(
          st.io,
          [&st, &events, conn = c.get()]() -> awaitable<void> {
            try {
              while (true) {
                conn->buf.clear();
                co_await conn->read_more();
                ++events;
              }
            } catch (const boost::system::system_error& e) {
              if (e.code() != asio::error::operation_aborted && e.code() != asio::error::bad_descriptor)
                st.error(std::string("stream ended: ") + e.what());
            }
          },
          asio::detached);
      conns.push_back(std::move(c));
    } catch (const std::exception& e) {
      st.error(e.what());
      break;
    }
  }
  co_await report_held(st, before, conns.size(), "streams", "rss_kib_per_stream", out);
  out += ", \"reads_while_held\": " + std::to_string(events);
  for (auto& c : conns) {
    boost::system::error_code ec;
    c->stream.next_layer().close(ec);
  }
  co_await sleep_for(st.io, 0.05);  // let the readers see the close before the frames go away
}

// Connect: a new TLS connection for every request, C at a time.
awaitable<void> mode_connect(run_state& st, std::string& out) {
  const auto& o = st.opt;
  {
    auto warm = co_await open_connection(st);  // leaf minted and upstream connection pooled
    co_await exchange_once(st, *warm, st.request);
  }
  run_hook(o.before_measure);
  int started = 0, completed = 0, resumed = 0;
  std::vector<double> lat;
  latch done(st.io, o.conns);
  auto before = read_proc(o.watch_pid);
  auto t0 = clk::now();
  for (int w = 0; w < o.conns; ++w) {
    asio::co_spawn(
        st.io,
        [&]() -> awaitable<void> {
          SSL_SESSION* session = nullptr;
          while (started < o.requests && clk::now() < st.deadline) {
            ++started;
            try {
              auto t = clk::now();
              auto c = co_await open_connection(st, o.resume ? session : nullptr);
              co_await exchange_once(st, *c, st.request);
              lat.push_back(std::chrono::duration<double, std::micro>(clk::now() - t).count());
              ++completed;
              if (c->resumed) ++resumed;
              if (o.resume) {
                // TLS 1.3 tickets arrive after the handshake: take the session after a response.
                if (SSL_SESSION* s = SSL_get1_session(c->stream.native_handle())) {
                  if (session) SSL_SESSION_free(session);
                  session = s;
                }
              }
              // Closed without close_notify, as many clients do; marked shut down so that OpenSSL
              // does not flag the session as unresumable when the SSL object is freed.
              SSL_set_shutdown(c->stream.native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
              boost::system::error_code ec;
              c->stream.next_layer().close(ec);
            } catch (const std::exception& e) {
              st.error(e.what());
            }
          }
          if (session) SSL_SESSION_free(session);
          done.count_down();
        },
        asio::detached);
  }
  co_await done.wait();
  double secs = std::chrono::duration<double>(clk::now() - t0).count();
  co_await sleep_for(st.io, 0.2);  // the proxy finishes closing the last ones
  auto after = read_proc(o.watch_pid);
  run_hook(o.after_measure);
  out += "\"connections\": " + std::to_string(completed) + ", \"resumed\": " + std::to_string(resumed) +
         ", \"seconds\": " + num(secs, 3) + ", \"conn_per_s\": " + num(completed / secs, 1) + ", " +
         latency_json("conn", lat) + proc_json(before, after, completed, "conn");
}

// SSE: time to the first `data:` event (from the request's write) and the gaps between events.
awaitable<void> mode_sse(run_state& st, std::string& out) {
  const auto& o = st.opt;
  std::string req = build_request(o, true, "X-Fake-Events: " + std::to_string(o.sse_events) +
                                               "\r\nX-Fake-Interval-Ms: " + std::to_string(o.sse_interval_ms) +
                                               "\r\n");
  std::vector<double> first, gaps;
  std::uint64_t events = 0;
  latch done(st.io, o.conns);
  for (int w = 0; w < o.conns; ++w) {
    asio::co_spawn(
        st.io,
        // Passed to co_spawn as a function object, which keeps the closure (and `index`) alive
        // for the coroutine's life.
        [&, index = w]() -> awaitable<void> {
          try {
            auto c = co_await open_connection(st);
            // Streams run on a fixed schedule, so connections started together would stay in step
            // and every first event would queue behind the others': spread their starts over one
            // event interval instead (the proxy is measured, not its queue of simultaneous starts).
            if (index > 0) co_await sleep_for(st.io, index * o.sse_interval_ms / 1000.0 / o.conns);
            for (int i = 0; i < o.warmup + o.requests && clk::now() < st.deadline; ++i) {
              bool measured = i >= o.warmup;
              clk::time_point t0 = clk::now(), prev{};
              bool seen_first = false;
              std::string line;
              auto sink = [&](std::string_view piece, clk::time_point at) {
                for (char ch : piece) {
                  if (ch != '\n') {
                    line += ch;
                    continue;
                  }
                  if (line.rfind("data:", 0) == 0) {
                    ++events;
                    if (measured) {
                      if (!seen_first) first.push_back(std::chrono::duration<double, std::micro>(at - t0).count());
                      else gaps.push_back(std::chrono::duration<double, std::micro>(at - prev).count());
                    }
                    seen_first = true;
                    prev = at;
                  }
                  line.clear();
                }
              };
              co_await exchange_once(st, *c, req, sink);
            }
          } catch (const std::exception& e) {
            st.error(e.what());
          }
          done.count_down();
        },
        asio::detached);
  }
  co_await done.wait();
  out += "\"events\": " + std::to_string(events) + ", " + latency_json("first", first) + ", " +
         latency_json("gap", gaps);
}

void usage() {
  std::cerr << "usage: loadgen --mode rps|idle|streams|connect|sse --connect HOST:PORT [--proxy] --ca FILE\n"
               "  [--host openrouter.ai] [--connect-target H:P] [--path P] [--key K] [--conns N]\n"
               "  [--requests M] [--warmup W] [--time-limit S] [--watch-pid PID] [--settle S] [--hold S]\n"
               "  [--resume] [--sse-events E] [--sse-interval-ms I] [--label TEXT]\n"
               "  [--before-measure CMD] [--after-measure CMD] [--pace-ms MS]  (rps mode)\n";
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error("missing value for " + a);
      return argv[++i];
    };
    if (a == "--mode") o.mode = next();
    else if (a == "--connect") o.connect = next();
    else if (a == "--proxy") o.via_proxy = true;
    else if (a == "--host") o.host = next();
    else if (a == "--connect-target") o.connect_target = next();
    else if (a == "--ca") o.ca = next();
    else if (a == "--path") o.path = next();
    else if (a == "--key") o.key = next();
    else if (a == "--conns") o.conns = std::stoi(next());
    else if (a == "--requests") o.requests = std::stoi(next());
    else if (a == "--warmup") o.warmup = std::stoi(next());
    else if (a == "--time-limit") o.time_limit = std::stod(next());
    else if (a == "--watch-pid") o.watch_pid = std::stoi(next());
    else if (a == "--settle") o.settle = std::stod(next());
    else if (a == "--hold") o.hold = std::stod(next());
    else if (a == "--resume") o.resume = true;
    else if (a == "--sse-events") o.sse_events = std::stoi(next());
    else if (a == "--sse-interval-ms") o.sse_interval_ms = std::stoi(next());
    else if (a == "--label") o.label = next();
    else if (a == "--pace-ms") o.pace_ms = std::stoi(next());
    else if (a == "--before-measure") o.before_measure = next();
    else if (a == "--after-measure") o.after_measure = next();
    else {
      usage();
      throw std::runtime_error("unknown argument " + a);
    }
  }
  if (o.ca.empty()) throw std::runtime_error("--ca is required");
  if (o.conns < 1 || o.requests < 0) throw std::runtime_error("bad --conns/--requests");
  return o;
}

void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

}  // namespace

int main(int argc, char** argv) try {
  options o = parse(argc, argv);
  raise_fd_limit();
  asio::io_context io(1);
  ssl::context ctx(ssl::context::tls_client);
  ctx.set_verify_mode(ssl::verify_peer);
  ctx.load_verify_file(o.ca);
  SSL_CTX_set_session_cache_mode(ctx.native_handle(), SSL_SESS_CACHE_CLIENT);
  static const unsigned char alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_CTX_set_alpn_protos(ctx.native_handle(), alpn, sizeof alpn);

  auto [h, p] = split_host_port(o.connect);
  run_state st{o, io, ctx, tcp::endpoint(asio::ip::make_address(h), static_cast<unsigned short>(std::stoi(p))),
               clk::now() + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(o.time_limit)),
               build_request(o, false, ""), 0, {}};
  std::string out;
  bool finished = false;
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        try {
          if (o.mode == "rps") co_await mode_rps(st, out);
          else if (o.mode == "idle") co_await mode_idle(st, out);
          else if (o.mode == "streams") co_await mode_streams(st, out);
          else if (o.mode == "connect") co_await mode_connect(st, out);
          else if (o.mode == "sse") co_await mode_sse(st, out);
          else throw std::runtime_error("unknown mode " + o.mode);
        } catch (const std::exception& e) {
          st.error(std::string("setup: ") + e.what());
        }
        finished = true;
        io.stop();
      },
      asio::detached);
  // The hard bound: whatever happens, the run ends a little after --time-limit (+ hold).
  io.run_for(std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(o.time_limit + o.hold + 5)));
  std::string json = "{\"mode\": \"" + o.mode + "\", \"label\": \"" + o.label + "\", \"via_proxy\": " +
                     (o.via_proxy ? "true" : "false") + ", \"conns\": " + std::to_string(o.conns) +
                     (out.empty() ? "" : ", " + out) + ", \"errors\": " + std::to_string(st.errors) +
                     ", \"first_error\": \"";
  for (char ch : st.first_error) json += (ch == '"' || ch == '\\') ? ' ' : ch;
  json += std::string("\", \"finished\": ") + (finished ? "true" : "false") + "}";
  std::cout << json << std::endl;
  // Connections still open are simply dropped with the process (no waiting on peers).
  std::_Exit(finished && st.errors == 0 ? 0 : 1);
} catch (const std::exception& e) {
  std::cerr << "loadgen: " << e.what() << "\n";
  return 2;
}
