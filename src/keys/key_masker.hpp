#pragma once
// Masks the pool's keys wherever an upstream text quotes them, whatever their shape: mask_secrets
// only recognises OpenRouter's `sk-or-` form, and a pool may hold keys of any form.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "keys/api_key.hpp"

namespace orp::keys {

class key_masker {
 public:
  key_masker() = default;
  explicit key_masker(std::vector<std::shared_ptr<const api_key>> keys);

  // mask_secrets(text) after every known key in it has been replaced by its mask.
  // O(keys x text): meant for error texts, which callers bound.
  std::string mask(std::string_view text) const;
  // The same for one key, e.g. the answer to a probe of that key.
  static std::string mask(std::string_view text, const api_key& key);

 private:
  std::vector<std::shared_ptr<const api_key>> keys_;  // longest first: a key inside a longer one goes with it
};

}  // namespace orp::keys
