#include "keys/sse.hpp"

#include <boost/json.hpp>

namespace orp::keys {
namespace {

bool is_error_payload(std::string_view data) {
  boost::system::error_code ec;
  const boost::json::value root = boost::json::parse(data, ec);
  return !ec && root.is_object() && root.get_object().contains("error");
}

}  // namespace

sse_first_event_result sse_first_event(std::string_view stream) {
  sse_first_event_result result;
  std::string data;
  bool has_data = false;
  bool only_comments = true;
  std::size_t pos = 0;
  while (pos < stream.size()) {
    const std::size_t end = stream.find_first_of("\r\n", pos);
    if (end == std::string_view::npos) break;  // a partial line: wait for more bytes
    // A lone CR ends a line too; a CRLF split across reads only shifts where the next line starts.
    std::size_t next = end + 1;
    if (stream[end] == '\r' && next < stream.size() && stream[next] == '\n') ++next;
    const std::string_view line = stream.substr(pos, end - pos);
    pos = next;

    if (line.empty()) {
      if (has_data) {
        result.complete = true;
        result.event_end = pos;
        result.is_error = is_error_payload(data);
        result.data = std::move(data);
        return result;
      }
      if (only_comments) result.comments_end = pos;
      continue;
    }
    if (line.front() == ':') {
      if (only_comments) result.comments_end = pos;
      continue;
    }
    only_comments = false;
    const std::size_t colon = line.find(':');
    const std::string_view name = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    if (value.starts_with(' ')) value.remove_prefix(1);
    if (name == "data") {
      if (has_data) data += '\n';
      data.append(value);
      has_data = true;
    }
  }
  result.data = std::move(data);
  return result;
}

}  // namespace orp::keys
