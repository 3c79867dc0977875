#include "proxy/tunnel.hpp"

#include <array>

namespace orp::proxy {

namespace asio = net::asio;
using net::clock;

namespace {

asio::awaitable<void> pump(net::tcp::socket& from, net::tcp::socket& to, clock::time_point& last_activity) {
  std::array<char, 16 * 1024> buf;
  while (true) {
    auto [ec, n] = co_await from.async_read_some(asio::buffer(buf), net::use_tuple);
    if (ec) {
      // Pass the end on (half-close): the other direction may still have data to deliver.
      net::error_code ignored;
      to.shutdown(net::tcp::socket::shutdown_send, ignored);
      co_return;
    }
    last_activity = clock::now();
    auto [wec, m] = co_await asio::async_write(to, asio::buffer(buf.data(), n), net::use_tuple);
    if (wec) {
      net::error_code ignored;
      from.shutdown(net::tcp::socket::shutdown_receive, ignored);
      co_return;
    }
    last_activity = clock::now();
  }
}

asio::awaitable<void> idle_watchdog(const clock::time_point& last_activity, clock::duration idle) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (true) {
    auto due = last_activity + idle;
    if (due <= clock::now()) co_return;
    timer.expires_at(due);
    auto [ec] = co_await timer.async_wait(net::use_tuple);
    if (ec) co_return;
  }
}

}  // namespace

asio::awaitable<void> relay(net::tcp::socket& client, net::tcp::socket& target, std::string early,
                            clock::duration idle) {
  using namespace asio::experimental::awaitable_operators;
  if (!early.empty()) {
    auto ec = co_await net::write_all(target, asio::buffer(early), clock::now() + idle);
    if (ec) co_return;
  }
  clock::time_point last_activity = clock::now();
  co_await ((pump(client, target, last_activity) && pump(target, client, last_activity)) ||
            idle_watchdog(last_activity, idle));
}

}  // namespace orp::proxy
