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

  // mask_secrets(text) after every known key in it has been replaced by its mask, and so has each
  // key's secret part quoted alone (api_key::secret_part); both matched ignoring ASCII case.
  // O(keys x text), with memmem over one lowered copy of the text: meant for error texts, which
  // callers bound.
  std::string mask(std::string_view text) const;
  // The same for one key, e.g. the answer to a probe of that key.
  static std::string mask(std::string_view text, const api_key& key);
  // mask(), also behind JSON string escapes ("sk\u002dor..." in JSON cut short, or quoted in
  // text): when decoding the escapes shows something to mask, the decoded text comes back, masked.
  std::string mask_escaped(std::string_view text) const;

 private:
  struct needles;  // a key and its secret part, lowered, with their masks
  // Longest key first: a key inside a longer one goes with it. Shared: maskers are copied around.
  std::shared_ptr<const std::vector<needles>> needles_;
};

// `text` with JSON string escapes (\uXXXX with surrogate pairs, \n, \/ ...) decoded where they
// are well formed; anything else is copied as it is.
std::string decode_json_escapes(std::string_view text);

}  // namespace orp::keys
