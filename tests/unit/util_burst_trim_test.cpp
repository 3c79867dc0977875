// When a worker trims its heap (util/burst_trim.hpp): after a burst of connections has halved,
// once per halving, never under steady traffic.
#include <gtest/gtest.h>

#include <vector>

#include "util/burst_trim.hpp"

using orp::util::burst_trim;

namespace {

// Opens n connections.
void open(burst_trim& t, int n) {
  for (int i = 0; i < n; ++i) t.opened();
}

// Closes n connections; how many times a trim was asked for.
int close(burst_trim& t, int n) {
  int asked = 0;
  for (int i = 0; i < n; ++i) asked += t.closed() ? 1 : 0;
  return asked;
}

}  // namespace

TEST(BurstTrim, SteadyTrafficBelowTheMinimumPeakNeverTrims) {
  burst_trim t(64);
  for (int round = 0; round < 100; ++round) {
    open(t, 63);
    EXPECT_EQ(close(t, 63), 0);
  }
  EXPECT_EQ(t.open(), 0);
}

TEST(BurstTrim, ChurnAroundALargeSteadyCountNeverTrims) {
  burst_trim t(64);
  open(t, 1000);
  for (int i = 0; i < 10000; ++i) {  // one closes, one opens: the count stays near its peak
    EXPECT_FALSE(t.closed());
    t.opened();
  }
}

TEST(BurstTrim, ABurstAsksOnceWhenItHasHalvedThenNotAgainWhileTheTrimIsPending) {
  burst_trim t(64);
  open(t, 1000);
  EXPECT_EQ(close(t, 499), 0);  // 501 open: more than half
  EXPECT_TRUE(t.closed());      // 500: half of the peak
  EXPECT_TRUE(t.pending());
  EXPECT_EQ(close(t, 500), 0);  // the rest closes before the trim runs: no second request
  t.trimmed();
  EXPECT_FALSE(t.pending());
  open(t, 10);  // after the trim the peak restarts from 0: 10 connections are steady traffic
  EXPECT_EQ(close(t, 10), 0);
}

TEST(BurstTrim, AGradualDeclineTrimsAtEachHalvingDownToTheLastConnection) {
  burst_trim t(64);
  open(t, 1000);
  std::vector<std::int64_t> at;
  while (t.open() > 0) {
    if (t.closed()) {
      t.trimmed();  // the trim runs before the next connection closes
      at.push_back(t.open());
    }
  }
  // Below min_peak the burst goes on: the memory the last connections held is given back too.
  EXPECT_EQ(at, (std::vector<std::int64_t>{500, 250, 125, 62, 31, 15, 7, 3, 1, 0}));
  EXPECT_FALSE(t.in_burst());  // the trim at 0 ended it
  open(t, 20);                 // small traffic afterwards does not trim
  EXPECT_EQ(close(t, 20), 0);
}

TEST(BurstTrim, ABurstThatClosesWhileATrimIsPendingEndsWithTheTrimAtZero) {
  burst_trim t(64);
  open(t, 100);
  EXPECT_EQ(close(t, 60), 1);  // asked at 50
  t.trimmed();                 // runs at 40 open: peak := 40, still in the burst
  EXPECT_TRUE(t.in_burst());
  EXPECT_EQ(close(t, 40), 1);  // asked at 20
  t.trimmed();                 // runs at 0: the burst is over
  EXPECT_FALSE(t.in_burst());
}

TEST(BurstTrim, ANewBurstAfterATrimIsMeasuredFromTheCountAtTheTrim) {
  burst_trim t(64);
  open(t, 200);
  EXPECT_EQ(close(t, 100), 1);  // at 100
  t.trimmed();                  // peak := 100
  open(t, 100);                 // 200 again: peak 200
  EXPECT_EQ(close(t, 99), 0);   // 101
  EXPECT_TRUE(t.closed());      // 100 = half of 200
}
