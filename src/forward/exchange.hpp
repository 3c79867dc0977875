#pragma once
// One attempt against the upstream: write the request, read the response head and, where the
// proxy must see more before it commits (an error body, a stream's first event), that much more.
#include <optional>
#include <string>
#include <string_view>

#include "http/parser.hpp"
#include "net/io.hpp"
#include "upstream/connection_pool.hpp"

namespace orp::forward {

enum class look_ahead {
  none,         // commit right after the head
  whole_body,   // read the complete (small) body: error answers
  first_event,  // read to the first SSE data event
};

struct exchange {
  upstream::connection_ptr conn;
  http::response_parser parser;
  std::string raw_body;      // body bytes read but not yet sent to the client, as on the wire
  std::string decoded_body;  // the same, de-chunked, while the proxy still needs to look at it
  bool complete = false;     // the whole response has been read
  bool reusable = true;      // the connection may go back to the pool when complete
  bool reused_connection = false;
  net::clock::duration time_to_headers{};
  look_ahead ahead{};  // look_ahead_for(head()), set once the head is read
  // Why the response was refused as malformed (the parser's reason, static text): set with the
  // invalid_argument the reads return for it.
  std::string_view malformed;

  const http::response_head& head() const { return parser.head(); }
};

// What the proxy must see of a response before it commits to it.
look_ahead look_ahead_for(const http::response_head& h);

// Sends `request_bytes` (head + body) and reads the head. A reused connection that turns out to
// be dead before any response byte arrived is replaced by a fresh one, once. When `*abandon` is
// set by the time a connection is ready, nothing is sent (operation_aborted).
net::asio::awaitable<net::error_code> send_and_read_head(upstream::connection_pool& pool, exchange& ex,
                                                         std::string_view request_head,
                                                         std::string_view request_body, bool head_request,
                                                         net::clock::time_point deadline,
                                                         const bool* abandon = nullptr);

// Reads on until `what` is satisfied (or the body ends, or `limit` bytes are buffered).
net::asio::awaitable<net::error_code> read_ahead(exchange& ex, look_ahead what, std::size_t limit,
                                                 net::clock::time_point deadline);

// Parses body bytes that follow the head: how many of them belong to this response (nullopt on a
// framing error); sets complete (and clears reusable when bytes follow the end).
std::optional<std::size_t> parse_body(exchange& ex, std::string_view data, std::string* decoded);

// What went wrong, for the error text and the log: "upstream sent a malformed response: <why>"
// for a response the parser refused, "timeout", else the error's own message.
std::string failure_text(const exchange& ex, net::error_code ec);

// parse_body, keeping a raw copy in raw_body (and a decoded one when asked).
bool feed_body(exchange& ex, std::string_view data, bool keep_decoded);

}  // namespace orp::forward
