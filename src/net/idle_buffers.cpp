#include "net/idle_buffers.hpp"

#include <openssl/ssl.h>

#include "net/tls_socket.hpp"

namespace orp::net {
namespace {
thread_local idle_buffers* current_sweeper = nullptr;
}  // namespace

idle_buffers::idle_buffers(boost::asio::any_io_executor ex, std::chrono::milliseconds interval)
    : timer_(std::move(ex)), interval_(interval) {}

idle_buffers::~idle_buffers() {
  for (tls_socket* s : held_) {
    s->slot_ = tls_socket::no_slot;
    s->sweeper_ = nullptr;
  }
  if (current_sweeper == this) current_sweeper = nullptr;
}

idle_buffers* idle_buffers::current() { return current_sweeper; }

idle_buffers::scope::scope(idle_buffers& b) : previous_(current_sweeper) { current_sweeper = &b; }
idle_buffers::scope::~scope() { current_sweeper = previous_; }

void idle_buffers::track(tls_socket& s) {
  s.slot_ = static_cast<std::uint32_t>(held_.size());
  held_.push_back(&s);
  if (!armed_) arm();
}

void idle_buffers::untrack(tls_socket& s) {
  std::uint32_t slot = s.slot_;
  held_[slot] = held_.back();
  held_[slot]->slot_ = slot;
  held_.pop_back();
  s.slot_ = tls_socket::no_slot;
}

void idle_buffers::moved(tls_socket& to) { held_[to.slot_] = &to; }

void idle_buffers::arm() {
  armed_ = true;
  timer_.expires_after(interval_);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: the sweeper is going away
    armed_ = false;
    sweep();
    if (!held_.empty()) arm();
  });
}

void idle_buffers::sweep() {
  ++tick_;
  // Backwards, so the socket swapped into a freed slot has been looked at already.
  for (std::size_t i = held_.size(); i-- > 0;) {
    tls_socket* s = held_[i];
    if (s->used_tick_ + 2 > tick_) continue;  // used during the last interval
    if (SSL_free_buffers(s->ssl_) != 1) continue;  // data pending: try again next time
    ++released_;
    untrack(*s);
  }
}

}  // namespace orp::net
