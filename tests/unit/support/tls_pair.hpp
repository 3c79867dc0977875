#pragma once
// Two net::tls_sockets connected on loopback with the project's CA and contexts, for unit tests.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "net/idle_buffers.hpp"
#include "net/io.hpp"
#include "tls/ca.hpp"
#include "tls/contexts.hpp"
#include "tls/leaf_cache.hpp"

namespace orp::net::test {

using namespace std::chrono_literals;

struct tls_pair {
  asio::io_context io{1};
  tls::certificate_authority ca = tls::certificate_authority::create({"openrouter.ai"}, std::chrono::system_clock::now());
  tls::leaf_cache leaves{ca};
  tls::ssl_ctx_ptr client_ctx = tls::make_client_context({});
  // With a sweep interval, both sockets are made under an idle_buffers sweeper of their own (as
  // on a worker thread); without, as on any other thread.
  std::optional<idle_buffers> sweeper;
  std::unique_ptr<tls_socket> server, client;

  explicit tls_pair(const std::string& client_expects = "openrouter.ai",
                    std::optional<std::chrono::milliseconds> sweep_interval = std::nullopt) {
    std::optional<idle_buffers::scope> installed;
    if (sweep_interval) {
      sweeper.emplace(io.get_executor(), *sweep_interval);
      installed.emplace(*sweeper);
    }
    X509_STORE_add_cert(SSL_CTX_get_cert_store(client_ctx.get()), ca.cert());
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    tcp::socket a(io), b(io);
    a.connect(acceptor.local_endpoint());
    acceptor.accept(b);
    auto identity = leaves.get("openrouter.ai", std::chrono::system_clock::now());
    server = std::make_unique<tls_socket>(std::move(b), SSL_new(identity->context.get()));
    SSL* c = SSL_new(client_ctx.get());
    client = std::make_unique<tls_socket>(std::move(a), c);
    tls::configure_client_ssl(c, client_expects);
  }

  // Both handshakes at once; returns (server error, client error).
  std::pair<error_code, error_code> handshake() {
    std::pair<error_code, error_code> out;
    int done = 0;
    io.restart();
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      out.first = co_await net::handshake(*server, true, clock::now() + 5s);
      ++done;
    }, asio::detached);
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      out.second = co_await net::handshake(*client, false, clock::now() + 5s);
      ++done;
    }, asio::detached);
    const auto until = clock::now() + 20s;  // a loop that stays busy fails too
    while (done < 2 && clock::now() < until && io.run_one_for(5s)) {
    }
    return out;
  }

  template <class F>
  void run(F body) {
    bool done = false;
    io.restart();  // an earlier phase may have run out of work and stopped the loop
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      co_await body();
      done = true;
    }, asio::detached);
    const auto until = clock::now() + 20s;
    while (!done && clock::now() < until && io.run_one_for(5s)) {
    }
    ASSERT_TRUE(done);
  }
};

}  // namespace orp::net::test
