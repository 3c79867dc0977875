#pragma once
// GET {api_url}/key with one key: free, and tells whether the key works and how much credit it
// has left. Used by the recovery prober and `openrouter-proxy keys check`.
#include <optional>
#include <string>

#include "keys/api_key.hpp"
#include "net/io.hpp"
#include "upstream/connection_pool.hpp"

namespace orp::forward {

struct probe_result {
  int status = 0;                         // 0: no answer (network, TLS, timeout)
  std::optional<double> limit_remaining;  // empty: unlimited or not reported
  std::optional<double> usage;
  std::optional<bool> is_free_tier;
  std::string error;                      // masked
  bool readable = true;                   // false: a 200 whose body is not a key description
};

net::asio::awaitable<probe_result> probe_key(upstream::connection_pool& pool, const keys::api_key& key,
                                             net::clock::duration timeout);

// Parses the body of a /key answer (exposed for tests); false when it is not one.
bool parse_key_info(std::string_view body, probe_result& out);

}  // namespace orp::forward
