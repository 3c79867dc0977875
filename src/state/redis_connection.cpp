#include "state/redis_connection.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/time.h>

namespace orp::state {
namespace {

timeval to_timeval(std::chrono::milliseconds d) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(d.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((d.count() % 1000) * 1000);
  return tv;
}

std::pair<std::vector<const char*>, std::vector<std::size_t>> argv_of(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return {std::move(argv), std::move(lens)};
}

}  // namespace

std::optional<redis_connection> redis_connection::open(const redis_endpoint& endpoint, std::chrono::milliseconds timeout,
                                                       bool select, std::string& error) {
  context_ptr c(redisConnectWithTimeout(endpoint.host.c_str(), endpoint.port, to_timeval(timeout)));
  if (!c) {
    error = "out of memory";
    return std::nullopt;
  }
  if (c->err) {
    error = c->errstr;
    return std::nullopt;
  }
  redisSetTimeout(c.get(), to_timeval(timeout));
  redisEnableKeepAlive(c.get());
  redis_connection conn(std::move(c));
  auto expect_ok = [&](std::vector<std::string> args, std::string_view what) {
    auto r = conn.command(args);
    if (!r) {
      error = conn.error();
      return false;
    }
    if (is_error(r.get())) {
      error = std::string(what) + ": " + reply_text(r.get());
      return false;
    }
    return true;
  };
  if (!endpoint.password.empty()) {
    std::vector<std::string> auth{"AUTH"};
    if (!endpoint.username.empty()) auth.push_back(endpoint.username);
    auth.push_back(endpoint.password);
    if (!expect_ok(std::move(auth), "AUTH")) return std::nullopt;
  }
  if (select && endpoint.db != 0 && !expect_ok({"SELECT", std::to_string(endpoint.db)}, "SELECT")) return std::nullopt;
  return conn;
}

reply_ptr redis_connection::command(const std::vector<std::string>& args) {
  auto [argv, lens] = argv_of(args);
  return reply_ptr(static_cast<redisReply*>(
      redisCommandArgv(context_.get(), static_cast<int>(argv.size()), argv.data(), lens.data())));
}

void redis_connection::append(const std::vector<std::string>& args) {
  auto [argv, lens] = argv_of(args);
  redisAppendCommandArgv(context_.get(), static_cast<int>(argv.size()), argv.data(), lens.data());
}

reply_ptr redis_connection::read_reply() {
  void* reply = nullptr;
  if (redisGetReply(context_.get(), &reply) != REDIS_OK) return nullptr;
  return reply_ptr(static_cast<redisReply*>(reply));
}

reply_ptr redis_connection::buffered_reply() {
  void* reply = nullptr;
  if (redisGetReplyFromReader(context_.get(), &reply) != REDIS_OK) return nullptr;
  return reply_ptr(static_cast<redisReply*>(reply));
}

bool redis_connection::read_socket() { return redisBufferRead(context_.get()) == REDIS_OK; }

std::string redis_connection::error() const {
  if (context_->err == 0) return "no error";
  // hiredis reports a closed socket as "Server closed the connection" and a timeout as EAGAIN.
  return context_->errstr[0] ? std::string(context_->errstr) : std::string("I/O error");
}

void block_sigpipe() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void drop_pending_sigpipe() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  timespec zero{};
  while (sigtimedwait(&set, nullptr, &zero) == SIGPIPE) {
  }
}

bool is_error(const redisReply* r) { return r && r->type == REDIS_REPLY_ERROR; }

std::string reply_text(const redisReply* r) {
  if (!r) return {};
  if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR)
    return std::string(r->str, r->len);
  if (r->type == REDIS_REPLY_INTEGER) return std::to_string(r->integer);
  return {};
}

std::vector<std::pair<std::string, std::string>> field_pairs(const redisReply* r) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!r || r->type != REDIS_REPLY_ARRAY) return out;
  for (std::size_t i = 0; i + 1 < r->elements; i += 2)
    out.emplace_back(reply_text(r->element[i]), reply_text(r->element[i + 1]));
  return out;
}

}  // namespace orp::state
