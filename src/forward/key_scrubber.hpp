#pragma once
// The key a request was sent upstream with, blotted out of everything relayed back to the client:
// an upstream that quotes it (in an error event mid-stream, a header, a trailer, a body too large
// to be read whole first) must not hand a pool key to a client. The upstream knows no other key
// of the pool, so this one is all there is to look for. Replacement is byte for byte (the key's
// public "sk-or-v1-" and last four characters stay, the rest becomes '*'), so chunked framing and
// Content-Length stay right. A piece that ends with the start of the key keeps those bytes back
// until the next piece shows whether the key follows; SSE events, chunks and JSON bodies end in
// "\n" or "}", so in practice nothing is held and nothing is copied.
#include <string.h>  // memmem

#include <algorithm>
#include <string>
#include <string_view>

namespace orp::forward {

class key_scrubber {
 public:
  // `secret` must outlive the scrubber; an empty one scrubs nothing.
  explicit key_scrubber(std::string_view secret) : secret_(secret) {}

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
    const std::size_t longest = std::min(text.size(), secret_.size() - 1);
    for (std::size_t at = text.size() - longest; at < text.size(); ++at) {
      if (text[at] != secret_.front()) continue;  // the common case: one compare per byte
      if (text.substr(at) == secret_.substr(0, text.size() - at)) return text.size() - at;
    }
    return 0;
  }

  void blot_all(std::string& text) const {
    const std::size_t shown_front = secret_.starts_with("sk-or-v1-") ? 9 : 0;
    const std::size_t shown_back = secret_.size() >= 20 ? 4 : 0;
    for (auto at = text.find(secret_); at != std::string::npos; at = text.find(secret_, at + secret_.size()))
      std::fill(text.begin() + static_cast<std::ptrdiff_t>(at + shown_front),
                text.begin() + static_cast<std::ptrdiff_t>(at + secret_.size() - shown_back), '*');
  }

  std::string_view secret_;
  std::string held_;
  std::string out_;
};

}  // namespace orp::forward
