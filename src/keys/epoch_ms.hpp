#pragma once
// Wall-clock times as integer milliseconds since the epoch, the form they take in the state file
// and in Redis. Reading clamps to what the clock can hold (its nanoseconds span 1678-2262): a
// corrupt or hand-edited value must not overflow the conversion.
#include <algorithm>
#include <chrono>
#include <cstdint>

namespace orp::keys {

inline std::int64_t to_epoch_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

inline std::chrono::system_clock::time_point from_epoch_ms(std::int64_t ms) {
  using clock = std::chrono::system_clock;
  constexpr std::int64_t limit =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock::duration::max()).count() - 1;
  return clock::time_point(std::chrono::duration_cast<clock::duration>(
      std::chrono::milliseconds(std::clamp<std::int64_t>(ms, -limit, limit))));
}

}  // namespace orp::keys
