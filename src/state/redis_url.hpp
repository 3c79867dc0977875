#pragma once
// state.redis_url: redis://[[user]:password@]host[:port][/db]. Parsed once at start-up.
#include <string>
#include <string_view>

namespace orp::state {

struct redis_endpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string username;  // ACL user (Redis 6+); empty: AUTH with the password alone
  std::string password;  // empty: no AUTH
  int db = 0;

  // For logs: host:port/db, never the password.
  std::string display() const;
};

// Throws std::invalid_argument naming what is wrong (start-up only).
redis_endpoint parse_redis_url(std::string_view url);

}  // namespace orp::state
