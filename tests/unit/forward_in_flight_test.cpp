// forward::in_flight_list: the requests a worker has in flight, cut short at the end of a drain.
// Real loopback sockets: a cut cancels what each request's client socket is waiting for.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>

#include <optional>
#include <vector>

#include "forward/exchange.hpp"
#include "forward/forwarder.hpp"

namespace orp::forward {
namespace {

namespace asio = net::asio;

struct socket_pair {
  explicit socket_pair(asio::io_context& io) : client(io), server(io) {
    net::tcp::acceptor acceptor(io, net::tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    client.connect(acceptor.local_endpoint());
    acceptor.accept(server);
  }
  net::tcp::socket client;
  net::tcp::socket server;
};

TEST(InFlightList, JoinsAndLeavesInAnyOrder) {
  in_flight_list list;
  std::vector<in_flight_list::entry> e(4);
  for (auto& x : e) list.join(x);
  EXPECT_EQ(list.size(), 4u);
  list.leave(e[1]);  // middle
  list.leave(e[3]);  // head (joined last)
  list.leave(e[0]);  // tail
  EXPECT_EQ(list.size(), 1u);
  EXPECT_EQ(list.cut_all(), 1u);
  EXPECT_TRUE(e[2].cut);
  EXPECT_FALSE(e[0].cut || e[1].cut || e[3].cut);
  list.leave(e[2]);
  EXPECT_EQ(list.size(), 0u);
  EXPECT_EQ(list.cut_all(), 0u);
  // After a cut, a request that joins (on a kept-alive connection) is cut from the start.
  in_flight_list::entry late;
  list.join(late);
  EXPECT_TRUE(late.cut);
  list.leave(late);
  in_flight_list fresh;
  fresh.join(late);
  EXPECT_FALSE(late.cut);
  fresh.leave(late);
}

TEST(InFlightList, CutCancelsWhatEachClientSocketWaitsFor) {
  asio::io_context io;
  socket_pair a(io), b(io), quiet(io);
  in_flight_list list;
  in_flight_list::entry ea, eb;
  exchange no_upstream_yet;
  ea.client = &a.server;
  eb.client = &b.server;
  eb.ex = &no_upstream_yet;  // before its upstream connection: only the client side to cancel
  list.join(ea);
  list.join(eb);
  std::optional<net::error_code> wa, wb, wq;
  a.server.async_wait(net::tcp::socket::wait_read, [&](net::error_code ec) { wa = ec; });
  b.server.async_wait(net::tcp::socket::wait_read, [&](net::error_code ec) { wb = ec; });
  quiet.server.async_wait(net::tcp::socket::wait_read, [&](net::error_code ec) { wq = ec; });  // not in the list
  io.poll();
  ASSERT_FALSE(wa || wb || wq);  // nothing to read: all three wait
  EXPECT_EQ(list.cut_all(), 2u);
  io.poll();
  ASSERT_TRUE(wa && wb);
  EXPECT_EQ(*wa, asio::error::operation_aborted);
  EXPECT_EQ(*wb, asio::error::operation_aborted);
  EXPECT_TRUE(ea.cut && eb.cut);
  EXPECT_FALSE(wq);  // a connection not in the list is left alone
  list.leave(ea);
  list.leave(eb);
  quiet.server.cancel();
  io.poll();
}

// A request in flight for a whole sweep interval gets its client watched: a client that hangs up
// marks it gone and abandoned, and what it waits for (here its cool-down timer) is cancelled.
// One that just joined is not watched (no wait on its socket), nor is one sending more.
TEST(InFlightList, SlowRequestsGetTheirClientWatched) {
  asio::io_context io;
  socket_pair slow(io), fresh(io), pipelining(io);
  in_flight_list list;  // no sweep timer: sweep() by hand
  in_flight_list::entry es, ef, ep;
  es.client = &slow.server;
  ef.client = &fresh.server;
  ep.client = &pipelining.server;
  asio::steady_timer cool_down(io, std::chrono::hours(1));
  std::optional<net::error_code> woke;
  cool_down.async_wait([&](net::error_code ec) { woke = ec; });
  es.waiting = &cool_down;
  list.join(es);
  list.join(ep);
  list.sweep();
  list.join(ef);  // joins between two sweeps
  list.sweep();
  EXPECT_TRUE(es.watch && ep.watch);
  EXPECT_FALSE(ef.watch);  // in flight for less than an interval

  pipelining.client.write_some(asio::buffer("POST", 4));  // its next request, early
  io.poll();
  EXPECT_FALSE(ep.client_gone || ep.abandon);
  slow.client.close();  // hangs up while its request waits for a cool-down
  for (int i = 0; i < 100 && !woke; ++i) io.run_one_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(es.client_gone && es.abandon);
  ASSERT_TRUE(woke);
  EXPECT_EQ(*woke, asio::error::operation_aborted);
  EXPECT_FALSE(es.cut);
  list.leave(es);
  list.leave(ep);
  list.leave(ef);
  EXPECT_FALSE(es.watch || ep.watch);
  io.poll();
}

}  // namespace
}  // namespace orp::forward
