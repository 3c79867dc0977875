// The open-file limit (util/fd_limit.hpp): raised from soft to hard at start, and how many
// connections a limit holds.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include "util/fd_limit.hpp"

using orp::util::connections_allowed;
using orp::util::raise_fd_limit;
using orp::util::reserved_fds;

TEST(FdLimit, ConnectionsTakeTwoDescriptorsEachBeyondTheReserve) {
  EXPECT_EQ(connections_allowed(0), 0);
  EXPECT_EQ(connections_allowed(reserved_fds), 0);
  EXPECT_EQ(connections_allowed(reserved_fds + 1), 0);
  EXPECT_EQ(connections_allowed(reserved_fds + 2), 1);
  EXPECT_EQ(connections_allowed(1024), 480);
  EXPECT_EQ(connections_allowed(20000), 9968);
  EXPECT_EQ(connections_allowed(1048576), 524256);
  EXPECT_EQ(connections_allowed(UINT64_MAX), static_cast<std::int64_t>((UINT64_MAX - reserved_fds) / 2));
}

// Lowering one's own soft limit is always allowed; the raise must bring it back to the hard one.
TEST(FdLimit, TheSoftLimitIsRaisedToTheHardOne) {
  rlimit start{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &start), 0);
  if (start.rlim_max == RLIM_INFINITY || start.rlim_max < 128) GTEST_SKIP() << "hard limit unsuitable here";
  rlimit lowered{64, start.rlim_max};
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &lowered), 0);

  const auto fds = raise_fd_limit();
  EXPECT_EQ(fds.soft_before, 64u);
  EXPECT_EQ(fds.soft, start.rlim_max);
  EXPECT_EQ(fds.hard, start.rlim_max);
  EXPECT_TRUE(fds.raised());
  rlimit now{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &now), 0);
  EXPECT_EQ(now.rlim_cur, start.rlim_max);

  // Already at the hard limit: nothing to do.
  const auto again = raise_fd_limit();
  EXPECT_FALSE(again.raised());
  EXPECT_EQ(again.soft, start.rlim_max);
  setrlimit(RLIMIT_NOFILE, &start);
}
