#include "forward/forwarder.hpp"

#include <sys/socket.h>

#include <array>
#include <cmath>

#include "forward/exchange.hpp"
#include "forward/heads.hpp"
#include "forward/key_scrubber.hpp"
#include "forward/responses.hpp"
#include "forward/usage.hpp"
#include "http/headers.hpp"
#include "keys/backoff.hpp"
#include "keys/classify.hpp"
#include "keys/sse.hpp"
#include "log/logging.hpp"

namespace orp::forward {

namespace asio = net::asio;
using net::clock;
using net::error_code;

namespace {

constexpr std::size_t kLookAheadLimit = 1024 * 1024;

keys::header_list to_pairs(const http::header_list& headers) {
  keys::header_list out;
  out.reserve(headers.size());
  for (const auto& h : headers) out.emplace_back(h.name, h.value);
  return out;
}

// The pool's masker is fetched only for errors: they alone quote upstream text, which may hold a key.
keys::outcome classify_exchange(const exchange& ex, const keys::key_pool& pool) {
  auto now_wall = std::chrono::system_clock::now();
  const auto& h = ex.head();
  // Only an error's headers are read (Retry-After, X-RateLimit-Reset): a success skips the copy.
  if (h.status < 200 || h.status >= 300)
    return keys::classify(h.status, to_pairs(h.headers), ex.decoded_body, now_wall, *pool.masker());
  auto oc = keys::classify(h.status, keys::header_list{}, ex.decoded_body, now_wall);
  if (ex.ahead == look_ahead::first_event) {
    auto first = keys::sse_first_event(ex.decoded_body);
    if (first.complete && first.is_error) {
      if (auto e = keys::classify_sse_first_event(first.data, now_wall, *pool.masker())) oc = *e;
    }
  }
  return oc;
}

// What a client whose socket became readable did.
enum class client_news { hung_up, sent_more, nothing };

// Looks without taking anything: a pipelined request stays for the session's next read.
client_news look_at_client(net::tcp::socket& client, net::tls_stream* tls) {
  unsigned char first = 0;
  ssize_t n = ::recv(client.native_handle(), &first, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return client_news::hung_up;
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? client_news::nothing : client_news::hung_up;
  if (!tls) return client_news::sent_more;
  // TLS 1.3 encrypts alerts, so from outside a close_notify looks like application data: let
  // OpenSSL read the record.
  switch (tls->peek()) {
    case SSL_ERROR_NONE: return client_news::sent_more;
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE: return client_news::nothing;  // part of a record, or not data (KeyUpdate)
    default: return client_news::hung_up;                    // close_notify, or a broken connection
  }
}

// Cancels what a request in flight waits for: its upstream connection's pending operation (a
// send, the wait for the answer's head, the look-ahead) and its cool-down or back-off timer.
void cancel_waits(const in_flight_list::entry& e) {
  error_code ignored;
  if (e.ex && e.ex->conn) e.ex->conn->stream.lowest_layer().cancel(ignored);
  if (e.waiting) e.waiting->cancel();
}

}  // namespace

// A watched client: the entry is null once its request is over (the socket may be gone).
struct in_flight_list::watch_state {
  explicit watch_state(in_flight_list::entry* e) : entry(e) {}
  in_flight_list::entry* entry;
};

namespace {

// Watches a request's client until the request is over. A client that hangs up (EOF, reset, a
// close_notify) marks the request gone and abandoned and cancels what it waits for: the upstream
// connection's pending operation (which ends a relay, or the wait for an answer: closing the
// connection is what stops the generation) or its cool-down timer. A client that sends its next
// request early (pipelining) is not watched any further. A plain completion handler rather than
// a coroutine raced with `||`: a stream holds it for its whole life, and the parallel group with
// its two spawned coroutines cost about 3 KiB per stream.
void watch_client(std::shared_ptr<in_flight_list::watch_state> st) {
  auto& client = *st->entry->client;
  client.async_wait(net::tcp::socket::wait_read, [st](const net::error_code& ec) {
    if (!st->entry) return;  // stopped
    if (ec) {
      // Cancelled by something else than stop_watching or a cut (which marks the request
      // abandoned): the client connection's deadline, say. Watch on.
      if (ec == asio::error::operation_aborted && !st->entry->abandon) watch_client(st);
      return;
    }
    auto& e = *st->entry;
    switch (look_at_client(*e.client, e.client_tls)) {
      case client_news::hung_up:
        e.client_gone = e.abandon = true;
        cancel_waits(e);
        return;
      case client_news::nothing: watch_client(st); return;
      case client_news::sent_more: return;  // a pipelined request: it waits for this answer
    }
  });
}

void start_watching(in_flight_list::entry& e) {
  if (e.watch || e.abandon || !e.client) return;
  e.watch = std::make_shared<in_flight_list::watch_state>(&e);
  watch_client(e.watch);
}

// Only between socket operations of the request's own: cancel() takes every pending one.
void stop_watching(in_flight_list::entry& e) {
  if (!e.watch) return;
  e.watch->entry = nullptr;
  e.watch.reset();
  error_code ignored;
  e.client->cancel(ignored);
}

template <class Stream>
constexpr bool is_tls_stream() {
  return !std::is_same_v<Stream, net::tcp::socket>;
}

template <class Stream>
net::tcp::socket& client_socket(Stream& s) {
  if constexpr (is_tls_stream<Stream>()) return s.next_layer();
  else return s;
}

template <class Stream>
net::tls_stream* client_tls(Stream& s) {
  if constexpr (is_tls_stream<Stream>()) return &s;
  else return nullptr;
}

struct relay_result {
  bool client_gone = false;
  bool upstream_failed = false;
  std::string error;
};

// Streams the rest of the upstream body: each piece is written as soon as it is read.
template <class Stream>
asio::awaitable<relay_result> pump(Stream& client, net::deadline& client_dl, exchange& ex, clock::duration idle,
                                   std::uint64_t& bytes_out, usage_scanner& usage, key_scrubber& scrub,
                                   const in_flight_list::entry& flight, bool dechunk) {
  relay_result res;
  const relay_result went_away{true, false, "client went away mid-response"};
  // Events are small: a stream holds a small buffer for as long as it stays open.
  const bool events = ex.ahead == look_ahead::first_event;
  const std::size_t size = events ? 4 * 1024 : 16 * 1024;
  std::unique_ptr<char[]> buf;  // not zero-filled: it is written before it is read
  while (!ex.complete) {
    // The client watch cancels a pending upstream operation; this catches a client that left
    // while the relay was writing to it.
    if (flight.client_gone) co_return went_away;
    if (events) {
      // A stream is mostly silence between events: wait without a buffer, so that thousands of
      // open streams cost little more than their TLS state. Events come faster than the idle
      // sweep (idle_buffers.hpp), so both legs give their TLS record buffers back at once.
      buf.reset();
      ex.conn->stream.release_buffers();
      if constexpr (is_tls_stream<Stream>()) client.release_buffers();
      if (auto wec = co_await net::wait_readable(ex.conn->stream, ex.conn->dl, net::coarse_now() + idle)) {
        if (flight.client_gone) co_return went_away;
        res.upstream_failed = true;
        res.error = wec == asio::error::timed_out ? "upstream stream idle timeout" : "upstream: " + wec.message();
        co_return res;
      }
    }
    if (!buf) buf.reset(new char[size]);
    auto [ec, n] = co_await net::read_some(ex.conn->stream, asio::buffer(buf.get(), size), ex.conn->dl,
                                           net::coarse_now() + idle);
    if (ec && ex.parser.eof_terminated() && (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated)) {
      ex.parser.finish();
      ex.complete = true;
      ex.reusable = false;
      if (auto rest = scrub.flush(); !rest.empty()) {
        if (co_await net::write_all(client, asio::const_buffer(rest.data(), rest.size()), client_dl,
                                    net::coarse_now() + idle))
          co_return went_away;
        bytes_out += rest.size();
      }
      break;
    }
    if (ec) {
      if (flight.client_gone) co_return went_away;
      res.upstream_failed = true;
      res.error = ec == asio::error::timed_out ? "upstream stream idle timeout" : "upstream: " + failure_text(ex, ec);
      co_return res;
    }
    // The bytes go out as they came in (framing included); the parser only finds the end.
    std::string_view data(buf.get(), n);
    std::string decoded;  // for an HTTP/1.0 client only, which must not see chunked framing
    auto used = parse_body(ex, data, dechunk ? &decoded : nullptr);
    if (!used) {
      res.upstream_failed = true;
      res.error = "upstream sent a malformed body";
      co_return res;
    }
    data = scrub.scrub(dechunk ? std::string_view(decoded) : data.substr(0, *used), ex.complete);
    usage.scan(data);
    if (auto wec = co_await net::write_all(client, asio::const_buffer(data.data(), data.size()), client_dl,
                                           net::coarse_now() + idle)) {
      res.client_gone = true;
      res.error = "client went away";
      co_return res;
    }
    bytes_out += data.size();
  }
  co_return res;
}

bool is_stopping(const worker_context& ctx) { return ctx.stopping && ctx.stopping->load(std::memory_order_relaxed); }

// Commits to the answer in `ex`: head and buffered body to the client, then the rest as it comes.
template <class Stream>
// `keep_alive`: the request's; a proxy that began to stop meanwhile says close all the same.
// `http10_client`: the request was HTTP/1.0, whose client knows no chunked framing.
// `flight`: the request's in-flight entry, whose client is watched while the rest streams.
asio::awaitable<bool> commit(Stream& client, net::deadline& client_dl, exchange& ex, bool keep_alive,
                             bool http10_client, worker_context& ctx, const keys::key_lease& lease, unsigned attempts,
                             log::access_record& rec, in_flight_list::entry& flight) {
  keep_alive = keep_alive && !ex.parser.eof_terminated() && !is_stopping(ctx);
  // An error answer is read whole before it is passed on: a pool key quoted in it is masked
  // (the body then goes out unframed, with a Content-Length of its own).
  std::optional<std::size_t> rewritten_length;
  if (ex.complete && ex.head().status >= 300) {
    if (auto masked = mask_error_body(ex.decoded_body, *ctx.keys.masker())) {
      ex.raw_body = std::move(*masked);
      rewritten_length = ex.raw_body.size();
    }
  }
  // Chunked framing must not reach an HTTP/1.0 client (RFC 9112 6.1): a whole body goes out with
  // a Content-Length, one still coming goes out de-chunked and ends with the connection.
  bool dechunk = false;
  if (http10_client && ex.head().chunked && !http::ends_at_head(ex.head().status) && !rewritten_length) {
    ex.raw_body = ex.decoded_body;
    if (ex.complete) {
      rewritten_length = ex.raw_body.size();
    } else {
      dechunk = true;
      keep_alive = false;
    }
  }
  std::string head = build_client_head(ex.head(), lease.display, attempts, keep_alive, rewritten_length, dechunk);
  // The key this request was sent with never comes back to the client, wherever the upstream
  // quotes it: headers, body, trailers, later events (key_scrubber.hpp).
  key_scrubber scrub(lease.key->reveal(), lease.key->secret_part());
  scrub.scrub_in_place(head);
  const std::string_view body = scrub.scrub(ex.raw_body, ex.complete);
  rec.status = ex.head().status;
  usage_scanner usage(ex.ahead == look_ahead::first_event);
  usage.scan(body);
  std::array<asio::const_buffer, 2> first{asio::buffer(head), asio::buffer(body.data(), body.size())};
  auto idle = ctx.settings.stream_idle_timeout;
  if (auto ec = co_await net::write_all(client, first, client_dl, net::coarse_now() + idle)) {
    rec.error = "client went away";
    co_return false;
  }
  rec.bytes_out += head.size() + body.size();
  // What was looked at before committing is on its way: a long stream keeps none of it.
  std::string().swap(head);
  std::string().swap(ex.raw_body);
  std::string().swap(ex.decoded_body);

  relay_result res;
  if (!ex.complete) {
    start_watching(flight);
    res = co_await pump(client, client_dl, ex, idle, rec.bytes_out, usage, scrub, flight, dechunk);
  }
  usage.apply(rec);
  if (res.client_gone || res.upstream_failed) {
    // Closing the upstream connection is what stops the generation (and its billing).
    rec.error = res.error;
    co_return false;
  }
  if (ex.complete && ex.reusable && ex.head().keep_alive) ctx.upstream.release(std::move(ex.conn));
  if (!usage.stream_error().empty()) {
    // The stream failed after events reached the client: nothing can be retried, and closing
    // the connection tells the client that the answer is not whole (SPEC).
    rec.error = "stream error after data: " + ctx.keys.masker()->mask(usage.stream_error());
    co_return false;
  }
  co_return keep_alive;
}

template <class Stream>
asio::awaitable<bool> answer(Stream& client, net::deadline& client_dl, std::string response, log::access_record& rec,
                             unsigned status, std::string_view error) {
  rec.status = status;
  rec.error = std::string(error);
  rec.bytes_out += response.size();
  auto ec = co_await net::write_all(client, asio::buffer(response), client_dl, net::coarse_now() + std::chrono::seconds(30));
  co_return !ec;
}

// A request that was waiting (a cool-down, a back-off) when the proxy began to stop.
template <class Stream>
asio::awaitable<bool> answer_stopping(Stream& client, net::deadline& client_dl, log::access_record& rec) {
  co_await answer(client, client_dl,
                  error_response(503, "openrouter-proxy is stopping; retry", false, std::chrono::seconds(1),
                                 proxy_headers(rec.key, rec.attempts)),
                  rec, 503, "proxy stopping");
  co_return false;
}

// Keeps a request in its worker's in-flight list for as long as it runs.
class in_flight_scope {
 public:
  in_flight_scope(in_flight_list* list, net::tcp::socket& client, net::tls_stream* tls, const exchange& ex)
      : list_(list) {
    entry_.client = &client;
    entry_.client_tls = tls;
    entry_.ex = &ex;
    if (list_) list_->join(entry_);
  }
  ~in_flight_scope() {
    if (list_) list_->leave(entry_);
    else stop_watching(entry_);
  }
  in_flight_scope(const in_flight_scope&) = delete;
  in_flight_scope& operator=(const in_flight_scope&) = delete;

