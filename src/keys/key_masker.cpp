#include "keys/key_masker.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "util/ascii.hpp"

namespace orp::keys {
namespace {

using util::lowercase;

// Replaces every occurrence of `needle` (lower case) in `text`, found in `lower` (text lowered:
// an upstream may quote a key in upper case, "SK-OR-V1-0A1B..."), by `masked`. Keeps `lower` in
// step with `text`. One lowered copy per text and memmem per needle: a byte-wise case-insensitive
// search cost 5-6 times more on a large error body with many keys.
void mask_every(std::string& text, std::string& lower, std::string_view needle, std::string_view masked) {
  if (needle.empty() || needle.size() > lower.size()) return;
  auto find = [&](std::size_t from) -> std::size_t {
    if (from + needle.size() > lower.size()) return std::string::npos;
    const void* at = ::memmem(lower.data() + from, lower.size() - from, needle.data(), needle.size());
    return at ? static_cast<std::size_t>(static_cast<const char*>(at) - lower.data()) : std::string::npos;
  };
  std::size_t found = find(0);
  if (found == std::string::npos) return;
  std::string out;
  out.reserve(text.size());
  std::size_t from = 0;
  for (; found != std::string::npos; found = find(from)) {
    out.append(text, from, found - from);
    out += masked;
    from = found + needle.size();
  }
  out.append(text, from);
  text = std::move(out);
  lower = lowercase(text);
}

}  // namespace

// The whole key first (its mask keeps a public prefix such as "sk-or-v1-"), then its secret part
// quoted alone (the hex of "sk-or-v1-<hex>", which with the prefix added back is the key).
struct key_masker::needles {
  explicit needles(const api_key& key)
      : whole(lowercase(key.reveal())), whole_mask(mask_secret(key.reveal())),
        secret(key.secret_part().size() != key.reveal().size() ? lowercase(key.secret_part()) : std::string()),
        secret_mask(secret.empty() ? std::string() : mask_secret(key.secret_part())) {}
  void mask(std::string& text, std::string& lower) const {
    mask_every(text, lower, whole, whole_mask);
    mask_every(text, lower, secret, secret_mask);
  }
  std::string whole, whole_mask, secret, secret_mask;
};

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

key_masker::key_masker(std::vector<std::shared_ptr<const api_key>> keys) {
  std::stable_sort(keys.begin(), keys.end(),
                   [](const auto& a, const auto& b) { return a->reveal().size() > b->reveal().size(); });
  auto prepared = std::make_shared<std::vector<needles>>();
  prepared->reserve(keys.size());
  for (const auto& key : keys) prepared->emplace_back(*key);
  needles_ = std::move(prepared);
}

std::string key_masker::mask(std::string_view text) const {
  std::string out(text);
  if (needles_ && !needles_->empty()) {
    std::string lower = lowercase(out);
    for (const auto& n : *needles_) n.mask(out, lower);
  }
  return mask_secrets(out);
}

std::string key_masker::mask(std::string_view text, const api_key& key) {
  std::string out(text);
  std::string lower = lowercase(out);
  needles(key).mask(out, lower);
  return mask_secrets(out);
}

std::string decode_json_escapes(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  auto append_utf8 = [&out](std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  };
  auto hex4 = [&text](std::size_t at) -> int {
    if (at + 4 > text.size()) return -1;
    int v = 0;
    for (std::size_t k = at; k < at + 4; ++k) {
      int d = hex_value(text[k]);
      if (d < 0) return -1;
      v = v * 16 + d;
    }
    return v;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\' || i + 1 == text.size()) {
      out += text[i];
      continue;
    }
    char e = text[i + 1];
    const char* simple = nullptr;
    switch (e) {
      case '"': simple = "\""; break;
      case '\\': simple = "\\"; break;
      case '/': simple = "/"; break;
      case 'b': simple = "\b"; break;
      case 'f': simple = "\f"; break;
      case 'n': simple = "\n"; break;
      case 'r': simple = "\r"; break;
      case 't': simple = "\t"; break;
      default: break;
    }
    if (simple) {
      out += simple;
      ++i;
      continue;
    }
    int cp = e == 'u' ? hex4(i + 2) : -1;
    if (cp < 0) {
      out += text[i];
      continue;
    }
    std::size_t used = 6;
    std::uint32_t code = static_cast<std::uint32_t>(cp);
    if (cp >= 0xD800 && cp < 0xDC00 && i + 11 < text.size() && text[i + 6] == '\\' && text[i + 7] == 'u') {
      int low = hex4(i + 8);
      if (low >= 0xDC00 && low < 0xE000) {
        code = 0x10000 + ((static_cast<std::uint32_t>(cp) - 0xD800) << 10) + (static_cast<std::uint32_t>(low) - 0xDC00);
        used = 12;
      }
    }
    if (code >= 0xD800 && code < 0xE000) code = 0xFFFD;  // a lone surrogate
    append_utf8(code);
    i += used - 1;
  }
  return out;
}

std::string key_masker::mask_escaped(std::string_view text) const {
  if (text.find('\\') == std::string_view::npos) return mask(text);
  std::string decoded = decode_json_escapes(text);
  std::string masked = mask(decoded);
  // Nothing behind the escapes either: the text as it came (masked verbatim, which finds nothing
  // the decoded text did not).
  if (masked == decoded) return mask(text);
  return masked;
}

}  // namespace orp::keys
