#include "net/deadline.hpp"

namespace orp::net {

namespace asio = boost::asio;

struct deadline::state {
  explicit state(asio::ip::tcp::socket& s) : timer(s.get_executor()), socket(&s) {}
  asio::steady_timer timer;
  asio::ip::tcp::socket* socket;  // null once the owner is gone
  clock::time_point at = clock::time_point::max();       // what the operations asked for
  clock::time_point armed = clock::time_point::max();    // what the timer waits for
  bool fired = false;
};

// The watchdog is a plain completion handler that re-arms itself, not a coroutine: every open
// connection holds one for its whole life, and a spawned coroutine cost it about 700 bytes more
// (frame, spawn state and thread) than this handler.
void deadline::arm(std::shared_ptr<state> st) {
  st->armed = st->at;
  st->timer.expires_at(st->armed);
  st->timer.async_wait([st = std::move(st)](const boost::system::error_code&) mutable { on_wake(std::move(st)); });
}

void deadline::on_wake(std::shared_ptr<state> st) {
  // Woken by the deadline passing, by an earlier deadline (expires_at cancelled the wait), or by
  // the owner's destructor.
  if (!st->socket) return;
  if (st->at <= clock::now()) {
    st->fired = true;
    st->at = clock::time_point::max();
    boost::system::error_code ignored;
    st->socket->cancel(ignored);
  }
  arm(std::move(st));
}

deadline::deadline(asio::ip::tcp::socket& socket) : state_(std::make_shared<state>(socket)) { arm(state_); }

deadline::~deadline() {
  state_->socket = nullptr;
  state_->timer.cancel();
}

void deadline::expires_at(clock::time_point at) {
  state_->at = at;
  state_->fired = false;
  // A later instant is picked up when the timer wakes; an earlier one must wake it now.
  if (at < state_->armed) state_->timer.cancel();
}

bool deadline::expired() const { return state_->fired; }

}  // namespace orp::net
