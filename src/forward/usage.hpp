#pragma once
// Cheap extraction of what the access line reports from bodies the proxy relays: the model
// asked for, and the token counts and cost from the answer's `usage` object.
#include <string>
#include <string_view>

#include "log/logging.hpp"

namespace orp::forward {

// The "model" member of a JSON request body; empty when there is none.
std::string model_of(std::string_view body);

// Finds the answer's `usage` object as the body passes, holding little: for a completion (one
// JSON document, `usage` at its end) the tail of the body; for an event stream (`usage` in its
// final event) the last complete line that names it, plus the line being received. Between the
// events of a long stream it then holds next to nothing, however long the stream runs.
class usage_scanner {
 public:
  explicit usage_scanner(bool event_stream = false) : events_(event_stream) {}
  void scan(std::string_view piece);
  void apply(log::access_record& rec) const;
  // Stream: an event after the first whose data is an error object (the upstream gave up
  // mid-stream, e.g. a provider failure): "code message", masked; empty when there was none.
  const std::string& stream_error() const { return stream_error_; }
  // Bytes of buffer held between pieces.
  std::size_t held() const { return tail_.capacity() + line_.capacity() + usage_line_.capacity(); }

 private:
  void scan_lines(std::string_view piece);
  void consider(std::string_view line);

  // `usage` is a few hundred bytes at the very end: 4 KiB of tail (at most 8 KiB held) is plenty.
  static constexpr std::size_t kTail = 4 * 1024;
  // A longer event line is not kept (no `usage` is looked for in it).
  static constexpr std::size_t kMaxLine = 64 * 1024;
  bool events_;
  std::string tail_;        // completion: the body's tail
  std::string line_;        // stream: the incomplete line (usually empty: events come whole)
  std::string usage_line_;  // stream: the last complete line naming "usage"
  bool overflow_ = false;   // stream: the current line passed kMaxLine
  std::string stream_error_;
};

}  // namespace orp::forward
