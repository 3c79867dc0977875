// net::idle_buffers: a TLS socket keeps OpenSSL's record buffers while it is in use and gives
// them back once it has been quiet for a whole sweep interval; the heap shows it.
#include <gtest/gtest.h>

#include <malloc.h>

#include "support/tls_pair.hpp"

namespace orp::net {
namespace {

using namespace std::chrono_literals;
using test::tls_pair;

constexpr auto kManual = std::chrono::milliseconds(std::chrono::hours(1));  // sweeps called by hand

// Bytes in use on glibc's heap (unit tests are not linked with mimalloc); the sanitizers bring
// their own allocator, whose figures do not include these blocks.
std::size_t heap_in_use() { return mallinfo2().uordblks; }
constexpr bool kHeapObservable =
#if defined(__SANITIZE_ADDRESS__)
    false;
#else
    true;
#endif

// The client sends a few bytes, the server reads them: both sockets have used their buffers.
void exchange(tls_pair& p) {
  p.run([&]() -> asio::awaitable<void> {
    EXPECT_FALSE(co_await write_all(*p.client, asio::buffer("ping", 4), clock::now() + 5s));
    char buf[16];
    std::size_t got = 0;
    while (got < 4) {
      auto [ec, n] = co_await read_some(*p.server, asio::buffer(buf + got, 4 - got), clock::now() + 5s);
      if (ec) break;
      got += n;
    }
    EXPECT_EQ(std::string(buf, got), "ping");
  });
}

TEST(NetIdleBuffers, QuietSocketsGiveTheirBuffersBackAfterOneWholeInterval) {
  tls_pair p("openrouter.ai", kManual);
  ASSERT_FALSE(p.handshake().first);
  exchange(p);
  auto& sweeper = *p.sweeper;
  EXPECT_EQ(sweeper.tracked(), 2u);
  const std::size_t before = heap_in_use();
  sweeper.sweep();  // both were used during this interval: kept
  EXPECT_EQ(sweeper.tracked(), 2u);
  EXPECT_EQ(sweeper.released(), 0u);
  sweeper.sweep();  // a whole interval without an SSL call: freed
  EXPECT_EQ(sweeper.tracked(), 0u);
  EXPECT_EQ(sweeper.released(), 2u);
  // At least the server's read buffer and the client's write buffer (~17 KiB each) went back.
  if (kHeapObservable) EXPECT_LE(heap_in_use() + 2 * 16 * 1024u, before);  // unsigned: no wrap-around
  // The connection still works, and holds buffers again while it does.
  exchange(p);
  EXPECT_EQ(sweeper.tracked(), 2u);
}

TEST(NetIdleBuffers, ASocketInUseKeepsItsBuffers) {
  tls_pair p("openrouter.ai", kManual);
  ASSERT_FALSE(p.handshake().first);
  auto& sweeper = *p.sweeper;
  for (int i = 0; i < 3; ++i) {
    exchange(p);
    sweeper.sweep();
  }
  EXPECT_EQ(sweeper.released(), 0u);
  sweeper.sweep();
  EXPECT_EQ(sweeper.released(), 2u);
}

// The timer sweeps by itself, and stops once nothing holds buffers: an idle proxy sleeps.
TEST(NetIdleBuffers, TheTimerSweepsAndThenStops) {
  tls_pair p("openrouter.ai", 20ms);
  ASSERT_FALSE(p.handshake().first);
  exchange(p);
  auto& sweeper = *p.sweeper;
  EXPECT_TRUE(sweeper.armed());
  const auto give_up = clock::now() + 5s;
  p.io.restart();
  while (sweeper.released() < 2 && clock::now() < give_up) p.io.run_one_for(100ms);
  EXPECT_EQ(sweeper.released(), 2u);
  EXPECT_EQ(sweeper.tracked(), 0u);
  EXPECT_FALSE(sweeper.armed());
}

TEST(NetIdleBuffers, ReleaseNowMoveAndDestroy) {
  tls_pair p("openrouter.ai", kManual);
  ASSERT_FALSE(p.handshake().first);
  exchange(p);
  auto& sweeper = *p.sweeper;
  p.server->release_buffers();  // a stream between events: at once
  EXPECT_EQ(sweeper.tracked(), 1u);
  // A tracked socket that moves is still found by the sweep; the moved-from one is nothing.
  auto moved = std::make_unique<tls_socket>(std::move(*p.client));
  p.client.reset();
  EXPECT_EQ(sweeper.tracked(), 1u);
  sweeper.sweep();
  sweeper.sweep();
  EXPECT_EQ(sweeper.released(), 1u);
  {
    // A destroyed socket leaves the list (the sweep after must not touch it).
    tls_pair q("openrouter.ai", kManual);
    ASSERT_FALSE(q.handshake().first);
    exchange(q);
    q.client.reset();
    EXPECT_EQ(q.sweeper->tracked(), 1u);
    q.server.reset();
    EXPECT_EQ(q.sweeper->tracked(), 0u);
    q.sweeper->sweep();
    q.sweeper->sweep();
    EXPECT_EQ(q.sweeper->released(), 0u);
  }
}

TEST(NetIdleBuffers, WithoutASweeperOpenSSLReleasesAfterEveryRecord) {
  tls_pair plain;
  EXPECT_TRUE(SSL_get_mode(plain.server->native_handle()) & SSL_MODE_RELEASE_BUFFERS);
  tls_pair swept("openrouter.ai", kManual);
  EXPECT_FALSE(SSL_get_mode(swept.server->native_handle()) & SSL_MODE_RELEASE_BUFFERS);
}

}  // namespace
}  // namespace orp::net
