#include "keys/backoff.hpp"

#include <algorithm>
#include <cmath>

namespace orp::keys {
namespace {

using std::chrono::milliseconds;

// base * 2^(n-1) capped, in ms; the exponent is bounded so the double never overflows.
double capped_exponential_ms(int n, double base_ms, double cap_ms) {
  const int exponent = std::clamp(n, 1, 64) - 1;
  return std::min(cap_ms, std::ldexp(std::max(base_ms, 0.0), exponent));
}

}  // namespace

milliseconds backoff_delay(int retry_number, double base_seconds, double cap_seconds,
                           std::optional<milliseconds> retry_after, std::mt19937_64& rng) {
  const double cap_ms = std::max(cap_seconds, 0.0) * 1000.0;
  const double d = capped_exponential_ms(retry_number, base_seconds * 1000.0, cap_ms);
  std::uniform_real_distribution<double> jitter(d / 2.0, d);
  const auto delay = milliseconds(static_cast<long long>(std::llround(d > 0 ? jitter(rng) : 0.0)));
  return retry_after && *retry_after > delay ? *retry_after : delay;
}

milliseconds rate_limit_cooldown(int consecutive_429) {
  return milliseconds(static_cast<long long>(capped_exponential_ms(consecutive_429, 5'000, 300'000)));
}

milliseconds global_backoff(int episode) {
  return milliseconds(static_cast<long long>(capped_exponential_ms(episode, 5'000, 60'000)));
}

}  // namespace orp::keys
