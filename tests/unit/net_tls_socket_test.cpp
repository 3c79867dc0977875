// net::tls_socket against itself on loopback, with the project's CA, leaf and both contexts:
// the handshake verifies the host, data crosses both ways, and the two ways a peer can end
// (close_notify or a bare close) come back as eof and stream_truncated.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "support/tls_pair.hpp"

namespace orp::net {
namespace {

using namespace std::chrono_literals;
using test::tls_pair;

// The socket under `s` is readable (or the wait ends in error).
asio::awaitable<error_code> wait_readable_for_test(tls_socket& s) {
  auto [ec] = co_await s.next_layer().async_wait(asio::ip::tcp::socket::wait_read, use_tuple);
  co_return ec;
}

TEST(NetTlsSocket, HandshakeAndDataBothWays) {
  tls_pair p;
  auto [s, c] = p.handshake();
  ASSERT_FALSE(s) << s.message();
  ASSERT_FALSE(c) << c.message();
  const unsigned char* alpn = nullptr;
  unsigned alpn_len = 0;
  SSL_get0_alpn_selected(p.client->native_handle(), &alpn, &alpn_len);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(alpn), alpn_len), "http/1.1");
  p.run([&]() -> asio::awaitable<void> {
    std::string big(100 * 1024, 'x');  // several records, partial writes
    std::array<asio::const_buffer, 2> bufs{asio::buffer("head:", 5), asio::buffer(big)};
    EXPECT_FALSE(co_await write_all(*p.client, bufs, clock::now() + 5s));
    std::string got;
    char buf[16 * 1024];
    while (got.size() < 5 + big.size()) {
      auto [ec, n] = co_await read_some(*p.server, asio::buffer(buf), clock::now() + 5s);
      if (ec) break;
      got.append(buf, n);
    }
    EXPECT_EQ(got.size(), 5 + big.size());
    EXPECT_EQ(got.substr(0, 5), "head:");
  });
}

// The client leg prefers AES-128-GCM-SHA256 (cheaper key schedule and records) even when the
// client lists OpenSSL's default order, AES-256-GCM-SHA384 first, as curl and Python do.
TEST(NetTlsSocket, ServerPrefersAes128WithTls13) {
  tls_pair p;
  SSL_set_ciphersuites(p.client->native_handle(),
                       "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256");
  auto [s, c] = p.handshake();
  ASSERT_FALSE(s) << s.message();
  ASSERT_FALSE(c) << c.message();
  EXPECT_STREQ(SSL_get_version(p.server->native_handle()), "TLSv1.3");
  EXPECT_STREQ(SSL_CIPHER_get_name(SSL_get_current_cipher(p.server->native_handle())), "TLS_AES_128_GCM_SHA256");
}

TEST(NetTlsSocket, WrongHostFailsTheHandshake) {
  tls_pair p("example.com");
  auto [s, c] = p.handshake();
  EXPECT_TRUE(c);
  EXPECT_EQ(c.category(), asio::error::get_ssl_category()) << c.message();
}

// The server sends one byte and the client reads it, taking in the session ticket before it:
// closing a socket with unread data makes the kernel answer with a reset instead of a FIN.
asio::awaitable<void> server_byte_read_by_client(tls_pair& p) {
  EXPECT_FALSE(co_await write_all(*p.server, asio::buffer("x", 1), clock::now() + 5s));
  char one[8];
  auto [ec, n] = co_await read_some(*p.client, asio::buffer(one), clock::now() + 5s);
  EXPECT_FALSE(ec);
  EXPECT_EQ(n, 1u);
}

// After server_byte_read_by_client, `closing` closes its socket without close_notify: what the
// next read on `reading` ends with.
asio::awaitable<error_code> bare_close_seen_by(tls_pair& p, tls_socket& closing, tls_socket& reading) {
  co_await server_byte_read_by_client(p);
  closing.lowest_layer().close();
  char buf[64];
  auto [ec, n] = co_await read_some(reading, asio::buffer(buf), clock::now() + 5s);
  co_return ec;
}

TEST(NetTlsSocket, CloseNotifyIsEofAndABareCloseIsTruncation) {
  {
    tls_pair p;
    ASSERT_FALSE(p.handshake().second);
    p.run([&]() -> asio::awaitable<void> {
      co_await shutdown(*p.client, 200ms);
      char buf[64];
      auto [ec, n] = co_await read_some(*p.server, asio::buffer(buf), clock::now() + 5s);
      EXPECT_EQ(ec, asio::error::eof) << ec.message();
    });
  }
  {
    // The upstream leg (the proxy as TLS client) tells a bare close from a close_notify.
    tls_pair p;
    ASSERT_FALSE(p.handshake().second);
    p.run([&]() -> asio::awaitable<void> {
      auto ec = co_await bare_close_seen_by(p, *p.server, *p.client);
      EXPECT_EQ(ec, asio::ssl::error::stream_truncated) << ec.message();
    });
  }
}

