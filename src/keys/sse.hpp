#pragma once
// The first event of a text/event-stream, read before the response is committed to the client.
#include <cstddef>
#include <string>
#include <string_view>

namespace orp::keys {

struct sse_first_event_result {
  bool complete = false;  // the first event carrying data has ended (blank line seen)
  bool is_error = false;  // its data is a JSON object with an "error" member
  std::string data;       // the event's data: its `data:` lines joined by '\n'
  // Bytes up to and including the blank line that ends that event (valid when complete).
  std::size_t event_end = 0;
  // Leading bytes made only of whole comment lines (": OPENROUTER PROCESSING") and blank lines:
  // these may be forwarded before the first event is judged, since they commit nothing.
  std::size_t comments_end = 0;
};

// `stream` is everything decoded so far (call again as bytes arrive; lines may be split across
// reads). Events without data (only comments or other fields) are skipped, per the SSE spec.
sse_first_event_result sse_first_event(std::string_view stream);

}  // namespace orp::keys
