#pragma once
// The key a request was sent upstream with, blotted out of everything relayed back to the client:
// an upstream that quotes it (in an error event mid-stream, a header, a trailer, a body too large
// to be read whole first) must not hand a pool key to a client. The upstream knows no other key
// of the pool, so this one is all there is to look for. What is looked for is the key's secret
// part (api_key::secret_part: the hex of "sk-or-v1-<hex>"), which the whole key contains and
// which, quoted alone, gives the key away as well. Replacement is byte for byte (the key's public
// "sk-or-v1-" and last four characters stay, the rest becomes '*'), so chunked framing and
// Content-Length stay right. The match is exact: a key quoted in another case (upper-case hex) is
// left to mask_error_body, which sees error answers whole and ignores case; a case-insensitive
// search here would cost on every relayed byte. A piece that ends with the start of the key keeps
// those bytes back until the next piece shows whether the key follows; SSE events, chunks and JSON
// bodies end in "\n" or "}", so in practice nothing is held and nothing is copied.
#include <string.h>  // memchr, memmem

#include <algorithm>
#include <string>
#include <string_view>

namespace orp::forward {

class key_scrubber {
 public:
  // `secret` must outlive the scrubber; an empty one scrubs nothing. `part`: the key's
  // secret_part(), a view into `secret` (api_key keeps it, so it is not looked for per request).
  explicit key_scrubber(std::string_view secret) : key_scrubber(secret, secret) {}
  key_scrubber(std::string_view secret, std::string_view part)
      : key_(secret), secret_(part), part_at_(static_cast<std::size_t>(part.data() - secret.data())) {}

  // The bytes to send now: `piece` (after any held-back bytes) with the key blotted out; `last`:
  // the answer ends with this piece, hold nothing back. The view points into `piece` itself when
  // nothing had to change, else into this scrubber (valid until the next call).
  std::string_view scrub(std::string_view piece, bool last = false) {
    if (secret_.empty()) return piece;
    if (!held_.empty()) {
      out_ = std::move(held_);
      held_.clear();
      out_.append(piece);
    } else if (!contains(piece) && (last || partial_tail(piece) == 0)) {
      return piece;
    } else {
      out_.assign(piece);
    }
    blot_all(out_);
    if (std::size_t keep = last ? 0 : partial_tail(out_); keep > 0) {
      held_.assign(out_, out_.size() - keep, keep);
      out_.resize(out_.size() - keep);
    }
    return out_;
  }

  // At the end of the answer: whatever was held back (it was not the key after all).
  std::string_view flush() { return scrub({}, true); }

  // Blots out every whole occurrence in `text` (a response head: complete, nothing to hold).
  void scrub_in_place(std::string& text) const {
    if (!secret_.empty() && contains(text)) blot_all(text);
  }

 private:
  // glibc's memmem: several times faster than a search for the first character and a compare at
  // each of its (many) occurrences, and this runs on every answer.
  bool contains(std::string_view text) const {
    if (text.size() < secret_.size()) return false;  // also keeps an empty view's null data from memmem
    return ::memmem(text.data(), text.size(), secret_.data(), secret_.size()) != nullptr;
  }

  // Bytes at the end of `text` that are a proper prefix of the key.
  std::size_t partial_tail(std::string_view text) const {
    // Such a prefix ends with a character of the key; answers end in "\n" or "}", which no key
    // holds: one memchr instead of a look at each of the last bytes.
    if (text.empty() || ::memchr(secret_.data(), text.back(), secret_.size() - 1) == nullptr) return 0;
    const std::size_t longest = std::min(text.size(), secret_.size() - 1);
    for (std::size_t at = text.size() - longest; at < text.size(); ++at) {
      if (text[at] != secret_.front()) continue;  // the common case: one compare per byte
      if (text.substr(at) == secret_.substr(0, text.size() - at)) return text.size() - at;
    }
    return 0;
  }

  // Each occurrence of the secret part; when the whole key surrounds it, the whole key as its
  // mask has it (public "sk-or-v1-" and last four kept), else the part (its last four kept).
  void blot_all(std::string& text) const {
    for (auto at = text.find(secret_); at != std::string::npos; at = text.find(secret_, at + secret_.size())) {
      const bool whole_key = at >= part_at_ && std::string_view(text).substr(at - part_at_, key_.size()) == key_;
      const std::string_view blotted = whole_key ? key_ : secret_;
      const std::size_t start = whole_key ? at - part_at_ : at;
      const std::size_t shown_front = blotted.starts_with("sk-or-v1-") ? 9 : 0;
      const std::size_t shown_back = blotted.size() >= 20 ? 4 : 0;
      std::fill(text.begin() + static_cast<std::ptrdiff_t>(start + shown_front),
                text.begin() + static_cast<std::ptrdiff_t>(start + blotted.size() - shown_back), '*');
    }
  }

  std::string_view key_;     // the whole key
  std::string_view secret_;  // what is looked for: the key's secret part
  std::size_t part_at_;       // where secret_ starts in key_
  std::string held_;
  std::string out_;
};

}  // namespace orp::forward
