// net::watch_reads_only: after an async connect, Asio's reactor watches the descriptor for
// writability for good (so every ACK from the peer would wake the worker). The kernel's own record
// of the registration, /proc/self/fdinfo of the epoll descriptor, shows the event mask.
#include <gtest/gtest.h>

#include <sys/epoll.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "net/io.hpp"

namespace orp::net {
namespace {

using namespace std::chrono_literals;

// The epoll event mask registered for `fd` in any epoll instance of this process.
std::optional<unsigned> epoll_mask_of(int fd) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    auto target = std::filesystem::read_symlink(entry.path(), ec);
    if (ec || target.string() != "anon_inode:[eventpoll]") continue;
    std::ifstream info("/proc/self/fdinfo/" + entry.path().filename().string());
    std::string line;
    while (std::getline(info, line)) {
      // "tfd:       12 events:       19 data: ..."  (events in hex)
      std::istringstream in(line);
      std::string tag, events_tag;
      int tfd = -1;
      unsigned events = 0;
      if (in >> tag >> tfd >> events_tag >> std::hex >> events && tag == "tfd:" && tfd == fd) return events;
    }
  }
  return std::nullopt;
}

TEST(NetReactor, ConnectedSocketIsWatchedForReadsOnly) {
  asio::io_context io(1);
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  tcp::socket client(io), server(io);
  bool done = false;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    tcp::resolver::results_type endpoints = tcp::resolver::results_type::create(
        acceptor.local_endpoint(), "127.0.0.1", std::to_string(acceptor.local_endpoint().port()));
    EXPECT_FALSE(co_await connect(client, endpoints, clock::now() + 5s));
    // A wait for writability, as a write that met a full buffer would do.
    co_await client.async_wait(tcp::socket::wait_write, use_tuple);
    done = true;
  }, asio::detached);
  acceptor.async_accept(server, [](const error_code&) {});
  while (!done && io.run_one_for(5s)) {
  }
  ASSERT_TRUE(done);
  auto before = epoll_mask_of(client.native_handle());
  ASSERT_TRUE(before);
  EXPECT_TRUE(*before & EPOLLOUT) << std::hex << *before;  // what Asio leaves behind

  watch_reads_only(client);
  ASSERT_TRUE(client.is_open());
  auto after = epoll_mask_of(client.native_handle());
  ASSERT_TRUE(after);
  EXPECT_FALSE(*after & EPOLLOUT) << std::hex << *after;
  EXPECT_TRUE(*after & EPOLLIN) << std::hex << *after;

  // Still a working socket: a write and a read cross it.
  asio::write(client, asio::buffer("ping", 4));
  char buf[4];
  asio::read(server, asio::buffer(buf));
  EXPECT_EQ(std::string(buf, 4), "ping");
}

}  // namespace
}  // namespace orp::net
