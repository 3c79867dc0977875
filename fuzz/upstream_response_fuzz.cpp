// Everything the proxy reads from the upstream before and while it answers the client: the
// response parser (fed whole and split in two at a position taken from the first byte; both runs
// must see the same responses), then for each response the classification of the answer (status,
// headers, body), the first-event reading of an event stream and the usage scanner (whole and in
// two pieces: same result). A reason that names an OpenRouter-shaped key in full is a bug: the
// classifier masks what the upstream quotes back before anything is logged.
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "forward/responses.hpp"
#include "forward/usage.hpp"
#include "http/parser.hpp"
#include "keys/classify.hpp"
#include "keys/sse.hpp"

namespace {

using orp::http::parse_status;
using orp::http::response_head;
using orp::http::response_parser;

struct response {
  response_head head;
  std::string body;
  bool operator==(const response&) const = default;
};

struct transcript {
  std::vector<response> responses;
  unsigned error_status = 0;
  bool operator==(const transcript&) const = default;
};

// Bytes of one read, driven the way the forwarder does (interim 1xx answers included); false once
// the connection would end.
bool drive(response_parser& parser, std::string_view data, std::string& body, bool& in_body, transcript& t) {
  for (;;) {
    const auto result = parser.feed(data, in_body ? &body : nullptr);
    if (result.consumed > data.size()) __builtin_trap();
    data.remove_prefix(result.consumed);
    switch (result.status) {
      case parse_status::need_more:
        if (!data.empty()) __builtin_trap();
        return true;
      case parse_status::head_complete:
        in_body = true;
        continue;
      case parse_status::message_complete:
        t.responses.push_back({parser.head(), body});
        body.clear();
        in_body = false;
        if (parser.head().status / 100 != 1 && (!parser.head().keep_alive || parser.eof_terminated())) return false;
        parser.reset();
        if (data.empty()) return true;
        continue;
      case parse_status::error:
        t.error_status = parser.error_status();
        if (t.error_status == 0 || parser.error_reason().empty()) __builtin_trap();
        return false;
    }
  }
}

transcript run(std::string_view input, std::size_t split, bool head_request) {
  transcript t;
  response_parser parser;
  parser.set_no_body(head_request);
  std::string body;
  bool in_body = false;
  if (drive(parser, input.substr(0, split), body, in_body, t) && drive(parser, input.substr(split), body, in_body, t)) {
    // The connection ends here: an EOF-terminated body completes, anything else in progress is cut.
    const auto end = parser.finish();
    if (end.status == parse_status::message_complete) t.responses.push_back({parser.head(), body});
    if (end.status == parse_status::error) t.error_status = parser.error_status();
  }
  return t;
}

bool same(const std::optional<double>& a, const std::optional<double>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || *a == *b || (std::isnan(*a) && std::isnan(*b));
}

bool is_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

// "sk-or-" and 8 or more key characters: what mask_secrets must have replaced.
void require_no_full_key(std::string_view text) {
  for (auto pos = text.find("sk-or-"); pos != std::string_view::npos; pos = text.find("sk-or-", pos + 1)) {
    std::size_t end = pos + 6;
    while (end < text.size() && is_key_char(text[end])) ++end;
    if (end - (pos + 6) >= 8) __builtin_trap();
  }
}

void check_response(const response& r, std::size_t split) {
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'764'000'000));
  orp::keys::header_list headers;
  for (const auto& h : r.head.headers) headers.emplace_back(h.name, h.value);
  const auto outcome = orp::keys::classify(r.head.status, headers, r.body, now);
  require_no_full_key(outcome.reason);
  if (outcome.retry_after && outcome.retry_after->count() < 0) __builtin_trap();

  const auto first = orp::keys::sse_first_event(r.body);
  if (first.comments_end > r.body.size()) __builtin_trap();
  if (first.complete && (first.event_end > r.body.size() || first.event_end < first.comments_end)) __builtin_trap();
  if (first.complete) {
    if (auto sse = orp::keys::classify_sse_first_event(first.data, now)) {
      require_no_full_key(sse->reason);
      if (sse->retry_after && sse->retry_after->count() < 0) __builtin_trap();
    }
  }

  // An error body on its way to the client: whatever comes out names no key in full.
  static const orp::keys::key_masker no_pool;
  require_no_full_key(orp::forward::mask_error_body(r.body, no_pool).value_or(r.body));

  for (bool events : {false, true}) {
    orp::forward::usage_scanner whole(events), pieces(events);
    whole.scan(r.body);
    const std::size_t cut = r.body.empty() ? 0 : split % (r.body.size() + 1);
    pieces.scan(std::string_view(r.body).substr(0, cut));
    pieces.scan(std::string_view(r.body).substr(cut));
    orp::log::access_record a, b;
    whole.apply(a);
    pieces.apply(b);
    if (a.prompt_tokens != b.prompt_tokens || a.completion_tokens != b.completion_tokens || !same(a.cost, b.cost))
      __builtin_trap();
    // Bounded whatever the body: a tail of a completion, or two event lines of a stream.
    if (whole.held() > 200 * 1024 || pieces.held() > 200 * 1024) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const bool head_request = (data[1] & 1) != 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);
  const std::size_t split = input.empty() ? 0 : data[0] % (input.size() + 1);
  const transcript whole = run(input, input.size(), head_request);
  const transcript parts = run(input, split, head_request);
  if (!(whole == parts)) __builtin_trap();
  for (const auto& r : whole.responses) check_response(r, data[0]);
  return 0;
}
