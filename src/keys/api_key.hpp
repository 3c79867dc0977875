#pragma once
// An OpenRouter API key as a type whose only printable form is its label or a mask.
#include <string>
#include <string_view>

namespace orp::keys {

// "sk-or-v1-…3f9a" for a full-length key; shorter secrets reveal less ("…9a", then "***").
std::string mask_secret(std::string_view secret);

// Replaces every OpenRouter-shaped key ("sk-or-" then 8+ of [A-Za-z0-9_-]) in text with its mask,
// for upstream error texts that quote the key back before they are logged.
std::string mask_secrets(std::string_view text);

// The part of a key that alone gives it away, to be looked for wherever a key may be quoted in
// part: the longest run of 16+ letters and digits (for "sk-or-v1-<64 hex>" the hex, which with the
// public prefix added back is the key), else the whole key. A view into `secret`.
std::string_view secret_part(std::string_view secret);

class api_key {
 public:
  explicit api_key(std::string secret, std::string label = {});
  api_key(const api_key&) = default;
  api_key(api_key&&) noexcept = default;
  api_key& operator=(const api_key&) = default;
  api_key& operator=(api_key&&) noexcept = default;
  ~api_key();

  // The label when there is one, else the mask: the only form fit for logs and admin output.
  const std::string& display() const noexcept { return display_; }
  const std::string& label() const noexcept { return label_; }
  // Only for writing the upstream Authorization header.
  std::string_view reveal() const noexcept { return secret_; }
  // secret_part(reveal()), found once: what maskers and scrubbers look for.
  std::string_view secret_part() const noexcept { return std::string_view(secret_).substr(part_at_, part_size_); }
  // First 16 hex digits of SHA-256(secret): a stable identity for state files and Redis.
  const std::string& fingerprint() const noexcept { return fingerprint_; }

  friend bool operator==(const api_key& a, const api_key& b) noexcept {
    return a.fingerprint_ == b.fingerprint_ && a.secret_ == b.secret_;
  }

 private:
  std::string secret_;
  std::string label_;
  std::string display_;
  std::string fingerprint_;
  std::size_t part_at_ = 0;
  std::size_t part_size_ = 0;
};

}  // namespace orp::keys
