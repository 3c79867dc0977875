#include "keys/key_masker.hpp"

#include <algorithm>

namespace orp::keys {
namespace {

void mask_every(std::string& text, std::string_view secret) {
  if (secret.empty()) return;
  std::size_t found = text.find(secret);
  if (found == std::string::npos) return;
  const std::string masked = mask_secret(secret);
  std::string out;
  out.reserve(text.size());
  std::size_t from = 0;
  for (; found != std::string::npos; found = text.find(secret, from)) {
    out.append(text, from, found - from);
    out += masked;
    from = found + secret.size();
  }
  out.append(text, from);
  text = std::move(out);
}

}  // namespace

key_masker::key_masker(std::vector<std::shared_ptr<const api_key>> keys) : keys_(std::move(keys)) {
  std::stable_sort(keys_.begin(), keys_.end(),
                   [](const auto& a, const auto& b) { return a->reveal().size() > b->reveal().size(); });
}

std::string key_masker::mask(std::string_view text) const {
  std::string out(text);
  for (const auto& key : keys_) mask_every(out, key->reveal());
  return mask_secrets(out);
}

std::string key_masker::mask(std::string_view text, const api_key& key) {
  std::string out(text);
  mask_every(out, key.reveal());
  return mask_secrets(out);
}

}  // namespace orp::keys
