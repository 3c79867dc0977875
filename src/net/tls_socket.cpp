#include "net/tls_socket.hpp"

#include <openssl/err.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstring>
#include <string>

namespace orp::net {

namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// Writes up to this size are joined into one SSL_write (one record, one send).
constexpr std::size_t kJoinLimit = 16 * 1024;
}  // namespace

tls_socket::tls_socket(tcp::socket socket, SSL* ssl) : socket_(std::move(socket)), ssl_(ssl) {
  error_code ignored;
  socket_.non_blocking(true, ignored);
  BIO* bio = BIO_new_socket(static_cast<int>(socket_.native_handle()), BIO_NOCLOSE);
  SSL_set_bio(ssl_, bio, bio);
  // Partial writes let a large body go out as the socket drains; the buffer may move between
  // retries because the coroutine's buffer view is rebuilt each time.
  SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
}

tls_socket::tls_socket(tls_socket&& other) noexcept : socket_(std::move(other.socket_)), ssl_(other.ssl_) {
  other.ssl_ = nullptr;
}

tls_socket::~tls_socket() {
  if (ssl_) SSL_free(ssl_);
}

tls_socket::next tls_socket::classify(int rc, error_code& ec) {
  int err = SSL_get_error(ssl_, rc);
  switch (err) {
    case SSL_ERROR_WANT_READ:
      return next::retry_read;
    case SSL_ERROR_WANT_WRITE:
      return next::retry_write;
    case SSL_ERROR_ZERO_RETURN:
      ec = asio::error::eof;
      return next::done;
    case SSL_ERROR_SYSCALL: {
      unsigned long e = ERR_get_error();
      if (e != 0) ec = error_code(static_cast<int>(e), asio::error::get_ssl_category());
      else if (errno != 0 && errno != EAGAIN) ec = error_code(errno, asio::error::get_system_category());
      else ec = asio::ssl::error::stream_truncated;
      return next::done;
    }
    default: {
      unsigned long e = ERR_get_error();
      // OpenSSL 3 reports a peer that closed without close_notify as an SSL error.
      if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) ec = asio::ssl::error::stream_truncated;
      else ec = error_code(static_cast<int>(e), asio::error::get_ssl_category());
      return next::done;
    }
  }
}

asio::awaitable<error_code> tls_socket::wait(next what) {
  auto [ec] = co_await socket_.async_wait(what == next::retry_read ? tcp::socket::wait_read : tcp::socket::wait_write,
                                          use_tuple);
  co_return ec;
}

asio::awaitable<error_code> tls_socket::handshake(bool server) {
  if (server) SSL_set_accept_state(ssl_);
  else SSL_set_connect_state(ssl_);
  while (true) {
    ERR_clear_error();
    errno = 0;
    int rc = SSL_do_handshake(ssl_);
    if (rc == 1) co_return error_code{};
    error_code ec;
    auto n = classify(rc, ec);
    if (n == next::done) co_return ec ? ec : error_code(asio::error::connection_aborted);
    if (auto wec = co_await wait(n)) co_return wec;
  }
}

asio::awaitable<std::pair<error_code, std::size_t>> tls_socket::read_some(asio::mutable_buffer buf) {
  if (buf.size() == 0) co_return std::pair{error_code{}, std::size_t{0}};
  int want = static_cast<int>(std::min<std::size_t>(buf.size(), 1 << 30));
  while (true) {
    ERR_clear_error();
    errno = 0;
    int rc = SSL_read(ssl_, buf.data(), want);
    if (rc > 0) co_return std::pair{error_code{}, static_cast<std::size_t>(rc)};
    error_code ec;
    auto n = classify(rc, ec);
    if (n == next::done) co_return std::pair{ec, std::size_t{0}};
    if (auto wec = co_await wait(n)) co_return std::pair{wec, std::size_t{0}};
  }
}

asio::awaitable<error_code> tls_socket::write_one(const char* data, std::size_t size) {
  while (size > 0) {
    ERR_clear_error();
    errno = 0;
    int rc = SSL_write(ssl_, data, static_cast<int>(std::min<std::size_t>(size, 1 << 30)));
    if (rc > 0) {
      data += rc;
      size -= static_cast<std::size_t>(rc);
      continue;
    }
    error_code ec;
    auto n = classify(rc, ec);
    if (n == next::done) co_return ec ? ec : error_code(asio::error::broken_pipe);
    if (auto wec = co_await wait(n)) co_return wec;
  }
  co_return error_code{};
}

asio::awaitable<error_code> tls_socket::write_all(std::span<const asio::const_buffer> bufs) {
  std::size_t total = 0;
  for (const auto& b : bufs) total += b.size();
  if (bufs.size() > 1 && total <= kJoinLimit) {
    std::string joined;
    joined.reserve(total);
    for (const auto& b : bufs) joined.append(static_cast<const char*>(b.data()), b.size());
    co_return co_await write_one(joined.data(), total);
  }
  for (const auto& b : bufs)
    if (auto ec = co_await write_one(static_cast<const char*>(b.data()), b.size())) co_return ec;
  co_return error_code{};
}

asio::awaitable<void> tls_socket::shutdown() {
  for (int round = 0; round < 4; ++round) {
    ERR_clear_error();
    errno = 0;
    int rc = SSL_shutdown(ssl_);
    if (rc == 1) co_return;
    if (rc == 0) continue;  // ours sent; once more to read the peer's
    error_code ec;
    auto n = classify(rc, ec);
    if (n == next::done) co_return;
    if (co_await wait(n)) co_return;
  }
}

}  // namespace orp::net
