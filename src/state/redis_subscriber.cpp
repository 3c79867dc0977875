// redis_state's subscriber thread: SUBSCRIBE to the fleet's channel and apply each message as it
// arrives. poll(2) on the socket and an eventfd, so stop() never waits on a quiet channel.
#include <poll.h>
#include <unistd.h>

#include <cerrno>

#include "log/logging.hpp"
#include "state/redis_state.hpp"

namespace orp::state {

using namespace std::chrono_literals;
using wall = std::chrono::system_clock;
using std::chrono::milliseconds;

void redis_state::subscribe_loop() {
  block_sigpipe();
  milliseconds backoff = options_.min_backoff;
  while (!stopping()) {
    std::string error;
    if (auto sub = redis_connection::open(options_.endpoint, options_.io_timeout, false, error)) {
      auto r = sub->command({"SUBSCRIBE", script_.channel});
      if (r && r->type == REDIS_REPLY_ARRAY) {
        subscribed_ = true;
        backoff = options_.min_backoff;
        {
          std::lock_guard lock(mutex_);
          reconcile_requested_ = true;  // whatever was published while unsubscribed
        }
        wake_.notify_all();
        read_messages(*sub);
        subscribed_ = false;
        {
          // The command connection learns of an outage only when it next talks; make that now.
          std::lock_guard lock(mutex_);
          reconcile_requested_ = true;
        }
        wake_.notify_all();
      }
    } else {
      log::debug("redis subscriber: {}", error);
    }
    drop_pending_sigpipe();
    pollfd wait{wake_fd_, POLLIN, 0};
    ::poll(&wait, 1, static_cast<int>(jittered(backoff).count()));
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

void redis_state::read_messages(redis_connection& sub) {
  while (true) {
    for (auto r = sub.buffered_reply(); r; r = sub.buffered_reply()) {
      if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 || reply_text(r->element[0]) != "message") continue;
      auto record = decode_message(reply_text(r->element[2]));
      if (!record || record->from == instance_id_) continue;
      ++messages_;
      if (record->sent_at) {
        const auto us = std::chrono::duration_cast<std::chrono::microseconds>(wall::now() - *record->sent_at).count();
        last_latency_us_ = us;
        auto max = max_latency_us_.load();
        while (us > max && !max_latency_us_.compare_exchange_weak(max, us)) {
        }
      }
      apply(*record);
    }
    if (sub.broken()) return;
    pollfd fds[2] = {{sub.fd(), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    const int n = ::poll(fds, 2, 1000);
    if (stopping()) return;
    if (n < 0 && errno != EINTR) return;
    if (fds[1].revents & POLLIN) {
      std::uint64_t drained;
      [[maybe_unused]] auto got = ::read(wake_fd_, &drained, sizeof drained);
    }
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) && !sub.read_socket()) return;
  }
}

}  // namespace orp::state
