#pragma once
// The admin endpoint: GET /healthz, /metrics (Prometheus), /keys (JSON, masked), /stats (JSON),
// / (a self-contained status page), POST /keys/reload. Plain HTTP on its own listener, served
// from the main io_context; one request per connection.
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "admin/metrics.hpp"
#include "config/settings.hpp"
#include "keys/key_pool.hpp"
#include "net/io.hpp"

namespace orp::admin {

struct sources {
  keys::key_pool* keys = nullptr;
  metrics* requests = nullptr;
  std::function<void(std::string&)> extra_metrics;  // gauges owned elsewhere (connections, pools, redis)
  std::function<void(boost::json::object&)> extra_stats;
  std::function<bool()> reload_keys;
  std::function<std::string()> keys_file_error;  // why keys.csv on disk is refused; empty: it is not
  std::string token;  // empty: no token required
};

class admin_server {
 public:
  admin_server(net::asio::io_context& io, sources src);
  // Throws std::system_error at start-up.
  net::tcp::endpoint listen(const config::endpoint& where);
  void start();
  void stop();

 private:
  net::asio::awaitable<void> accept_loop();
  net::asio::awaitable<void> serve(net::tcp::socket socket);
  std::string respond(const std::string& method, const std::string& path, const std::string& authorization);

  net::asio::io_context& io_;
  net::tcp::acceptor acceptor_;
  sources src_;
  net::clock::time_point started_ = net::clock::now();
};

// Without a token the endpoint is reachable only on loopback, but a web page the user opens can
// still aim a request at it: a form POST to /keys/reload (cross-site request forgery), or, after
// pointing its own DNS name at 127.0.0.1, a read of /keys (DNS rebinding). Both show in the
// request: the Host names something other than a loopback address or localhost, or an Origin
// header names another site. Returns the reason to refuse, or empty. (With a token, the token
// guards: a page cannot send it.)
std::string_view cross_site_refusal(std::optional<std::string_view> host, std::optional<std::string_view> origin);

// /keys as JSON: labels and masks only; keys_file_error (null when empty) says that keys.csv on
// disk was refused, so the pool shown is the one loaded before.
std::string keys_json(const std::vector<keys::key_snapshot>& keys, std::string_view keys_file_error = {});

}  // namespace orp::admin
