#include "forward/exchange.hpp"

#include <array>

#include "http/headers.hpp"
#include "keys/classify.hpp"
#include "keys/sse.hpp"

namespace orp::forward {

namespace asio = net::asio;
using net::error_code;

namespace {

constexpr std::size_t kReadChunk = 16 * 1024;

bool is_event_stream(const http::response_head& h) {
  auto ct = http::find_header(h.headers, "Content-Type");
  return ct && ct->find("text/event-stream") != std::string_view::npos;
}

// A response the parser refused: its reason is kept for the error text.
error_code malformed(exchange& ex) {
  ex.malformed = ex.parser.error_reason();
  return asio::error::invalid_argument;
}

// Reads the response head on ex.conn; body bytes that came with it are fed to the parser.
asio::awaitable<error_code> read_head(exchange& ex, net::clock::time_point deadline, bool& got_bytes) {
  std::array<char, kReadChunk> buf;
  while (true) {
    auto [ec, n] = co_await net::read_some(ex.conn->stream, asio::buffer(buf), ex.conn->dl, deadline);
    if (ec) co_return ec;
    got_bytes = true;
    std::string_view data(buf.data(), n);
    while (!data.empty()) {
      auto r = ex.parser.feed(data, nullptr);
      if (r.status == http::parse_status::error) co_return malformed(ex);
      data.remove_prefix(r.consumed);
      if (r.status == http::parse_status::head_complete || r.status == http::parse_status::message_complete) {
        if (ex.head().status >= 100 && ex.head().status < 200) {
          // An interim 1xx answer: skip it and parse the real head that follows.
          if (r.status == http::parse_status::head_complete) {
            auto done = ex.parser.feed({}, nullptr);
            (void)done;
          }
          ex.parser.reset_after_interim();
          continue;
        }
        if (r.status == http::parse_status::message_complete) {
          ex.complete = true;
          if (!data.empty()) ex.reusable = false;
          co_return error_code{};
        }
        if (!feed_body(ex, data, true)) co_return malformed(ex);
        co_return error_code{};
      }
    }
  }
}

}  // namespace

std::optional<std::size_t> parse_body(exchange& ex, std::string_view data, std::string* decoded) {
  std::size_t used = 0;
  // At least one feed, even of nothing: a message without a body (Content-Length: 0, 204, 304,
  // the answer to HEAD) completes only when the parser is fed again after its head.
  while (!ex.complete) {
    auto r = ex.parser.feed(data.substr(used), decoded);
    if (r.status == http::parse_status::error) {
      ex.malformed = ex.parser.error_reason();
      return std::nullopt;
    }
    used += r.consumed;
    if (r.status == http::parse_status::message_complete) ex.complete = true;
    if (used == data.size()) break;
  }
  // Bytes after the end of the response: the connection is out of step, never reuse it.
  if (used < data.size()) ex.reusable = false;
  return used;
}

bool feed_body(exchange& ex, std::string_view data, bool keep_decoded) {
  auto used = parse_body(ex, data, keep_decoded ? &ex.decoded_body : nullptr);
  if (!used) return false;
  ex.raw_body.append(data.data(), *used);
  return true;
}

asio::awaitable<error_code> send_and_read_head(upstream::connection_pool& pool, exchange& ex,
                                               std::string_view request_head, std::string_view request_body,
                                               bool head_request, net::clock::time_point deadline,
                                               const bool* abandon) {
  auto started = net::clock::now();
  for (int round = 0; round < 2; ++round) {
    auto [ec, conn] = co_await pool.acquire(deadline, /*fresh_only=*/round > 0);
    if (ec) co_return ec;
    // Cut short while connecting (the proxy is stopping): the request is not sent at all.
    if (abandon && *abandon) {
      pool.release(std::move(conn));
      co_return asio::error::operation_aborted;
    }
    ex.conn = std::move(conn);
    ex.reused_connection = ex.conn->requests > 0;
    ex.parser.reset();
    ex.parser.set_no_body(head_request);
    ex.raw_body.clear();
    ex.decoded_body.clear();
    ex.complete = false;
    ex.reusable = true;
    ex.malformed = {};

    std::array<asio::const_buffer, 2> bufs{asio::buffer(request_head), asio::buffer(request_body)};
    ec = co_await net::write_all(ex.conn->stream, bufs, ex.conn->dl, deadline);
    // The answer cannot be there yet: wait for it rather than try a read that fails (an SSL_read
    // and a read(2) returning EAGAIN per request), and without read_head's 16 KiB frame, which a
    // slow answer would otherwise hold for its whole wait.
    if (!ec) ec = co_await net::wait_readable(ex.conn->stream, ex.conn->dl, deadline);
    bool got_bytes = false;
    if (!ec) ec = co_await read_head(ex, deadline, got_bytes);
    if (!ec) {
      ex.time_to_headers = net::clock::now() - started;
      ex.ahead = look_ahead_for(ex.head());
      co_return error_code{};
    }
    ex.conn.reset();
    // A keep-alive connection the upstream closed while idle fails on first use: that request
    // never reached it, so sending it again on a new connection is safe.
    // A wait the proxy cancelled itself (a cut at shutdown) says nothing about the connection.
    bool stale = ex.reused_connection && !got_bytes && ec != asio::error::timed_out &&
                 ec != asio::error::operation_aborted;
    if (!stale) co_return ec;
    pool.note_stale_retry();
  }
  co_return asio::error::connection_reset;
}

asio::awaitable<error_code> read_ahead(exchange& ex, look_ahead what, std::size_t limit,
                                       net::clock::time_point deadline) {
  auto satisfied = [&] {
    if (ex.complete || what == look_ahead::none) return true;
    if (ex.raw_body.size() >= limit) return true;
    if (what == look_ahead::first_event) return keys::sse_first_event(ex.decoded_body).complete;
    return false;
  };
  std::array<char, kReadChunk> buf;
  while (!satisfied()) {
    auto [ec, n] = co_await net::read_some(ex.conn->stream, asio::buffer(buf), ex.conn->dl, deadline);
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
      if (ex.parser.eof_terminated()) {
        ex.parser.finish();
        ex.complete = true;
        ex.reusable = false;
        co_return error_code{};
      }
    }
    if (ec) co_return ec;
    if (!feed_body(ex, std::string_view(buf.data(), n), true)) co_return malformed(ex);
  }
  co_return error_code{};
}

std::string failure_text(const exchange& ex, error_code ec) {
  if (ec == asio::error::timed_out) return "timeout";
  if (ec == asio::error::invalid_argument && !ex.malformed.empty()) {
    return std::string("upstream sent a malformed response: ").append(ex.malformed);
  }
  return ec.message();
}

look_ahead look_ahead_for(const http::response_head& h) {
  if (h.status >= 300) return look_ahead::whole_body;
  if (h.status >= 200 && is_event_stream(h)) return look_ahead::first_event;
  return look_ahead::none;
}

}  // namespace orp::forward