TEST(NetTlsSocket, AClientsBareCloseEndsTheClientLegCleanlyAndKeepsItsSession) {
  // Many clients close without close_notify. On the client leg that is a plain end of stream
  // (HTTP's framing catches a cut message), and the client's session stays in the cache to be
  // resumed: as a TLS error it would be dropped (SSL_OP_IGNORE_UNEXPECTED_EOF, tls/contexts.cpp).
  tls_pair p;
  ASSERT_FALSE(p.handshake().second);
  p.run([&]() -> asio::awaitable<void> {
    auto ec = co_await bare_close_seen_by(p, *p.client, *p.server);
    EXPECT_EQ(ec, asio::error::eof) << ec.message();
    co_await shutdown(*p.server, 200ms);
  });
  SSL* server = p.server->native_handle();
  SSL_CTX* ctx = SSL_get_SSL_CTX(server);  // the leaf cache's, alive as long as p
  EXPECT_EQ(SSL_SESSION_is_resumable(SSL_get_session(server)), 1);
  EXPECT_EQ(SSL_CTX_sess_number(ctx), 1);
  p.server.reset();  // freeing the SSL object must not drop the session either
  EXPECT_EQ(SSL_CTX_sess_number(ctx), 1);
}

// peek() tells data from a close_notify (which TLS 1.3 encrypts, so that from outside both are
// application-data records) without taking the data: the next read still gets it.
TEST(NetTlsSocket, PeekTellsDataFromCloseNotifyAndKeepsTheData) {
  tls_pair p;
  ASSERT_FALSE(p.handshake().second);
  p.run([&]() -> asio::awaitable<void> {
    EXPECT_EQ(p.server->peek(), SSL_ERROR_WANT_READ);  // nothing sent yet
    EXPECT_FALSE(co_await write_all(*p.client, asio::buffer("next", 4), clock::now() + 5s));
    EXPECT_FALSE(co_await wait_readable_for_test(*p.server));
    EXPECT_EQ(p.server->peek(), SSL_ERROR_NONE);
    char buf[16];
    auto [ec, n] = co_await read_some(*p.server, asio::buffer(buf), clock::now() + 5s);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(std::string(buf, n), "next");
    co_await shutdown(*p.client, 200ms);
    EXPECT_FALSE(co_await wait_readable_for_test(*p.server));
    EXPECT_EQ(p.server->peek(), SSL_ERROR_ZERO_RETURN);
  });
}

TEST(NetTlsSocket, SilentPeerTimesOut) {
  tls_pair p;
  ASSERT_FALSE(p.handshake().second);
  p.run([&]() -> asio::awaitable<void> {
    char buf[64];
    auto start = clock::now();
    auto [ec, n] = co_await read_some(*p.server, asio::buffer(buf), start + 50ms);
    EXPECT_EQ(ec, asio::error::timed_out);
    EXPECT_LT(clock::now() - start, 2s);
  });
}

// A client that connects and never says hello: the server's handshake ends at its deadline with
// timed_out (the handshake runs under the connection's watchdog, not a raced timer).
TEST(NetTlsSocket, SilentClientTimesOutTheHandshake) {
  tls_pair p;
  p.run([&]() -> asio::awaitable<void> {
    auto start = clock::now();
    auto ec = co_await handshake(*p.server, /*server=*/true, start + 100ms);
    EXPECT_EQ(ec, asio::error::timed_out) << ec.message();
    EXPECT_GE(clock::now() - start, 90ms);
    EXPECT_LT(clock::now() - start, 2s);
  });
}

// Writing to a peer that has closed must come back as an error. With write(2) underneath (OpenSSL's
// socket BIO) the second write after the peer's close raised SIGPIPE and ended the process.
TEST(NetTlsSocket, WritingToAClosedPeerIsAnErrorNotASignal) {
  tls_pair p;
  ASSERT_FALSE(p.handshake().second);
  p.run([&]() -> asio::awaitable<void> {
    p.client->lowest_layer().close();
    std::string chunk(64 * 1024, 'x');
    error_code ec;
    for (int i = 0; i < 50 && !ec; ++i) ec = co_await write_all(*p.server, asio::buffer(chunk), clock::now() + 5s);
    EXPECT_TRUE(ec == asio::error::broken_pipe || ec == asio::error::connection_reset) << ec.message();
  });
}

// Read-ahead: two records that arrive in one segment are read from the socket at once, so after
// the first is consumed the second sits in OpenSSL's buffer and the socket signals nothing more.
// wait_readable must see it (SSL_has_pending) instead of waiting on the socket until its deadline.
TEST(NetTlsSocket, RecordReadAheadIsSeenByWaitReadable) {
  tls_pair p;
  ASSERT_FALSE(p.handshake().second);
  p.run([&]() -> asio::awaitable<void> {
    // Two SSL_writes (two records) in the same turn: they reach the peer together.
    EXPECT_FALSE(co_await write_all(*p.server, asio::buffer("first", 5), clock::now() + 5s));
    EXPECT_FALSE(co_await write_all(*p.server, asio::buffer("second", 6), clock::now() + 5s));
    deadline dl(p.client->lowest_layer());
    char buf[64];
    std::string got;
    // The client's first reads may meet the server's session tickets (no data) before "first".
    while (got.size() < 5) {
      auto [ec, n] = co_await read_some(*p.client, asio::buffer(buf, 5 - got.size()), dl, clock::now() + 5s);
      if (ec) break;
      got.append(buf, n);
    }
    EXPECT_EQ(got, "first");
    // Waiting on the socket would time out: nothing more arrives on it.
    auto wec = co_await wait_readable(*p.client, dl, clock::now() + 10s);
    EXPECT_FALSE(wec) << wec.message();
    auto [ec, n] = co_await read_some(*p.client, asio::buffer(buf), dl, clock::now() + 5s);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(std::string(buf, n), "second");
  });
}

}  // namespace
}  // namespace orp::net
