#pragma once
// One intercepted request's life: pick a key, send, classify the answer, rotate or back off and
// try again, then commit and stream the chosen answer back to the client as it arrives.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include "admin/metrics.hpp"
#include "http/parser.hpp"
#include "keys/key_pool.hpp"
#include "net/io.hpp"
#include "upstream/connection_pool.hpp"

namespace orp::forward {

struct forward_settings {
  net::clock::duration request_timeout = std::chrono::seconds(120);
  net::clock::duration stream_idle_timeout = std::chrono::seconds(300);
  int max_retries = 3;
  double retry_delay = 1.0;      // seconds
  double max_retry_delay = 30;   // seconds
};

struct exchange;

// The requests in flight on one worker, so that a stopping proxy can cut short those still running
// at the end of its drain (proxy.drain_timeout): their pending socket operations are cancelled,
// and each still answers or ends, and writes its access line. Intrusive: joining and leaving
// allocate nothing. Used on the worker's thread only.
class in_flight_list {
 public:
  struct entry {
    net::tcp::socket* client = nullptr;
    const exchange* ex = nullptr;                  // its upstream connection, once it has one
    net::asio::steady_timer* waiting = nullptr;   // while it waits for a cool-down or a back-off
    bool cut = false;
    entry* prev = nullptr;
    entry* next = nullptr;
  };
  void join(entry& e) noexcept;  // after cut_all(): joins already cut
  void leave(entry& e) noexcept;
  // Marks every entry cut and cancels what it waits for; returns how many there were. From then
  // on, what joins is cut at once (a request arriving on a kept-alive connection meanwhile).
  std::size_t cut_all();
  // The proxy began to stop: what waits for a cool-down or a back-off stops waiting (and answers
  // 503) instead of finding out at the end of its wait.
  void wake_waiters();
  std::size_t size() const noexcept { return size_; }

 private:
  entry* head_ = nullptr;
  std::size_t size_ = 0;
  bool cutting_ = false;
};

// Per worker thread.
struct worker_context {
  upstream::connection_pool& upstream;
  keys::key_pool& keys;
  const forward_settings& settings;
  std::mt19937_64 rng;
  admin::metrics* metrics = nullptr;  // shared, thread-safe
  // Set once the proxy is stopping (SIGTERM): a request does not start waiting for a cool-down or
  // a back-off, and one waiting is woken (in_flight_list::wake_waiters); it is answered 503.
  const std::atomic<bool>* stopping = nullptr;
  // This worker's requests in flight (owned by the worker, so that it outlives the coroutines).
  in_flight_list* in_flight = nullptr;
};

struct client_request {
  const http::request_head& head;
  std::string_view body;
  std::string_view client;  // peer address, for the log
  std::string_view mode;    // "connect", "socks", "base_url", "http_proxy"
  std::uint64_t id = 0;
  std::string_view client_name;  // the authenticated proxy client, if any
};

// Returns true when the client connection can carry another request.
// `client_deadline` guards every write to the client.
template <class ClientStream>
net::asio::awaitable<bool> forward_request(ClientStream& client, net::deadline& client_deadline,
                                           const client_request& request, worker_context& ctx);

}  // namespace orp::forward
