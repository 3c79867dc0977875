#pragma once
// Cheap extraction of what the access line reports from bodies the proxy relays: the model
// asked for, and the token counts and cost from the answer's `usage` object.
#include <string>
#include <string_view>

#include "log/logging.hpp"

namespace orp::forward {

// The "model" member of a JSON request body; empty when there is none.
std::string model_of(std::string_view body);

// Keeps the tail of a response as it passes; `usage` is the last object of both a completion
// and a stream (its final event), so the tail is enough.
class usage_scanner {
 public:
  void scan(std::string_view piece);
  void apply(log::access_record& rec) const;

 private:
  // `usage` is a few hundred bytes at the very end: 4 KiB of tail (at most 8 KiB held) is plenty,
  // and a long stream must not hold more.
  static constexpr std::size_t kTail = 4 * 1024;
  std::string tail_;
};

}  // namespace orp::forward
