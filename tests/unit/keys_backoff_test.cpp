#include <gtest/gtest.h>

#include <set>

#include "keys/backoff.hpp"

namespace {

using namespace std::chrono_literals;
using orp::keys::backoff_delay;
using std::chrono::milliseconds;

TEST(KeysBackoff, ExponentialWithJitterWithinBounds) {
  std::mt19937_64 rng(42);
  for (int retry = 1; retry <= 5; ++retry) {
    const milliseconds full(1000LL << (retry - 1));
    for (int draw = 0; draw < 200; ++draw) {
      const auto d = backoff_delay(retry, 1.0, 30.0, std::nullopt, rng);
      EXPECT_GE(d, full / 2) << retry;
      EXPECT_LE(d, full) << retry;
    }
  }
}

TEST(KeysBackoff, JitterSpreadsAndIsReproducible) {
  std::mt19937_64 a(7), b(7);
  std::set<long long> seen;
  for (int i = 0; i < 50; ++i) {
    const auto x = backoff_delay(3, 1.0, 30.0, std::nullopt, a);
    EXPECT_EQ(x, backoff_delay(3, 1.0, 30.0, std::nullopt, b));
    seen.insert(x.count());
  }
  EXPECT_GT(seen.size(), 40u);
}

TEST(KeysBackoff, CappedByMaxDelay) {
  std::mt19937_64 rng(1);
  for (int retry : {6, 10, 64, 1000}) {
    const auto d = backoff_delay(retry, 1.0, 30.0, std::nullopt, rng);
    EXPECT_GE(d, 15s) << retry;
    EXPECT_LE(d, 30s) << retry;
  }
}

TEST(KeysBackoff, NeverShorterThanRetryAfter) {
  std::mt19937_64 rng(3);
  EXPECT_EQ(backoff_delay(1, 1.0, 30.0, 45s, rng), 45s);  // beyond the cap too: the server said so
  const auto d = backoff_delay(4, 1.0, 30.0, 100ms, rng);
  EXPECT_GE(d, 4s);
  EXPECT_LE(d, 8s);
}

TEST(KeysBackoff, DegenerateInputs) {
  std::mt19937_64 rng(5);
  EXPECT_EQ(backoff_delay(1, 0.0, 30.0, std::nullopt, rng), 0ms);
  EXPECT_EQ(backoff_delay(3, 1.0, 0.0, std::nullopt, rng), 0ms);
  const auto first = backoff_delay(0, 2.0, 30.0, std::nullopt, rng);  // treated as the first retry
  EXPECT_GE(first, 1s);
  EXPECT_LE(first, 2s);
}

TEST(KeysBackoff, RateLimitCooldownDoublesToFiveMinutes) {
  const std::vector<milliseconds> expected{5s, 10s, 20s, 40s, 80s, 160s, 300s, 300s};
  for (int n = 1; n <= 8; ++n) EXPECT_EQ(orp::keys::rate_limit_cooldown(n), expected[n - 1]) << n;
  EXPECT_EQ(orp::keys::rate_limit_cooldown(1000), 300s);
}

TEST(KeysBackoff, GlobalBackoffDoublesToOneMinute) {
  EXPECT_EQ(orp::keys::global_backoff(1), 5s);
  EXPECT_EQ(orp::keys::global_backoff(2), 10s);
  EXPECT_EQ(orp::keys::global_backoff(4), 40s);
  EXPECT_EQ(orp::keys::global_backoff(5), 60s);
  EXPECT_EQ(orp::keys::global_backoff(99), 60s);
}

}  // namespace
