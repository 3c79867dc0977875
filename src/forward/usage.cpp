#include "forward/usage.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <charconv>
#include <cstdlib>

#include "keys/api_key.hpp"
#include "keys/key_masker.hpp"  // decode_json_escapes

namespace orp::forward {
namespace {

// The text after `"name"` and its colon, from position `from`; npos when absent.
std::size_t member_value(std::string_view text, std::string_view name, std::size_t from = 0) {
  std::size_t pos = from;
  while (true) {
    pos = text.find(name, pos);
    if (pos == std::string_view::npos) return pos;
    if (pos > 0 && text[pos - 1] == '"' && pos + name.size() < text.size() && text[pos + name.size()] == '"') break;
    ++pos;
  }
  pos += name.size() + 1;
  while (pos < text.size() && (text[pos] == ' ' || text[pos] == ':' || text[pos] == '\t')) ++pos;
  return pos < text.size() ? pos : std::string_view::npos;
}

template <class T>
std::optional<T> number_at(std::string_view text, std::size_t pos) {
  if (pos == std::string_view::npos) return std::nullopt;
  T v{};
  auto [p, ec] = std::from_chars(text.data() + pos, text.data() + text.size(), v);
  if (ec != std::errc{}) return std::nullopt;
  return v;
}

// "code message" of an SSE data line whose JSON object has an "error" object; empty otherwise.
std::string event_error(std::string_view line) {
  if (!line.starts_with("data:") || line.find("\"error\"") == std::string_view::npos) return {};
  line.remove_prefix(5);
  boost::system::error_code ec;
  auto doc = boost::json::parse(line, ec);
  const auto* object = ec ? nullptr : doc.if_object();
  const auto* found = object ? object->if_contains("error") : nullptr;
  const auto* error = found ? found->if_object() : nullptr;
  if (!error) return {};
  std::string text;
  if (const auto* code = error->if_contains("code")) text = boost::json::serialize(*code);
  if (const auto* message = error->if_contains("message"); message && message->is_string()) {
    const auto& m = message->get_string();
    if (!text.empty()) text += ' ';
    text.append(m.data(), std::min<std::size_t>(m.size(), 300));
  }
  return text.empty() ? std::string("error event") : keys::mask_secrets(text);
}

// Where the JSON string starting at `start` (after its opening quote) ends: the first quote no
// backslash escapes ("my\"model"); npos when it does not end.
std::size_t string_end(std::string_view text, std::size_t start) {
  for (std::size_t at = start; at < text.size(); ++at) {
    if (text[at] == '\\') ++at;
    else if (text[at] == '"') return at;
  }
  return std::string_view::npos;
}

}  // namespace

std::string model_of(std::string_view body) {
  // Requests put "model" near the top; a bounded look keeps a 10 MiB body cheap.
  constexpr std::size_t kLongest = 200;
  auto head = body.substr(0, 4096);
  auto pos = member_value(head, "model");
  if (pos == std::string_view::npos || head[pos] != '"') return {};
  const std::size_t start = pos + 1;
  // Two memchr in the common case (a name without escapes); a byte-wise look only behind a backslash.
  std::size_t end = head.find('"', start);
  const bool escaped = head.substr(start, end == std::string_view::npos ? end : end - start).find('\\') !=
                       std::string_view::npos;
  if (escaped) end = string_end(head, start);
  if (end == std::string_view::npos || end - start > kLongest) return {};
  const std::string_view raw = head.substr(start, end - start);
  // The name as the client meant it ("openai\/gpt-4o" is openai/gpt-4o).
  return escaped ? keys::decode_json_escapes(raw) : std::string(raw);
}

void usage_scanner::consider(std::string_view line) {
  if (line.find("\"usage\"") != std::string_view::npos) usage_line_.assign(line);
  if (stream_error_.empty()) stream_error_ = event_error(line);
}

void usage_scanner::scan_lines(std::string_view piece) {
  while (!piece.empty()) {
    auto nl = piece.find('\n');
    if (nl == std::string_view::npos) {
      if (overflow_ || line_.size() + piece.size() > kMaxLine) {
        overflow_ = true;
        std::string().swap(line_);
      } else {
        line_.append(piece);
      }
      return;
    }
    auto end = piece.substr(0, nl);
    // A line longer than kMaxLine is skipped whether it came in one piece or several.
    if (!overflow_ && line_.size() + end.size() <= kMaxLine) {
      if (line_.empty()) {
        consider(end);
      } else {
        line_.append(end);
        consider(line_);
      }
    }
    if (!line_.empty()) {
      line_.clear();
      if (line_.capacity() > 1024) std::string().swap(line_);  // one long line is not kept for the rest
    }
    overflow_ = false;
    piece.remove_prefix(nl + 1);
  }
}

void usage_scanner::scan(std::string_view piece) {
  if (events_) {
    scan_lines(piece);
    return;
  }
  if (piece.size() >= kTail) {
    tail_.assign(piece.substr(piece.size() - kTail));
    return;
  }
  if (tail_.size() + piece.size() > 2 * kTail) tail_.erase(0, tail_.size() + piece.size() - kTail);
  tail_.append(piece);
}

void usage_scanner::apply(log::access_record& rec) const {
  std::string_view text(events_ ? usage_line_ : tail_);
  // tail_ holds at least the body's last kTail bytes, more depending on how the body was split
  // into reads: looking at exactly those makes the result the same however the bytes arrived.
  if (!events_ && text.size() > kTail) text.remove_prefix(text.size() - kTail);
  auto at = text.rfind("\"usage\"");
  if (at == std::string_view::npos) return;
  rec.prompt_tokens = number_at<std::int64_t>(text, member_value(text, "prompt_tokens", at));
  rec.completion_tokens = number_at<std::int64_t>(text, member_value(text, "completion_tokens", at));
  rec.cost = number_at<double>(text, member_value(text, "cost", at));
}

}  // namespace orp::forward
