#include "keys/classify.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "keys/key_masker.hpp"
#include "util/utf8.hpp"

namespace orp::keys {
namespace {

using std::chrono::milliseconds;
using wall_time = std::chrono::system_clock::time_point;
namespace json = boost::json;

constexpr std::size_t max_reason_bytes = 200;
// Error texts are cut here before masking, which bounds its work (keys x bytes). A key cut at this
// point lies far beyond the max_reason_bytes kept, even after the masks before it shortened the text.
constexpr std::size_t max_masked_bytes = 16 * 1024;
// Also guards the double -> duration cast.
constexpr double max_hint_ms = static_cast<double>(max_cooldown_hint.count());

bool iequals(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
  });
}

std::optional<std::string> find_header(const header_list& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) return value;
  }
  return std::nullopt;
}

std::optional<double> parse_number(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  double value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || ptr != end || !std::isfinite(value)) return std::nullopt;
  return value;
}

milliseconds clamp_ms(double ms) { return milliseconds(static_cast<long long>(std::clamp(ms, 0.0, max_hint_ms))); }

// Clamped like a number of seconds: a date centuries ahead says no more than a year.
milliseconds until(wall_time target, wall_time now) {
  if (target <= now) return milliseconds(0);
  return std::min(std::chrono::ceil<milliseconds>(target - now), milliseconds(static_cast<long long>(max_hint_ms)));
}

// What an OpenRouter error body says; every field optional, a non-JSON body leaves it empty.
struct error_info {
  bool parsed = false;
  std::optional<long long> code;
  std::string message;
  std::string error_type;
  std::string limit_source;
  std::vector<std::string> moderation_reasons;
  header_list headers;  // metadata.headers, values as text
};

std::string as_text(const json::value& v) {
  if (v.is_string()) return std::string(v.get_string());
  if (v.is_int64()) return std::to_string(v.get_int64());
  if (v.is_uint64()) return std::to_string(v.get_uint64());
  if (v.is_double()) return json::serialize(v);
  return {};
}

