#pragma once
// One blocking hiredis connection, owned by one thread. Every call has a deadline (the socket
// timeouts set at connect); a null reply means the connection is broken and must be dropped.
#include <hiredis/hiredis.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "state/redis_url.hpp"
#include "util/free_with.hpp"

namespace orp::state {

using util::free_with;
using reply_ptr = std::unique_ptr<redisReply, free_with<freeReplyObject>>;
using context_ptr = std::unique_ptr<redisContext, free_with<redisFree>>;

class redis_connection {
 public:
  // Connects within `timeout`, then AUTH (when the URL has a password) and SELECT (when `select`).
  // Empty, with `error` set, on failure.
  static std::optional<redis_connection> open(const redis_endpoint& endpoint, std::chrono::milliseconds timeout,
                                              bool select, std::string& error);

  reply_ptr command(const std::vector<std::string>& args);
  // Pipelining: append several commands, then read their replies in order.
  void append(const std::vector<std::string>& args);
  reply_ptr read_reply();

  // Subscriber use: a reply already buffered (or nothing), and one read from the socket.
  reply_ptr buffered_reply();
  bool read_socket();

  int fd() const { return context_->fd; }
  bool broken() const { return context_->err != 0; }
  std::string error() const;

 private:
  explicit redis_connection(context_ptr c) : context_(std::move(c)) {}
  context_ptr context_;
};

// hiredis writes with write(2): a write to a connection Redis has closed raises SIGPIPE, whose
// default action ends the process. Blocked in each thread that owns a connection, it stays
// pending there and the write fails with EPIPE instead; drop_pending_sigpipe() discards it.
void block_sigpipe();
void drop_pending_sigpipe();

// "OK" / error text / nil checks on a reply.
bool is_error(const redisReply* r);
std::string reply_text(const redisReply* r);
// A flat array of field/value strings (HGETALL) as pairs.
std::vector<std::pair<std::string, std::string>> field_pairs(const redisReply* r);

}  // namespace orp::state
