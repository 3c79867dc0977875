#pragma once
// When a worker gives its freed heap back after a burst of connections (util/allocator.hpp,
// docs/operations.md "Memory after a burst"). Pure counting: the worker reports its connections
// opening and closing, runs the trim it is told to schedule, and reports when it has run.
#include <cstdint>

namespace orp::util {

// When to trim, from one worker's connection count. A burst starts when the count reaches
// min_peak; from then on, each time the count has fallen to half of the highest it reached since
// the last trim, a trim is scheduled (the caller runs it a little later, so that the rest of a
// closing burst is freed too: a heap page goes back only once every block on it is free, and a
// burst's connections share pages), until a trim finds no connection left, which ends the burst.
// Steady traffic below min_peak, or churning around a steady count, never trims.
class burst_trim {
 public:
  static constexpr std::int64_t default_min_peak = 64;
  explicit burst_trim(std::int64_t min_peak = default_min_peak) : min_peak_(min_peak) {}

  void opened() {
    if (++open_ > peak_) peak_ = open_;
    if (peak_ >= min_peak_) in_burst_ = true;
  }
  // True when a trim should be scheduled now (none is pending).
  bool closed() {
    --open_;
    if (pending_ || !in_burst_ || open_ * 2 > peak_) return false;
    pending_ = true;
    return true;
  }
  // The scheduled trim has run.
  void trimmed() {
    pending_ = false;
    peak_ = open_;
    if (open_ == 0) in_burst_ = false;
  }
  std::int64_t open() const { return open_; }
  bool pending() const { return pending_; }
  bool in_burst() const { return in_burst_; }

 private:
  std::int64_t min_peak_;
  std::int64_t open_ = 0;
  std::int64_t peak_ = 0;
  bool in_burst_ = false;
  bool pending_ = false;
};

}  // namespace orp::util