  bool cut() const { return entry_.cut; }
  bool client_gone() const { return entry_.client_gone; }
  bool abandoned() const { return entry_.abandon; }
  const bool* abandon_flag() const { return &entry_.abandon; }
  in_flight_list::entry& entry() { return entry_; }
  void wait_on(asio::steady_timer* timer) { entry_.waiting = timer; }

 private:
  in_flight_list* list_;
  in_flight_list::entry entry_;
};

// Waits until `t`, or until the proxy starts stopping (the worker's in-flight list wakes it):
// false then.
asio::awaitable<bool> sleep_until(clock::time_point t, const std::atomic<bool>* stopping, in_flight_scope& flight) {
  if (stopping && stopping->load()) co_return false;
  asio::steady_timer timer(co_await asio::this_coro::executor, t);
  flight.wait_on(&timer);
  co_await timer.async_wait(net::use_tuple);
  flight.wait_on(nullptr);
  co_return !(stopping && stopping->load());
}

std::chrono::seconds ceil_seconds(clock::duration d) {
  auto s = std::chrono::ceil<std::chrono::seconds>(d);
  return std::max(s, std::chrono::seconds(1));
}

constexpr std::string_view kCutShort = "proxy stopping: cut short at the end of the drain";
// nginx's status for a request whose client closed the connection before the answer.
constexpr unsigned kClientClosedRequest = 499;

}  // namespace

void in_flight_list::join(entry& e) noexcept {
  e.cut = e.abandon = cutting_;
  e.joined_tick = tick_;
  if (timer_ && !sweeping_) schedule_sweep();
  e.prev = nullptr;
  e.next = head_;
  if (head_) head_->prev = &e;
  head_ = &e;
  ++size_;
}

void in_flight_list::leave(entry& e) noexcept {
  stop_watching(e);
  if (e.prev) e.prev->next = e.next;
  else head_ = e.next;
  if (e.next) e.next->prev = e.prev;
  e.prev = e.next = nullptr;
  --size_;
}

std::size_t in_flight_list::cut_all() {
  cutting_ = true;
  for (entry* e = head_; e; e = e->next) {
    e->cut = e->abandon = true;
    error_code ignored;
    if (e->client) e->client->cancel(ignored);
    cancel_waits(*e);
  }
  return size_;
}

void in_flight_list::wake_waiters() {
  for (entry* e = head_; e; e = e->next)
    if (e->waiting) e->waiting->cancel();
}

in_flight_list::~in_flight_list() {
  for (entry* e = head_; e; e = e->next) stop_watching(*e);
}

void in_flight_list::use_sweep_timer(net::asio::steady_timer& timer, std::chrono::milliseconds interval) {
  timer_ = &timer;
  interval_ = interval;
}

void in_flight_list::schedule_sweep() {
  sweeping_ = true;
  timer_->expires_after(interval_);
  timer_->async_wait([this](const error_code& ec) {
    if (ec) {
      sweeping_ = false;
      return;
    }
    sweep();
    if (head_) schedule_sweep();
    else sweeping_ = false;
  });
}

void in_flight_list::sweep() {
  ++tick_;
  // Joined before the previous sweep: in flight for one to two intervals at least.
  for (entry* e = head_; e; e = e->next)
    if (tick_ - e->joined_tick >= 2) start_watching(*e);
}

template <class ClientStream>
asio::awaitable<bool> forward_request(ClientStream& client, net::deadline& client_dl, const client_request& req,
                                      worker_context& ctx) {
  const auto start = clock::now();
  const auto deadline = start + ctx.settings.request_timeout;
  log::access_record rec;
  rec.id = req.id;
  rec.client = std::string(req.client);
  rec.client_name = std::string(req.client_name);
  rec.mode = std::string(req.mode);
  rec.method = req.head.method;
  rec.path = req.head.target;
  rec.bytes_in = req.body.size();
  rec.model = model_of(req.body);

  // Stopping: answers say Connection: close, so clients take their next request elsewhere.
  bool keep_alive = req.head.keep_alive && !is_stopping(ctx);
  const bool http10 = req.head.version_minor == 0;
  // The session armed the client connection's deadline for reading this request; from here every
  // write to the client arms its own, and an expiry would cancel the client watch's wait.
  client_dl.disarm();
  std::vector<std::string> tried;  // fingerprints of keys this request found invalid or out of credit
  int transient_retries = 0;
  // Waits for a cool-down to end. One per request: a key that answers 429 again after its own
  // Retry-After does not get a third try, nor does the request loop on keys that keep saying 429.
  int cooldown_waits = 0;
  constexpr int kMaxCooldownWaits = 1;
  exchange ex;
  bool result = false;
  in_flight_scope flight(ctx.in_flight, client_socket(client), client_tls(client), ex);

  while (true) {
    if (flight.client_gone()) {
      rec.status = kClientClosedRequest;
      rec.error = "client went away before the answer";
      break;
    }
    if (flight.cut()) {
      result = co_await answer_stopping(client, client_dl, rec);
      break;
    }
    auto now = clock::now();
    if (auto until = ctx.keys.global_backoff_until(now)) {
      if (*until >= deadline) {
        result = co_await answer(client, client_dl,
                                 error_response(429, "the upstream is rate limiting this proxy's IP or account; "
                                                     "retry later", keep_alive, ceil_seconds(*until - now),
                                                proxy_headers(rec.key, rec.attempts)),
                                 rec, 429, "global rate limit");
        break;
      }
      if (co_await sleep_until(*until, ctx.stopping, flight)) continue;
      result = co_await answer_stopping(client, client_dl, rec);
      break;
    }
    auto lease = ctx.keys.pick(tried, now);
    if (!lease) {
      auto av = ctx.keys.availability_now(now);
      if (av.total == 0) {
        result = co_await answer(client, client_dl,
                                 error_response(503, "openrouter-proxy has no API keys: add keys to keys.csv", keep_alive,
                                                std::nullopt, proxy_headers(rec.key, rec.attempts)),
                                 rec, 503, "no keys");
        break;
      }
      if (av.earliest_cooldown_end) {
        if (*av.earliest_cooldown_end < deadline && cooldown_waits < kMaxCooldownWaits) {
          ++cooldown_waits;
          if (co_await sleep_until(*av.earliest_cooldown_end, ctx.stopping, flight)) continue;
          result = co_await answer_stopping(client, client_dl, rec);
          break;
        }
        result = co_await answer(client, client_dl,
                                 error_response(429, "every API key is rate limited; retry later", keep_alive,
                                                ceil_seconds(*av.earliest_cooldown_end - now),
                                                proxy_headers(rec.key, rec.attempts)),
                                 rec, 429, "all keys cooling down");
        break;
      }
      result = co_await answer(client, client_dl,
                               error_response(503,
                                              "every API key is disabled (invalid or out of credit); "
                                              "check `openrouter-proxy keys status` and keys.csv",
                                              keep_alive, std::nullopt, proxy_headers(rec.key, rec.attempts)),
                               rec, 503, "all keys disabled");
      break;
    }

    ++rec.attempts;
    rec.key = lease->display;
    rec.key_id = lease->fingerprint;
    std::string head = build_upstream_head(req.head, req.body.size(), ctx.upstream.upstream(), lease->key->reveal());
    auto ec = co_await send_and_read_head(ctx.upstream, ex, head, req.body, req.head.method == "HEAD", deadline,
                                          flight.abandon_flag());
    std::string().swap(head);  // sent: a long stream should not keep it
    if (!ec) {
      ec = co_await read_ahead(ex, ex.ahead, kLookAheadLimit, deadline);
      // request_timeout bounds the wait for response headers (SPEC), and they came in time. A
      // stream that has sent only comments by the deadline (a model slow to its first token) is
      // healthy: stop looking ahead and relay it, under stream_idle_timeout from here on.
      if (ec == asio::error::timed_out && ex.ahead == look_ahead::first_event) ec = {};
    }
    if (flight.abandoned() && (ec || !ex.complete)) {
      // Cut short before anything was committed: not the key's fault, nor the upstream's. An
      // answer already read whole still goes out (to a client still there). The upstream
      // connection closes with the exchange, which stops the generation.
      ctx.keys.cancel(*lease);
      if (flight.client_gone()) continue;  // ended at the top of the loop
      result = co_await answer_stopping(client, client_dl, rec);
      break;
    }
    keys::outcome oc = ec ? keys::network_failure(failure_text(ex, ec))
                          : classify_exchange(ex, ctx.keys);
    if (!ec && rec.upstream_headers_ms < 0)
      rec.upstream_headers_ms = std::chrono::duration<double, std::milli>(ex.time_to_headers).count();
    ctx.keys.report(*lease, oc, clock::now());

    if (oc.kind == keys::outcome_kind::success || oc.kind == keys::outcome_kind::pass_through) {
      result = co_await commit(client, client_dl, ex, keep_alive, http10, ctx, *lease, rec.attempts, rec, flight.entry());
      break;
    }
    log::info("attempt id={} key={} attempt={} failed: {} ({})", req.id, lease->display, rec.attempts,
              keys::to_string(oc.kind), oc.reason);
    // A failed answer that was read whole leaves its connection fit for the next attempt; the
    // last attempt's stays with its exchange, whose answer then goes to the client.
    auto release_for_next_attempt = [&] {
      if (ex.conn && ex.complete && ex.reusable && ex.head().keep_alive) ctx.upstream.release(std::move(ex.conn));
    };
    if (keys::is_key_specific(oc.kind)) {
      release_for_next_attempt();
      // A disabled key is never tried twice for one request; a cooling one may come back once its
      // cool-down ends, while the deadline allows (the pool skips it until then).
      if (oc.kind != keys::outcome_kind::key_cooldown) tried.push_back(lease->fingerprint);
      continue;
    }
    if (transient_retries < ctx.settings.max_retries) {
      ++transient_retries;
      auto delay = keys::backoff_delay(transient_retries, ctx.settings.retry_delay, ctx.settings.max_retry_delay,
                                       oc.retry_after, ctx.rng);
      if (clock::now() + delay < deadline) {
        release_for_next_attempt();
        if (co_await sleep_until(clock::now() + delay, ctx.stopping, flight)) continue;
        result = co_await answer_stopping(client, client_dl, rec);
        break;
      }
    }
    // Out of retries or time: the upstream's own answer when there is one, else ours.
    if (!ec && ex.conn) {
      rec.error = oc.reason;
      result = co_await commit(client, client_dl, ex, keep_alive, http10, ctx, *lease, rec.attempts, rec, flight.entry());
    } else {
      bool timeout = ec == asio::error::timed_out;
      result = co_await answer(client, client_dl,
                               error_response(timeout ? 504 : 502, "upstream unavailable: " + oc.reason, keep_alive,
                                              std::nullopt, proxy_headers(rec.key, rec.attempts)),
                               rec, timeout ? 504 : 502, oc.reason);
    }
    break;
  }
  if (flight.cut()) {
    if (!rec.error.empty()) rec.error = std::string(kCutShort);  // a whole answer that went out stays
    result = false;
  }
  rec.duration_ms = std::chrono::duration<double, std::milli>(clock::now() - start).count();
  log::write_access(rec, client.get_executor());
  if (ctx.metrics) ctx.metrics->record(rec);
  co_return result && keep_alive;
}

template asio::awaitable<bool> forward_request<net::tls_stream>(net::tls_stream&, net::deadline&,
                                                                const client_request&, worker_context&);
template asio::awaitable<bool> forward_request<net::tcp::socket>(net::tcp::socket&, net::deadline&,
                                                                 const client_request&, worker_context&);

}  // namespace orp::forward
