#pragma once
// Keep-alive TLS connections to the upstream, one pool per worker thread (not thread-safe: it
// is only touched from its worker's io_context). A connection returns to the pool only after a
// complete response; one that signals anything while idle (EOF, bytes) is dropped at once, one
// found dead when leased is dropped and another one used.
#include <openssl/ssl.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "net/io.hpp"
#include "upstream/target.hpp"

namespace orp::upstream {

struct connection {
  connection(net::tls_stream s, std::uint64_t connection_id)
      : stream(std::move(s)), dl(stream.next_layer()), id(connection_id) {}
  net::tls_stream stream;
  net::deadline dl;  // guards every operation on `stream`
  std::uint64_t id;
  unsigned requests = 0;            // responses completed on it
  net::clock::time_point idle_since{};
};
using connection_ptr = std::unique_ptr<connection>;

// Written by the pool's worker, read by the admin endpoint on another thread.
struct pool_stats {
  std::atomic<std::uint64_t> connects{0};
  std::atomic<std::uint64_t> reuses{0};
  std::atomic<std::uint64_t> connect_failures{0};
  std::atomic<std::uint64_t> discarded_stale{0};  // found closed before use
  std::atomic<std::uint64_t> stale_retries{0};    // found closed on use: the request was sent again
  std::atomic<std::uint64_t> idle{0};
};

class connection_pool {
 public:
  connection_pool(net::asio::any_io_executor ex, SSL_CTX* client_ctx, target t, resolve_overrides overrides,
                  net::clock::duration connect_timeout, net::clock::duration idle_timeout);

  // An idle live connection when there is one (unless fresh_only), else a new verified one.
  // The error says what failed (resolve, connect, TLS verification) when no connection is had.
  net::asio::awaitable<std::pair<net::error_code, connection_ptr>> acquire(net::clock::time_point deadline,
                                                                           bool fresh_only = false);
  // Only after a complete response with keep-alive; anything else is simply destroyed.
  void release(connection_ptr c);

  const pool_stats& stats() const { return stats_; }
  // A pooled connection failed on first use before any answer (closed by the upstream while
  // idle); the caller sends the request again on a fresh one.
  void note_stale_retry() { ++stats_.stale_retries; }
  std::size_t idle_count() const { return idle_.size(); }
  const target& upstream() const { return target_; }

 private:
  net::asio::awaitable<std::pair<net::error_code, connection_ptr>> connect_new(net::clock::time_point deadline);
  bool looks_alive(connection& c) const;
  void watch_idle(connection& c);
  void drop_idle(std::uint64_t id, unsigned round);

  net::asio::any_io_executor executor_;
  SSL_CTX* client_ctx_;
  target target_;
  resolve_overrides overrides_;
  net::clock::duration connect_timeout_;
  net::clock::duration idle_timeout_;
  std::vector<connection_ptr> idle_;  // most recently used last
  pool_stats stats_;
  std::uint64_t next_id_ = 1;
};

}  // namespace orp::upstream
