#include "net/deadline.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

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

deadline::deadline(asio::ip::tcp::socket& socket) : state_(std::make_shared<state>(socket)) {
  asio::co_spawn(socket.get_executor(), watch(state_), asio::detached);
}

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

asio::awaitable<void> deadline::watch(std::shared_ptr<state> st) {
  while (st->socket) {
    st->armed = st->at;
    st->timer.expires_at(st->armed);
    co_await st->timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!st->socket) co_return;
    if (st->at <= clock::now()) {
      st->fired = true;
      st->at = clock::time_point::max();
      boost::system::error_code ignored;
      st->socket->cancel(ignored);
    }
  }
}

}  // namespace orp::net
