#pragma once
// TLS over a TCP socket without Asio's SSL engine: OpenSSL reads and writes the non-blocking
// socket itself (a socket BIO), and the coroutine waits for readiness when OpenSSL wants it.
// Compared with asio::ssl::stream this saves two 17 KiB buffers per connection (an idle
// connection then costs little more than the SSL object, with SSL_MODE_RELEASE_BUFFERS) and a
// copy of every byte through a BIO pair.
//
// One read and one write may not run at once (the proxy never needs that); errors come back as
// values: eof for a clean close_notify, asio::ssl::error::stream_truncated for a close without one.
#include <openssl/ssl.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <span>
#include <utility>

namespace orp::net {

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

 private:
  // What to do after an SSL call returned `rc`: wait for readiness (and retry) or stop.
  enum class next { retry_read, retry_write, done };
  next classify(int rc, boost::system::error_code& ec);
  boost::asio::awaitable<boost::system::error_code> wait(next what);
  boost::asio::awaitable<boost::system::error_code> write_one(const char* data, std::size_t size);

  boost::asio::ip::tcp::socket socket_;
  SSL* ssl_;
};

}  // namespace orp::net
