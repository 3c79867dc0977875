// net::deadline on real loopback sockets: an operation past its instant ends with timed_out, a
// later operation is unaffected, and moving the instant earlier takes effect at once.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "net/io.hpp"

namespace orp::net {
namespace {

using namespace std::chrono_literals;

struct socket_pair {
  asio::io_context io{1};
  tcp::socket a{io}, b{io};
  socket_pair() {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    a.connect(acceptor.local_endpoint());
    acceptor.accept(b);
  }
};

// Runs a coroutine to completion on the pair's io_context (bounded by the test's own deadlines).
template <class F>
void run(socket_pair& p, F body) {
  bool done = false;
  asio::co_spawn(p.io, [&]() -> asio::awaitable<void> {
    co_await body();
    done = true;
    p.io.stop();  // the watchdog coroutine would keep the loop alive
  }, asio::detached);
  p.io.run_for(10s);
  ASSERT_TRUE(done) << "the coroutine did not finish within 10 s";
}

TEST(NetDeadline, ReadPastTheInstantTimesOut) {
  socket_pair p;
  deadline dl(p.a);
  run(p, [&]() -> asio::awaitable<void> {
    char buf[16];
    auto start = clock::now();
    auto [ec, n] = co_await read_some(p.a, asio::buffer(buf), dl, start + 50ms);
    auto took = clock::now() - start;
    EXPECT_EQ(ec, asio::error::timed_out);
    EXPECT_EQ(n, 0u);
    EXPECT_GE(took, 50ms);
    EXPECT_LT(took, 2s);
    EXPECT_TRUE(dl.expired());
  });
}

TEST(NetDeadline, AnOperationInTimeIsUntouchedAndClearsTheExpiry) {
  socket_pair p;
  deadline dl(p.a);
  run(p, [&]() -> asio::awaitable<void> {
    char buf[16];
    auto [ec1, n1] = co_await read_some(p.a, asio::buffer(buf), dl, clock::now() + 30ms);
    EXPECT_EQ(ec1, asio::error::timed_out);
    asio::write(p.b, asio::buffer("hello", 5));
    auto [ec2, n2] = co_await read_some(p.a, asio::buffer(buf), dl, clock::now() + 5s);
    EXPECT_FALSE(ec2) << ec2.message();
    EXPECT_EQ(std::string(buf, n2), "hello");
    EXPECT_FALSE(dl.expired());
  });
}

TEST(NetDeadline, AnEarlierInstantTakesEffectAtOnce) {
  socket_pair p;
  deadline dl(p.a);
  run(p, [&]() -> asio::awaitable<void> {
    char buf[16];
    // The watchdog first sleeps towards a far instant ...
    asio::write(p.b, asio::buffer("x", 1));
    auto [ec1, n1] = co_await read_some(p.a, asio::buffer(buf), dl, clock::now() + 60s);
    EXPECT_FALSE(ec1);
    // ... and must wake for a near one, not 60 s later.
    auto start = clock::now();
    auto ec2 = co_await wait_readable(p.a, dl, start + 50ms);
    EXPECT_EQ(ec2, asio::error::timed_out);
    EXPECT_LT(clock::now() - start, 2s);
  });
}

TEST(NetDeadline, DisarmedNeverFires) {
  socket_pair p;
  deadline dl(p.a);
  run(p, [&]() -> asio::awaitable<void> {
    dl.disarm();
    asio::steady_timer later(p.io, 100ms);
    co_await later.async_wait(use_tuple);
    EXPECT_FALSE(dl.expired());
    asio::write(p.b, asio::buffer("y", 1));
    char buf[4];
    auto [ec, n] = co_await read_some(p.a, asio::buffer(buf), dl, clock::time_point::max());
    EXPECT_FALSE(ec);
    EXPECT_EQ(n, 1u);
  });
}

}  // namespace
}  // namespace orp::net

namespace orp::net {
namespace {

// Deadlines use the coarse clock: the same clock as steady_clock, a kernel tick behind at most.
TEST(NetDeadline, CoarseNowIsSteadyClockAtTickResolution) {
  for (int i = 0; i < 100; ++i) {
    auto before = std::chrono::steady_clock::now();
    auto coarse = coarse_now();
    auto after = std::chrono::steady_clock::now();
    EXPECT_LE(coarse, after);
    EXPECT_GT(coarse, before - std::chrono::milliseconds(50));
  }
}

}  // namespace
}  // namespace orp::net
