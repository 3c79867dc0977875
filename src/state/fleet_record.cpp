#include "state/fleet_record.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <charconv>
#include <cmath>

namespace orp::state {
namespace {

template <class T>
T number(std::string_view text) {
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return T{};
  return value;
}

std::optional<keys::wall_time> epoch_or_empty(std::string_view text) {
  const auto ms = number<std::int64_t>(text);
  if (ms <= 0) return std::nullopt;
  return from_epoch_ms(ms);
}

// The Lua script sends numbers as strings (cjson prints 14 significant digits); accept both.
std::string text_of(const boost::json::object& o, std::string_view name) {
  const auto* v = o.if_contains(name);
  if (!v) return {};
  if (v->is_string()) return std::string(v->as_string());
  if (v->is_int64()) return std::to_string(v->as_int64());
  if (v->is_uint64()) return std::to_string(v->as_uint64());
  // Whole numbers within int64 only: converting 1e300 would be undefined; out of range reads as 0.
  if (v->is_double()) {
    const double d = v->as_double();
    return std::abs(d) < 9.2e18 ? std::to_string(static_cast<std::int64_t>(d)) : std::string();
  }
  return {};
}

}  // namespace

fleet_record parse_record_fields(std::string_view fingerprint,
                                 const std::vector<std::pair<std::string, std::string>>& fields) {
  fleet_record r;
  r.fingerprint = fingerprint;
  for (const auto& [name, value] : fields) {
    if (name == "status") r.status = keys::parse_key_state(value);
    else if (name == "status_reason") r.status_reason = value;
    else if (name == "ver") r.version = number<std::uint64_t>(value);
    else if (name == "by") r.changed_by = value;
    else if (name == "cool_until") r.cooling_until = epoch_or_empty(value);
    else if (name == "cool_reason") r.cooling_reason = value;
    else if (name == "label") r.label = value;
    else if (name == "c:requests") r.counters.requests = number<std::uint64_t>(value);
    else if (name == "c:successes") r.counters.successes = number<std::uint64_t>(value);
    else if (name == "c:client_errors") r.counters.client_errors = number<std::uint64_t>(value);
    else if (name == "c:failures") r.counters.failures = number<std::uint64_t>(value);
    else if (name == "c:cancelled") r.counters.cancelled = number<std::uint64_t>(value);
  }
  return r;
}

std::optional<fleet_record> decode_message(std::string_view text) {
  boost::system::error_code ec;
  auto value = boost::json::parse(text, ec);
  if (ec || !value.is_object()) return std::nullopt;
  const auto& o = value.as_object();
  fleet_record r;
  r.fingerprint = text_of(o, "fp");
  if (r.fingerprint.empty()) return std::nullopt;
  const auto status = text_of(o, "status");
  if (!status.empty()) {
    r.status = keys::parse_key_state(status);
    if (!r.status) return std::nullopt;
  }
  r.status_reason = text_of(o, "reason");
  r.version = number<std::uint64_t>(text_of(o, "ver"));
  r.changed_by = text_of(o, "by");
  r.cooling_until = epoch_or_empty(text_of(o, "cool_until"));
  r.cooling_reason = text_of(o, "cool_reason");
  r.label = text_of(o, "label");
  r.from = text_of(o, "from");
  r.sent_at = epoch_or_empty(text_of(o, "t"));
  return r;
}

std::string encode_message(const fleet_record& r) {
  auto ms = [](const std::optional<keys::wall_time>& t) { return t ? std::to_string(to_epoch_ms(*t)) : std::string("0"); };
  boost::json::object o{
      {"fp", r.fingerprint},
      {"status", r.status ? std::string(keys::to_string(*r.status)) : std::string()},
      {"ver", std::to_string(r.version)},
      {"by", r.changed_by},
      {"reason", r.status_reason},
      {"cool_until", ms(r.cooling_until)},
      {"cool_reason", r.cooling_reason},
      {"label", r.label},
      {"from", r.from},
      {"t", ms(r.sent_at)},
  };
  return boost::json::serialize(o);
}

}  // namespace orp::state
