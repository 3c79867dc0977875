#pragma once
// One deadline per connection instead of one timer race per operation: an operation only stores
// its instant; a watchdog (a timer handler that re-arms itself) sleeps until the earliest one and
// cancels the socket's pending operations when it passes. The operation then sees operation_aborted and, because expired() is
// set, reports asio::error::timed_out. Per operation this costs a store (and a timer re-arm only
// when the deadline moves earlier), where racing a timer with `||` spawned two coroutines.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <time.h>

#include <chrono>
#include <memory>

namespace orp::net {

// The time for deadlines and idle ages: CLOCK_MONOTONIC, which steady_clock reads too, but as of
// the kernel's last tick (a few ms behind) and without reading the time-stamp counter, which costs
// several times more on a VM. A request arms ~10 deadlines; durations in the access log and
// back-off arithmetic keep steady_clock::now().
inline std::chrono::steady_clock::time_point coarse_now() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::seconds(ts.tv_sec) +
                                                                      std::chrono::nanoseconds(ts.tv_nsec)));
}

class deadline {
 public:
  using clock = std::chrono::steady_clock;

  // `socket` must outlive this object (the usual case: both live in the same connection).
  explicit deadline(boost::asio::ip::tcp::socket& socket);
  ~deadline();
  deadline(const deadline&) = delete;
  deadline& operator=(const deadline&) = delete;

  // Arms the deadline for the operations that follow; clears a previous expiry.
  void expires_at(clock::time_point at);
  // No deadline (an idle pooled connection).
  void disarm() { expires_at(clock::time_point::max()); }
  // The last armed instant passed and the socket's operations were cancelled.
  bool expired() const;

 private:
  struct state;
  static void arm(std::shared_ptr<state> st);
  static void on_wake(std::shared_ptr<state> st);
  std::shared_ptr<state> state_;
};

}  // namespace orp::net
