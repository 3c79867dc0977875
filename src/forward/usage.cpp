#include "forward/usage.hpp"

#include <charconv>
#include <cstdlib>

namespace orp::forward {
namespace {

// The text after `"name"` and its colon, from position `from`; npos when absent.
std::size_t member_value(std::string_view text, std::string_view name, std::size_t from = 0) {
  std::string quoted = "\"" + std::string(name) + "\"";
  auto pos = text.find(quoted, from);
  if (pos == std::string_view::npos) return pos;
  pos += quoted.size();
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

}  // namespace

std::string model_of(std::string_view body) {
  // Requests put "model" near the top; a bounded look keeps a 10 MiB body cheap.
  auto head = body.substr(0, 4096);
  auto pos = member_value(head, "model");
  if (pos == std::string_view::npos || head[pos] != '"') return {};
  auto end = head.find('"', pos + 1);
  if (end == std::string_view::npos || end - pos > 200) return {};
  return std::string(head.substr(pos + 1, end - pos - 1));
}

void usage_scanner::scan(std::string_view piece) {
  if (piece.size() >= kTail) {
    tail_.assign(piece.substr(piece.size() - kTail));
    return;
  }
  if (tail_.size() + piece.size() > 2 * kTail) tail_.erase(0, tail_.size() + piece.size() - kTail);
  tail_.append(piece);
}

void usage_scanner::apply(log::access_record& rec) const {
  std::string_view text(tail_);
  auto at = text.rfind("\"usage\"");
  if (at == std::string_view::npos) return;
  rec.prompt_tokens = number_at<std::int64_t>(text, member_value(text, "prompt_tokens", at));
  rec.completion_tokens = number_at<std::int64_t>(text, member_value(text, "completion_tokens", at));
  rec.cost = number_at<double>(text, member_value(text, "cost", at));
}

}  // namespace orp::forward
