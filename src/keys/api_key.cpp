#include "keys/api_key.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <stdexcept>

namespace orp::keys {
namespace {

constexpr std::string_view ellipsis = "\xE2\x80\xA6";  // U+2026, one glyph in logs
constexpr std::string_view key_prefix = "sk-or-";
constexpr std::size_t min_key_tail = 8;

bool is_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

std::string sha256_hex_prefix(std::string_view data, std::size_t hex_digits) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 failed in OpenSSL");
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length && out.size() < hex_digits; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 0x0f];
  }
  return out;
}

}  // namespace

std::string mask_secret(std::string_view secret) {
  // The last four characters tell keys apart. Of the front only OpenRouter's public "sk-or-v1-"
  // is shown: the first characters of a key of another form are as secret as the rest.
  // Below 20 characters a prefix+4 mask would reveal most of the secret.
  if (secret.size() >= 20) {
    std::string_view shown;
    if (secret.starts_with(key_prefix)) {
      const auto dash = secret.find('-', key_prefix.size());
      shown = secret.substr(0, dash != std::string_view::npos && dash < 9 ? dash + 1 : key_prefix.size());
    }
    return std::string(shown) + std::string(ellipsis) + std::string(secret.substr(secret.size() - 4));
  }
  if (secret.size() >= 8) return std::string(ellipsis) + std::string(secret.substr(secret.size() - 2));
  return "***";
}

std::string mask_secrets(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t start = text.find(key_prefix, pos);
    if (start == std::string_view::npos) break;
    std::size_t end = start + key_prefix.size();
    while (end < text.size() && is_key_char(text[end])) ++end;
    out.append(text.substr(pos, start - pos));
    const std::string_view token = text.substr(start, end - start);
    if (token.size() - key_prefix.size() >= min_key_tail) {
      out += mask_secret(token);
    } else {
      out.append(token);
    }
    pos = end;
  }
  out.append(text.substr(pos));
  return out;
}

std::string_view secret_part(std::string_view secret) {
  constexpr std::size_t min_run = 16;  // shorter runs occur in ordinary text
  auto is_alnum = [](char c) { return is_key_char(c) && c != '-' && c != '_'; };
  std::string_view longest;
  for (std::size_t at = 0; at < secret.size();) {
    std::size_t end = at;
    while (end < secret.size() && is_alnum(secret[end])) ++end;
    if (end - at > longest.size()) longest = secret.substr(at, end - at);
    at = end + 1;
  }
  return longest.size() >= min_run ? longest : secret;
}

api_key::api_key(std::string secret, std::string label)
    : secret_(std::move(secret)),
      label_(std::move(label)),
      display_(label_.empty() ? mask_secret(secret_) : label_),
      fingerprint_(sha256_hex_prefix(secret_, 16)) {
  const std::string_view part = keys::secret_part(secret_);
  part_at_ = static_cast<std::size_t>(part.data() - secret_.data());
  part_size_ = part.size();
}

api_key::~api_key() {
  // Best effort: heap buffers of long secrets are wiped before they return to the allocator.
  if (!secret_.empty()) OPENSSL_cleanse(secret_.data(), secret_.size());
}

}  // namespace orp::keys
