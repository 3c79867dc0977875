#include "forward/probe.hpp"

#include <boost/json/parse.hpp>
#include <charconv>
#include <cmath>

#include "forward/exchange.hpp"
#include "keys/key_masker.hpp"

namespace orp::forward {

namespace asio = net::asio;

namespace {

std::optional<double> number(const boost::json::object& o, std::string_view name) {
  auto it = o.find(name);
  if (it == o.end() || !it->value().is_number()) return std::nullopt;
  return it->value().to_number<double>();
}

// limit_remaining: absent or null means no limit; a number, or a number written as a string, is
// the credit left. Anything else is not an answer the proxy understands.
bool read_limit_remaining(const boost::json::object& d, std::optional<double>& out) {
  auto* v = d.if_contains("limit_remaining");
  if (!v || v->is_null()) return true;
  if (v->is_number()) {
    out = v->to_number<double>();
    return true;
  }
  if (!v->is_string()) return false;
  const auto& text = v->get_string();
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) return false;
  out = value;
  return true;
}

// Masks before cutting to 300 bytes, so that the cut never leaves part of the key behind.
std::string error_text(std::string_view body, const keys::api_key& key) {
  std::string text = keys::key_masker::mask(body.substr(0, 16 * 1024), key);
  if (text.size() > 300) text.resize(300);
  return text;
}

}  // namespace

bool parse_key_info(std::string_view body, probe_result& out) {
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (ec || !v.is_object()) return false;
  auto* data = v.as_object().if_contains("data");
  if (!data || !data->is_object()) return false;
  const auto& d = data->as_object();
  if (!read_limit_remaining(d, out.limit_remaining)) return false;
  out.usage = number(d, "usage");
  if (auto* f = d.if_contains("is_free_tier"); f && f->is_bool()) out.is_free_tier = f->as_bool();
  return true;
}

asio::awaitable<probe_result> probe_key(upstream::connection_pool& pool, const keys::api_key& key,
                                        net::clock::duration timeout) {
  probe_result out;
  const auto& t = pool.upstream();
  std::string head = "GET " + t.path_prefix + "/key HTTP/1.1\r\nHost: " + t.host_header() +
                     "\r\nAccept: application/json\r\nAuthorization: Bearer " + std::string(key.reveal()) + "\r\n\r\n";
  auto deadline = net::clock::now() + timeout;
  exchange ex;
  auto ec = co_await send_and_read_head(pool, ex, head, {}, false, deadline);
  if (!ec) ec = co_await read_ahead(ex, look_ahead::whole_body, 256 * 1024, deadline);
  if (ec) {
    out.error = ec == asio::error::timed_out ? "timeout" : ec.message();
    co_return out;
  }
  out.status = static_cast<int>(ex.head().status);
  if (out.status != 200) {
    out.error = error_text(ex.decoded_body, key);
  } else if (!parse_key_info(ex.decoded_body, out)) {
    // A 200 that does not describe the key (a captive portal, a changed API) says nothing of its
    // credit: it must not bring a disabled key back.
    out.readable = false;
    out.error = "200 without a readable key description";
  }
  if (ex.complete && ex.reusable && ex.head().keep_alive) pool.release(std::move(ex.conn));
  co_return out;
}

}  // namespace orp::forward