std::string string_field(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

error_info read_error(const json::value& root) {
  error_info info;
  const auto* top = root.if_object();
  const auto* error = top ? top->if_contains("error") : nullptr;
  if (!error || !error->is_object()) return info;
  const auto& e = error->get_object();
  info.parsed = true;
  if (const auto* code = e.if_contains("code")) {
    if (code->is_int64()) info.code = code->get_int64();
    else if (code->is_uint64()) info.code = static_cast<long long>(code->get_uint64());
    else if (code->is_string()) {
      // Within reason only: converting "1e300" to an integer would be undefined behaviour.
      if (auto n = parse_number(code->get_string()); n && std::abs(*n) < 1e9) info.code = static_cast<long long>(*n);
    }
  }
  info.message = string_field(e, "message");
  info.error_type = string_field(e, "type");
  if (const auto* meta = e.if_contains("metadata"); meta && meta->is_object()) {
    const auto& m = meta->get_object();
    if (auto type = string_field(m, "error_type"); !type.empty()) info.error_type = std::move(type);
    info.limit_source = string_field(m, "limit_source");
    if (const auto* reasons = m.if_contains("reasons"); reasons && reasons->is_array()) {
      for (const auto& r : reasons->get_array()) {
        if (r.is_string()) info.moderation_reasons.emplace_back(r.get_string());
      }
    }
    if (const auto* h = m.if_contains("headers"); h && h->is_object()) {
      for (const auto& [name, value] : h->get_object()) info.headers.emplace_back(name, as_text(value));
    }
  }
  return info;
}

error_info parse_error_body(std::string_view body) {
  boost::system::error_code ec;
  const json::value root = json::parse(body, ec);
  return ec ? error_info{} : read_error(root);
}

std::string_view status_phrase(unsigned status) {
  switch (status) {
    case 0: return "network error";
    case 400: return "bad request";
    case 401: return "invalid key";
    case 402: return "payment required";
    case 403: return "forbidden";
    case 404: return "not found";
    case 408: return "request timeout";
    case 413: return "payload too large";
    case 422: return "unprocessable";
    case 429: return "rate limited";
    case 500: return "internal server error";
    case 502: return "bad gateway";
    case 503: return "service unavailable";
    case 504: return "gateway timeout";
    default: return status >= 500 ? "server error" : status >= 400 ? "client error" : "";
  }
}

// Masks before truncating, so that a cut never leaves a key prefix short enough to escape masking.
std::string finish_reason(std::string text, const key_masker& masker) {
  if (text.size() > max_masked_bytes) text.resize(max_masked_bytes);
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  text = masker.mask_escaped(text);  // a non-JSON body may quote a key behind JSON escapes
  if (text.size() > max_reason_bytes) {
    std::size_t cut = max_reason_bytes;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // UTF-8 boundary
    text.resize(cut);
    text += "...";
  }
  return text;
}

std::string build_reason(unsigned status, const error_info& info, std::string_view body, const key_masker& masker) {
  std::string text = std::to_string(status);
  if (auto phrase = status_phrase(status); !phrase.empty()) text.append(" ").append(phrase);
  if (info.parsed) {
    if (!info.message.empty()) text.append(": ").append(info.message);
  } else if (!body.empty()) {
    // A body that is not JSON may hold any bytes, and the reason goes into JSON (/keys, the state
    // file, Redis, the log). Parsed messages are UTF-8 already (Boost.JSON checks), and a success
    // has no body here: the check costs nothing per request.
    text.append(": ").append(util::valid_utf8(body.substr(0, max_masked_bytes)));
  }
  std::string details;
  auto add = [&](std::string_view name, std::string_view value) {
    if (value.empty()) return;
    details += details.empty() ? " (" : ", ";
    details += std::string(name) + "=" + std::string(value);
  };
  add("error_type", info.error_type);
  add("limit_source", info.limit_source);
  std::string reasons;
  for (const auto& r : info.moderation_reasons) reasons += (reasons.empty() ? "" : "|") + r;
  add("reasons", reasons);
  if (!details.empty()) details += ")";
  return finish_reason(text + details, masker);
}

std::optional<milliseconds> retry_after_hint(const header_list& headers, const error_info& info, wall_time now) {
  for (const auto* list : {&headers, &info.headers}) {
    if (auto v = find_header(*list, "Retry-After")) {
      if (auto d = parse_retry_after(*v, now)) return d;
    }
  }
  return std::nullopt;
}

std::optional<milliseconds> reset_hint(const header_list& headers, const error_info& info, wall_time now) {
  for (const auto* list : {&headers, &info.headers}) {
    if (auto v = find_header(*list, "X-RateLimit-Reset")) {
      if (auto d = parse_rate_limit_reset(*v, now)) return d;
    }
  }
  return std::nullopt;
}

outcome decide(unsigned status, const header_list& headers, const error_info& info, std::string_view body,
               wall_time now, const key_masker& masker) {
  outcome out;
  out.status = status;
  out.reason = build_reason(status, info, body, masker);
  if (status >= 200 && status < 300) {
    out.kind = outcome_kind::success;
    return out;
  }
  // A provider's outage or rate limit is not the key's fault, whatever status carries it.
  if (info.error_type.starts_with("provider_")) {
    out.kind = outcome_kind::transient;
    out.retry_after = retry_after_hint(headers, info, now);
    return out;
  }
  switch (status) {
    case 401:
      out.kind = outcome_kind::key_invalid;
      return out;
    case 402:
      // With Retry-After the key is over an in-flight budget that frees itself; without, out of credit.
      out.retry_after = retry_after_hint(headers, info, now);
      out.kind = out.retry_after ? outcome_kind::key_cooldown : outcome_kind::key_no_credit;
      return out;
    case 429:
      out.kind = outcome_kind::key_cooldown;
      out.retry_after = retry_after_hint(headers, info, now);
      out.retry_after_explicit = out.retry_after.has_value();
      if (!out.retry_after) out.retry_after = reset_hint(headers, info, now);
      return out;
    default:
      break;
  }
  if (status == 408 || status >= 500) {
    out.kind = outcome_kind::transient;
    out.retry_after = retry_after_hint(headers, info, now);
    return out;
  }
  out.kind = outcome_kind::pass_through;
  return out;
}

}  // namespace

std::string_view to_string(outcome_kind kind) {
  switch (kind) {
    case outcome_kind::success: return "success";
    case outcome_kind::pass_through: return "pass_through";
    case outcome_kind::key_invalid: return "key_invalid";
    case outcome_kind::key_no_credit: return "key_no_credit";
    case outcome_kind::key_cooldown: return "key_cooldown";
    case outcome_kind::transient: return "transient";
  }
  return "unknown";
}

