#pragma once
// Awaitable socket/stream operations that each carry a deadline. Errors come back as values
// (no exceptions on the data path); a passed deadline is reported as asio::error::timed_out.
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/connect.hpp>

#include <array>
#include <chrono>
#include <span>
#include <type_traits>
#include <utility>

#include "net/deadline.hpp"
#include "net/tls_socket.hpp"

namespace orp::net {

namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using clock = std::chrono::steady_clock;
using tls_stream = tls_socket;

template <class Stream>
concept plain_stream = !std::is_same_v<Stream, tls_stream>;

inline constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// True for the ways a peer normally ends a conversation (not worth an error log line).
inline bool is_normal_end(const error_code& ec) {
  return ec == asio::error::eof || ec == asio::ssl::error::stream_truncated ||
         ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe;
}

template <class Stream>
auto& lowest_socket(Stream& s) {
  return s.lowest_layer();
}

template <plain_stream Stream>
asio::awaitable<std::pair<error_code, std::size_t>> read_some(Stream& stream, asio::mutable_buffer buf,
                                                              clock::time_point deadline) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(stream.get_executor(), deadline);
  auto r = co_await (stream.async_read_some(buf, use_tuple) || timer.async_wait(use_tuple));
  if (r.index() == 0) {
    auto [ec, n] = std::get<0>(r);
    co_return std::pair{ec, n};
  }
  co_return std::pair{error_code(asio::error::timed_out), std::size_t{0}};
}

template <plain_stream Stream, class Buffers>
asio::awaitable<error_code> write_all(Stream& stream, const Buffers& bufs, clock::time_point deadline) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(stream.get_executor(), deadline);
  auto r = co_await (asio::async_write(stream, bufs, use_tuple) || timer.async_wait(use_tuple));
  if (r.index() == 0) co_return std::get<0>(std::get<0>(r));
  co_return error_code(asio::error::timed_out);
}

// The TCP socket under a stream (itself for a plain socket).
template <class Stream>
tcp::socket& socket_of(Stream& s) {
  if constexpr (std::is_same_v<Stream, tls_stream>) return s.next_layer();
  else return s;
}

// Operations under a connection's deadline (see net/deadline.hpp): the hot path's form.
inline error_code timed_out_if(const deadline& dl, error_code ec) {
  return ec == asio::error::operation_aborted && dl.expired() ? error_code(asio::error::timed_out) : ec;
}

template <class Stream>
asio::awaitable<std::pair<error_code, std::size_t>> read_some(Stream& stream, asio::mutable_buffer buf, deadline& dl,
                                                              clock::time_point at) {
  dl.expires_at(at);
  if constexpr (std::is_same_v<Stream, tls_stream>) {
    auto [ec, n] = co_await stream.read_some(buf);
    co_return std::pair{timed_out_if(dl, ec), n};
  } else {
    auto [ec, n] = co_await stream.async_read_some(buf, use_tuple);
    co_return std::pair{timed_out_if(dl, ec), n};
  }
}

template <class Stream>
asio::awaitable<error_code> write_all(Stream& stream, std::span<const asio::const_buffer> bufs, deadline& dl,
                                      clock::time_point at) {
  dl.expires_at(at);
  if constexpr (std::is_same_v<Stream, tls_stream>) {
    co_return timed_out_if(dl, co_await stream.write_all(bufs));
  } else {
    auto [ec, n] = co_await asio::async_write(stream, bufs, use_tuple);
    co_return timed_out_if(dl, ec);
  }
}

template <class Stream>
asio::awaitable<error_code> write_all(Stream& stream, asio::const_buffer buf, deadline& dl, clock::time_point at) {
  co_return co_await write_all(stream, std::span<const asio::const_buffer>(&buf, 1), dl, at);
}

template <class Stream, std::size_t N>
asio::awaitable<error_code> write_all(Stream& stream, const std::array<asio::const_buffer, N>& bufs, deadline& dl,
                                      clock::time_point at) {
  co_return co_await write_all(stream, std::span<const asio::const_buffer>(bufs), dl, at);
}

