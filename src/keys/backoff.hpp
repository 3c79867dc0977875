#pragma once
// Back-off for retries and cool-downs for rate-limited keys.
#include <chrono>
#include <optional>
#include <random>

namespace orp::keys {

// Delay before retry number `retry_number` (1-based) after a transient failure:
// d = min(cap, base * 2^(retry_number-1)), then a uniform draw in [d/2, d] ("equal jitter": spreads
// retries of concurrent requests apart while keeping at least half the exponential growth), then
// raised to retry_after when that is longer. The request deadline is the caller's to apply.
std::chrono::milliseconds backoff_delay(int retry_number, double base_seconds, double cap_seconds,
                                        std::optional<std::chrono::milliseconds> retry_after,
                                        std::mt19937_64& rng);

// Cool-down of a key after its n-th consecutive 429 that carried no hint (neither Retry-After nor
// X-RateLimit-Reset): 5 s, 10 s, 20 s, ... capped at 5 minutes.
std::chrono::milliseconds rate_limit_cooldown(int consecutive_429);

// The global back-off of the n-th consecutive account/IP-wide throttling episode: 5 s doubling to 60 s.
std::chrono::milliseconds global_backoff(int episode);

}  // namespace orp::keys