outcome classify(unsigned status, const header_list& headers, std::string_view body, wall_time now_wall,
                 const key_masker& masker) {
  const bool is_error = status < 200 || status >= 300;
  return decide(status, headers, is_error ? parse_error_body(body) : error_info{}, is_error ? body : "",
                now_wall, masker);
}

outcome network_failure(std::string_view what) {
  return outcome{outcome_kind::transient, 0, std::nullopt,
                 finish_reason("network error: " + std::string(what), key_masker{})};
}

std::optional<outcome> classify_sse_first_event(std::string_view data_json, wall_time now_wall,
                                                const key_masker& masker) {
  boost::system::error_code ec;
  const json::value root = json::parse(data_json, ec);
  if (ec) return std::nullopt;
  const error_info info = read_error(root);
  if (!info.parsed) return std::nullopt;
  // A mid-stream error's code may be a word ("server_error"); treat it as the provider failing.
  const long long code = info.code.value_or(502);
  const unsigned status = code >= 100 && code <= 599 ? static_cast<unsigned>(code) : 502;
  return decide(status, {}, info, data_json, now_wall, masker);
}

std::optional<milliseconds> parse_retry_after(std::string_view value, wall_time now_wall) {
  if (auto seconds = parse_number(value)) {
    if (*seconds < 0) return std::nullopt;
    return clamp_ms(*seconds * 1000.0);
  }
  if (auto date = parse_http_date(value)) return until(*date, now_wall);
  return std::nullopt;
}

std::optional<milliseconds> parse_rate_limit_reset(std::string_view value, wall_time now_wall) {
  const auto number = parse_number(value);
  if (!number || *number < 0) return std::nullopt;
  // Epoch ms per OpenRouter; a value of epoch-seconds magnitude (< ~1973 in ms) is seconds.
  const double epoch_ms = *number >= 1e11 ? *number : *number * 1000.0;
  const double now_ms = static_cast<double>(
      std::chrono::duration_cast<milliseconds>(now_wall.time_since_epoch()).count());
  return clamp_ms(std::ceil(epoch_ms - now_ms));
}

std::optional<wall_time> parse_http_date(std::string_view text) {
  static constexpr std::array<std::string_view, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::string s(text.substr(0, 64));
  char month[4] = {};
  int day = 0, year = 0, hh = 0, mm = 0, ss = 0, consumed = 0;
  auto full = [&](int n, int expected) { return n == expected && consumed == static_cast<int>(s.size()); };
  bool ok = full(std::sscanf(s.c_str(), "%*3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n", &day, month,
                             &year, &hh, &mm, &ss, &consumed), 6);
  if (!ok) {  // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
    consumed = 0;
    ok = full(std::sscanf(s.c_str(), "%*[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d GMT%n", &day, month, &year,
                          &hh, &mm, &ss, &consumed), 6);
    if (ok) year += year < 70 ? 2000 : 1900;
  }
  if (!ok) {  // asctime: Sun Nov  6 08:49:37 1994
    consumed = 0;
    ok = full(std::sscanf(s.c_str(), "%*3[A-Za-z] %3[A-Za-z] %2d %2d:%2d:%2d %4d%n", month, &day, &hh, &mm,
                          &ss, &year, &consumed), 6);
  }
  if (!ok) return std::nullopt;
  const auto it = std::find(months.begin(), months.end(), std::string_view(month));
  if (it == months.end() || hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60) return std::nullopt;
  // A wall-clock time_point (nanoseconds) holds the years 1678-2262 only; a date outside these
  // bounds is no Retry-After anyone meant, and converting it would overflow.
  if (year < 1900 || year > 2200) return std::nullopt;
  const std::chrono::year_month_day date{std::chrono::year(year),
                                         std::chrono::month(static_cast<unsigned>(it - months.begin() + 1)),
                                         std::chrono::day(static_cast<unsigned>(day))};
  if (!date.ok()) return std::nullopt;
  return std::chrono::sys_days(date) + std::chrono::hours(hh) + std::chrono::minutes(mm) +
         std::chrono::seconds(ss);
}

}  // namespace orp::keys