// Waits until the stream has bytes to read (or the peer closed), holding no buffer meanwhile.
template <class Stream>
asio::awaitable<error_code> wait_readable(Stream& stream, deadline& dl, clock::time_point at) {
  if constexpr (std::is_same_v<Stream, tls_stream>) {
    // Read-ahead may hold bytes of the next record that the socket no longer signals.
    if (SSL_has_pending(stream.native_handle())) co_return error_code{};
    // Nothing buffered: OpenSSL's record buffers go back if the wait lasts (idle_buffers.hpp).
    stream.going_idle();
  }
  dl.expires_at(at);
  auto [ec] = co_await socket_of(stream).async_wait(tcp::socket::wait_read, use_tuple);
  co_return timed_out_if(dl, ec);
}

// Waiting for a connect (or any write) registers the descriptor with the reactor for writability,
// and Asio never removes that: with edge-triggered epoll every ACK from the peer then wakes the
// worker for nothing. This registers the connected descriptor again, for reading only (until a
// write actually has to wait). On failure the socket is left closed, and its next operation fails.
inline void watch_reads_only(tcp::socket& socket) {
  error_code ec;
  auto protocol = socket.local_endpoint(ec).protocol();
  if (ec) return;
  auto fd = socket.release(ec);
  if (ec) return;
  socket.assign(protocol, fd, ec);
  if (ec) ::close(fd);
}

// The TLS socket's operations, each raced against its deadline.
inline asio::awaitable<std::pair<error_code, std::size_t>> read_some(tls_stream& stream, asio::mutable_buffer buf,
                                                                     clock::time_point deadline) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(stream.get_executor(), deadline);
  auto r = co_await (stream.read_some(buf) || timer.async_wait(use_tuple));
  if (r.index() == 0) co_return std::get<0>(r);
  co_return std::pair{error_code(asio::error::timed_out), std::size_t{0}};
}

inline asio::awaitable<error_code> write_all(tls_stream& stream, std::span<const asio::const_buffer> bufs,
                                             clock::time_point deadline) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(stream.get_executor(), deadline);
  auto r = co_await (stream.write_all(bufs) || timer.async_wait(use_tuple));
  if (r.index() == 0) co_return std::get<0>(r);
  co_return error_code(asio::error::timed_out);
}

inline asio::awaitable<error_code> write_all(tls_stream& stream, asio::const_buffer buf, clock::time_point deadline) {
  co_return co_await write_all(stream, std::span<const asio::const_buffer>(&buf, 1), deadline);
}

template <std::size_t N>
asio::awaitable<error_code> write_all(tls_stream& stream, const std::array<asio::const_buffer, N>& bufs,
                                      clock::time_point deadline) {
  co_return co_await write_all(stream, std::span<const asio::const_buffer>(bufs), deadline);
}

// Under a watchdog of its own (net::deadline) rather than a timer raced with `||`: one timer
// handler instead of a parallel group of two spawned coroutines for every new connection.
inline asio::awaitable<error_code> handshake(tls_stream& stream, bool server, clock::time_point at) {
  deadline dl(stream.next_layer());
  dl.expires_at(at);
  co_return timed_out_if(dl, co_await stream.handshake(server));
}

// TLS close_notify with a deadline: a peer can stall SSL_shutdown forever. Under a watchdog of its
// own, like the handshake: every intercepted connection ends here.
inline asio::awaitable<void> shutdown(tls_stream& stream, clock::duration limit) {
  deadline dl(stream.next_layer());
  dl.expires_at(coarse_now() + limit);
  co_await stream.shutdown();
}

inline asio::awaitable<error_code> connect(tcp::socket& socket, const tcp::resolver::results_type& endpoints,
                                           clock::time_point deadline) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(socket.get_executor(), deadline);
  auto r = co_await (asio::async_connect(socket, endpoints, use_tuple) || timer.async_wait(use_tuple));
  if (r.index() == 0) co_return std::get<0>(std::get<0>(r));
  co_return error_code(asio::error::timed_out);
}

}  // namespace orp::net
