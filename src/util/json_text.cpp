#include "util/json_text.hpp"

#include <boost/json/serialize.hpp>

#include <charconv>
#include <cmath>

#include "util/utf8.hpp"

namespace orp::util {
namespace {

std::string serialized_string(std::string_view s) {
  if (is_valid_utf8(s)) return boost::json::serialize(boost::json::string_view(s.data(), s.size()));
  const std::string valid = valid_utf8(s);
  return boost::json::serialize(boost::json::string_view(valid.data(), valid.size()));
}

void append_number(std::string& out, double d) {
  if (!std::isfinite(d)) {  // not JSON: Boost.JSON would write 1e99999 or a null
    out += "null";
    return;
  }
  char buf[400];  // fixed notation of the largest double: 309 digits
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::fixed);
  if (ec != std::errc{}) {
    out += boost::json::serialize(boost::json::value(d));
    return;
  }
  out.append(buf, end);
}

// open, the items separated by commas, close.
template <class Items, class AppendItem>
void append_list(std::string& out, char open, const Items& items, char close, AppendItem append_item) {
  out += open;
  bool first = true;
  for (const auto& item : items) {
    if (!first) out += ',';
    first = false;
    append_item(item);
  }
  out += close;
}

void append(std::string& out, const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::double_:
      append_number(out, v.get_double());
      return;
    case boost::json::kind::object:
      append_list(out, '{', v.get_object(), '}', [&](const boost::json::key_value_pair& member) {
        out += serialized_string(member.key());
        out += ':';
        append(out, member.value());
      });
      return;
    case boost::json::kind::array:
      append_list(out, '[', v.get_array(), ']', [&](const boost::json::value& element) { append(out, element); });
      return;
    case boost::json::kind::string:
      out += serialized_string(v.get_string());
      return;
    default:  // null, bool, integers
      out += boost::json::serialize(v);
  }
}

}  // namespace

std::string json_text(const boost::json::value& v) {
  std::string out;
  append(out, v);
  return out;
}

std::string json_string(std::string_view text) { return serialized_string(text); }

}  // namespace orp::util
