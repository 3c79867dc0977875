#pragma once
// TLS over a TCP socket without Asio's SSL engine: OpenSSL reads and writes the non-blocking
// socket itself (a socket BIO), and the coroutine waits for readiness when OpenSSL wants it.
// Compared with asio::ssl::stream this saves two 17 KiB buffers per connection (an idle
// connection then costs little more than the SSL object: its record buffers go back once it is
// quiet, see idle_buffers.hpp) and a copy of every byte through a BIO pair.
//
// One read and one write may not run at once (the proxy never needs that); errors come back as
// values: eof for a clean close_notify, asio::ssl::error::stream_truncated for a close without one.
#include <openssl/ssl.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <span>
#include <utility>

namespace orp::net {

class idle_buffers;

class tls_socket {
 public:
  using executor_type = boost::asio::any_io_executor;
  using lowest_layer_type = boost::asio::ip::tcp::socket;

  // Takes ownership of `ssl` (made from the right SSL_CTX, with SNI and host checks set).
  tls_socket(boost::asio::ip::tcp::socket socket, SSL* ssl);
  tls_socket(tls_socket&& other) noexcept;
  tls_socket& operator=(tls_socket&&) = delete;
  tls_socket(const tls_socket&) = delete;
  ~tls_socket();

  executor_type get_executor() { return socket_.get_executor(); }
  boost::asio::ip::tcp::socket& lowest_layer() { return socket_; }
  boost::asio::ip::tcp::socket& next_layer() { return socket_; }
  SSL* native_handle() { return ssl_; }

  boost::asio::awaitable<boost::system::error_code> handshake(bool server);
  boost::asio::awaitable<std::pair<boost::system::error_code, std::size_t>> read_some(boost::asio::mutable_buffer buf);
  // Writes every byte of every buffer; small buffers are joined so they leave in one record.
  boost::asio::awaitable<boost::system::error_code> write_all(std::span<const boost::asio::const_buffer> bufs);
  // Sends close_notify (and waits briefly for the peer's); the caller bounds it with a deadline.
  boost::asio::awaitable<void> shutdown();
  // About to wait with nothing to send or read: the buffers go at the sweeper's next look (or
  // now, without a sweeper on this thread: RELEASE_BUFFERS misses e.g. a TLS 1.3 handshake's).
  void going_idle();
  // Frees OpenSSL's record buffers now (unless data is pending), rather than at the next sweep:
  // for a stream, which is mostly silence between events.
  void release_buffers();
  // Reads what the peer sent without taking it (application data stays for the next read_some):
  // SSL_ERROR_NONE when there is data, else SSL_get_error's verdict (SSL_ERROR_ZERO_RETURN: a
  // close_notify). For watching a connection between reads; counts as a use for the sweeper, as
  // it may allocate a record buffer.
  int peek();

 private:
  friend class idle_buffers;
  static constexpr std::uint32_t no_slot = UINT32_MAX;
  // After every SSL call: the socket was used in this sweep interval (and may hold buffers).
  void note_use();

  // What to do after an SSL call returned `rc`: wait for readiness (and retry) or stop.
  enum class next { retry_read, retry_write, done };
  next classify(int rc, boost::system::error_code& ec);
  boost::asio::awaitable<boost::system::error_code> wait(next what);
  boost::asio::awaitable<boost::system::error_code> write_one(const char* data, std::size_t size);

  boost::asio::ip::tcp::socket socket_;
  SSL* ssl_;
  idle_buffers* sweeper_;            // this thread's, or null (then SSL_MODE_RELEASE_BUFFERS)
  std::uint32_t slot_ = no_slot;     // index in the sweeper's list while it may hold buffers
  std::uint32_t used_tick_ = 0;      // the sweeper's tick at the last SSL call
};

}  // namespace orp::net
