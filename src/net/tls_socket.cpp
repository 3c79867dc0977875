#include "net/tls_socket.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstring>
#include <string>

#include "net/idle_buffers.hpp"

namespace orp::net {

namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// Writes up to this size are joined into one SSL_write (one record, one send).
constexpr std::size_t kJoinLimit = 16 * 1024;

// SSL_get_error needs an empty error queue before each call. The queue is nearly always empty
// already; ERR_clear_error itself walks all 16 slots (a measurable cost at two calls per record).
void clear_error_queue() {
  if (ERR_peek_error() != 0) ERR_clear_error();
}

// OpenSSL's socket BIO writes with write(2): a write to a connection the peer has closed raises
// SIGPIPE, which ends the process (an upstream that dropped a pooled connection, a client gone
// while its answer is written). This method is the socket BIO with send(MSG_NOSIGNAL) for writes;
// the write then fails with EPIPE like any other error.
int send_nosignal(BIO* b, const char* data, int size) {
  int fd = -1;
  BIO_get_fd(b, &fd);
  errno = 0;
  int n = static_cast<int>(::send(fd, data, static_cast<std::size_t>(size), MSG_NOSIGNAL));
  BIO_clear_retry_flags(b);
  if (n <= 0 && BIO_sock_should_retry(n)) BIO_set_retry_write(b);
  return n;
}

const BIO_METHOD* socket_method() {
  static BIO_METHOD* method = [] {
    const BIO_METHOD* base = BIO_s_socket();
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
                                 "socket, send without SIGPIPE");
    BIO_meth_set_write(m, send_nosignal);
    BIO_meth_set_read(m, BIO_meth_get_read(base));
    BIO_meth_set_puts(m, BIO_meth_get_puts(base));
    BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(base));
    BIO_meth_set_create(m, BIO_meth_get_create(base));
    BIO_meth_set_destroy(m, BIO_meth_get_destroy(base));
    return m;
  }();
  return method;
}
}  // namespace

tls_socket::tls_socket(tcp::socket socket, SSL* ssl)
    : socket_(std::move(socket)), ssl_(ssl), sweeper_(idle_buffers::current()) {
  error_code ignored;
  socket_.non_blocking(true, ignored);
  BIO* bio = BIO_new(socket_method());
  BIO_set_fd(bio, static_cast<int>(socket_.native_handle()), BIO_NOCLOSE);
  SSL_set_bio(ssl_, bio, bio);
  // Partial writes let a large body go out as the socket drains; the buffer may move between
  // retries because the coroutine's buffer view is rebuilt each time.
  SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // Record buffers: kept while the connection is busy, freed by the worker's sweeper once it is
  // quiet; without a sweeper on this thread, freed after every record as before.
  if (!sweeper_) SSL_set_mode(ssl_, SSL_MODE_RELEASE_BUFFERS);
  // Read whole socket buffers, not a 5-byte record header and then the rest: one read(2) per
  // record instead of two. Whatever is read beyond a record stays in OpenSSL's buffer, so a wait
  // for the socket must first ask SSL_has_pending (wait_readable, the pool's liveness check).
  SSL_set_read_ahead(ssl_, 1);
}

tls_socket::tls_socket(tls_socket&& other) noexcept
    : socket_(std::move(other.socket_)),
      ssl_(other.ssl_),
      sweeper_(other.sweeper_),
      slot_(other.slot_),
      used_tick_(other.used_tick_) {
  other.ssl_ = nullptr;
  other.slot_ = no_slot;
  if (slot_ != no_slot) sweeper_->moved(*this);
}

tls_socket::~tls_socket() {
  if (slot_ != no_slot) sweeper_->untrack(*this);
  if (ssl_) SSL_free(ssl_);
}

void tls_socket::note_use() {
  if (!sweeper_) return;
  used_tick_ = sweeper_->tick();
  if (slot_ == no_slot) sweeper_->track(*this);
}

int tls_socket::peek() {
  // SSL_get_error reads the thread's error queue: another connection's leftover would make a
  // record still arriving look like a broken connection.
  ERR_clear_error();
  unsigned char byte = 0;
  const int rc = SSL_peek(ssl_, &byte, 1);
  note_use();
  if (rc > 0) return SSL_ERROR_NONE;
  const int err = SSL_get_error(ssl_, rc);
  if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) ERR_clear_error();
  return err;
}

void tls_socket::going_idle() {
  if (!sweeper_) release_buffers();
}

void tls_socket::release_buffers() {
  if (SSL_free_buffers(ssl_) == 1 && slot_ != no_slot) sweeper_->untrack(*this);
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
    clear_error_queue();
    errno = 0;
    int rc = SSL_do_handshake(ssl_);
    note_use();
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
    clear_error_queue();
    errno = 0;
    int rc = SSL_read(ssl_, buf.data(), want);
    note_use();
    if (rc > 0) co_return std::pair{error_code{}, static_cast<std::size_t>(rc)};
    error_code ec;
    auto n = classify(rc, ec);
    if (n == next::done) co_return std::pair{ec, std::size_t{0}};
    if (auto wec = co_await wait(n)) co_return std::pair{wec, std::size_t{0}};
  }
}

asio::awaitable<error_code> tls_socket::write_one(const char* data, std::size_t size) {
  while (size > 0) {
    clear_error_queue();
    errno = 0;
    int rc = SSL_write(ssl_, data, static_cast<int>(std::min<std::size_t>(size, 1 << 30)));
    note_use();
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
    clear_error_queue();
    errno = 0;
    int rc = SSL_shutdown(ssl_);
    note_use();
    if (rc == 1) co_return;
    if (rc == 0) continue;  // ours sent; once more to read the peer's
    error_code ec;
    auto n = classify(rc, ec);
    if (n == next::done) co_return;
    if (co_await wait(n)) co_return;
  }
}

}  // namespace orp::net
