#include "state/shared_state.hpp"

#include <boost/asio/post.hpp>

#include "config/settings.hpp"
#include "state/redis_state.hpp"

namespace orp::state {

namespace asio = net::asio;
using std::chrono::milliseconds;

std::unique_ptr<shared_state> make_shared_state(const config::settings& cfg, keys::key_pool& pool) {
  if (cfg.text("state.backend") != "redis") return nullptr;
  redis_options options;
  options.endpoint = parse_redis_url(cfg.text("state.redis_url"));
  return std::make_unique<redis_state>(pool, std::move(options));
}

asio::awaitable<bool> acquire_probe_lock(shared_state& state, std::string fingerprint, milliseconds ttl) {
  auto ex = co_await asio::this_coro::executor;
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(bool)>(
      [&state, ex](auto handler, std::string fp, milliseconds interval) {
        auto held = std::make_shared<decltype(handler)>(std::move(handler));
        state.try_probe_lock(std::move(fp), interval, [held, ex](bool ok) {
          asio::post(ex, [held, ok]() mutable { std::move(*held)(ok); });
        });
      },
      asio::use_awaitable, std::move(fingerprint), ttl);
}

}  // namespace orp::state
