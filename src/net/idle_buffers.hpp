#pragma once
// OpenSSL's record buffers (about 17 KiB each way) given back when a connection goes quiet, not
// after every record.
//
// SSL_MODE_RELEASE_BUFFERS frees a connection's read buffer after each record read and its write
// buffer after each record written, so a keep-alive request allocated and freed four 17 KiB
// buffers (two legs, two directions) and paid OpenSSL's set-up for each. Instead every TLS socket
// made on a worker thread keeps its buffers while in use and notes the sweep tick of its last
// SSL call; a per-worker sweeper frees the buffers of sockets not used for one whole interval
// (so between one and two intervals after they went quiet). Idle keep-alive clients, pooled
// upstream connections and connections waiting for a slow answer all end up holding none.
//
// The timer runs only while some socket holds buffers: an idle proxy does not wake up. Freeing is
// always safe between SSL calls (SSL_free_buffers refuses while data is pending); the sweeper runs
// on the worker's own thread, so never during one. Threads without a sweeper (tests, `keys check`)
// keep SSL_MODE_RELEASE_BUFFERS.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <vector>

namespace orp::net {

class tls_socket;

class idle_buffers {
 public:
  static constexpr std::chrono::milliseconds default_interval{250};

  idle_buffers(boost::asio::any_io_executor ex, std::chrono::milliseconds interval = default_interval);
  ~idle_buffers();  // sockets still tracked stop referring to it
  idle_buffers(const idle_buffers&) = delete;
  idle_buffers& operator=(const idle_buffers&) = delete;

  // The sweeper of the calling thread, if one is installed (a worker installs its own).
  static idle_buffers* current();
  class scope {  // installs a sweeper on this thread for the scope's life
   public:
    explicit scope(idle_buffers& b);
    ~scope();
    scope(const scope&) = delete;
    scope& operator=(const scope&) = delete;

   private:
    idle_buffers* previous_;
  };

  std::uint32_t tick() const { return tick_; }
  // Frees the buffers of every socket not used since before the previous sweep. The timer calls
  // it; tests call it directly.
  void sweep();

  std::size_t tracked() const { return held_.size(); }  // sockets that may hold buffers
  std::uint64_t released() const { return released_; }   // buffer sets freed by sweeps
  bool armed() const { return armed_; }

 private:
  friend class tls_socket;
  void track(tls_socket& s);
  void untrack(tls_socket& s);
  void moved(tls_socket& to);
  void arm();

  boost::asio::steady_timer timer_;
  std::chrono::milliseconds interval_;
  std::vector<tls_socket*> held_;
  std::uint32_t tick_ = 0;
  std::uint64_t released_ = 0;
  bool armed_ = false;
};

}  // namespace orp::net
