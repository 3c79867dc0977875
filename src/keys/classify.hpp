#pragma once
// What an upstream answer means for the key and the request (SPEC: "Upstream answers").
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "keys/key_masker.hpp"

namespace orp::keys {

// The longest cool-down an upstream's hint (Retry-After, X-RateLimit-Reset) can set: a date
// centuries ahead says no more than this. A restored cool-down is cut to it too.
constexpr std::chrono::milliseconds max_cooldown_hint = std::chrono::hours(24 * 365);

enum class outcome_kind {
  success,        // 2xx: key used, response streamed
  pass_through,   // 400, 403, 404, 413, 422, other 4xx, 1xx/3xx: the client's answer, key kept
  key_invalid,    // 401: disable the key, retry at once with the next key
  key_no_credit,  // 402 credits / key_limit / no detail: disable, retry at once with the next key
  key_cooldown,   // 429, or 402 with Retry-After: cool the key down, retry at once with the next key
  transient,      // 408, 5xx, provider_* error types, network: back off and retry, key kept
};

std::string_view to_string(outcome_kind kind);

struct outcome {
  outcome_kind kind = outcome_kind::transient;
  unsigned status = 0;  // the upstream status (or error.code of a stream's first event); 0 = network
  std::optional<std::chrono::milliseconds> retry_after;  // never negative
  std::string reason;  // short, masked with the key_masker given (the pool's keys) and mask_secrets
  // retry_after is the upstream's own Retry-After (not a window reset read from X-RateLimit-Reset):
  // an instruction to this client, which a global back-off honours too.
  bool retry_after_explicit = false;
};

// Disables or cools the key: the request moves on to another key at once, without back-off.
constexpr bool is_key_specific(outcome_kind kind) {
  return kind == outcome_kind::key_invalid || kind == outcome_kind::key_no_credit ||
         kind == outcome_kind::key_cooldown;
}

using header_list = std::vector<std::pair<std::string, std::string>>;

// `masker` masks the pool's keys in the reason, which quotes the upstream's error text.
outcome classify(unsigned status, const header_list& headers, std::string_view body,
                 std::chrono::system_clock::time_point now_wall, const key_masker& masker = key_masker{});

// A connect/TLS error, reset or timeout before response headers.
outcome network_failure(std::string_view what);

// For a 200 event stream whose first `data:` payload is an error object; nullopt when it is not
// one. error.code may be a number or a string ("server_error" and the like count as 5xx).
std::optional<outcome> classify_sse_first_event(std::string_view data_json,
                                                std::chrono::system_clock::time_point now_wall,
                                                const key_masker& masker = key_masker{});

// Retry-After: delay-seconds or an HTTP-date (IMF-fixdate, RFC 850, asctime), RFC 9110 §10.2.3.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now_wall);
// X-RateLimit-Reset: epoch milliseconds (epoch seconds are recognised by magnitude).
std::optional<std::chrono::milliseconds> parse_rate_limit_reset(std::string_view value,
                                                                std::chrono::system_clock::time_point now_wall);
std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view text);

}  // namespace orp::keys
