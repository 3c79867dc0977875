#pragma once
// One intercepted request's life: pick a key, send, classify the answer, rotate or back off and
// try again, then commit and stream the chosen answer back to the client as it arrives.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
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

// The requests in flight on one worker. Two uses:
// - a stopping proxy cuts short those still running at the end of its drain
//   (proxy.drain_timeout): their pending socket operations are cancelled, and each still answers
//   or ends, and writes its access line;
// - its client is watched: a client that hangs up has its upstream request cancelled (which stops
//   the generation and its billing) instead of being noticed only when the answer is written. A
//   request gets the watch once it has been in flight for one to two sweep intervals, or when
//   its answer starts streaming: a quick request, most of them, costs nothing for it (no wait
//   on its client socket).
// Intrusive: joining and leaving allocate nothing. Used on the worker's thread only.
class in_flight_list {
 public:
  struct watch_state;
  struct entry {
    net::tcp::socket* client = nullptr;
    net::tls_stream* client_tls = nullptr;        // the client leg's TLS, when it has one
    const exchange* ex = nullptr;                  // its upstream connection, once it has one
    net::asio::steady_timer* waiting = nullptr;   // while it waits for a cool-down or a back-off
    bool cut = false;          // cut short by a stopping proxy
    bool client_gone = false;  // the client hung up
    bool abandon = false;      // cut or client_gone: stop working on the request
    std::uint32_t joined_tick = 0;
    std::shared_ptr<watch_state> watch;  // while its client is watched
    entry* prev = nullptr;
    entry* next = nullptr;
  };
  in_flight_list() = default;
  ~in_flight_list();
  in_flight_list(const in_flight_list&) = delete;
  in_flight_list& operator=(const in_flight_list&) = delete;

  void join(entry& e) noexcept;  // after cut_all(): joins already cut
  void leave(entry& e) noexcept;
  // Marks every entry cut and cancels what it waits for; returns how many there were. From then
  // on, what joins is cut at once (a request arriving on a kept-alive connection meanwhile).
  std::size_t cut_all();
  // The proxy began to stop: what waits for a cool-down or a back-off stops waiting (and answers
  // 503) instead of finding out at the end of its wait.
  void wake_waiters();
  std::size_t size() const noexcept { return size_; }

  // The timer that runs sweep() every `interval` while requests are in flight (the worker's; it
  // must be destroyed before this list). Without one, no client is watched.
  void use_sweep_timer(net::asio::steady_timer& timer,
                       std::chrono::milliseconds interval = std::chrono::milliseconds(250));
  // Starts watching the clients of requests in flight for a whole interval. The timer calls it;
  // tests call it directly.
  void sweep();

 private:
  void schedule_sweep();
  entry* head_ = nullptr;
  std::size_t size_ = 0;
  bool cutting_ = false;
  std::uint32_t tick_ = 0;
  net::asio::steady_timer* timer_ = nullptr;
  std::chrono::milliseconds interval_{250};
  bool sweeping_ = false;
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
