// Which malloc the binary runs on, for --version and the start-up line. The executable links
// mimalloc when it was built with it (CMake option ORP_MIMALLOC) and checks at start that malloc
// really is mimalloc's; everything else (tests, sanitizer builds) runs on the C library's.
//
// And giving memory back after a burst. Allocators keep freed memory for reuse: after 1,000
// streams through one worker had closed, mimalloc held the proxy's RSS at its peak (60 MB; 29 MB
// once trimmed, of which ~4 MB the TLS session cache) until the next burst reused it. A worker
// counts its own connections (burst_trim); after a burst, each time they have fallen to half it
// trims its heap a second later, on its own thread (mimalloc's heaps are per thread), until none
// is left.
#pragma once

#include <cstdint>
#include <string>

namespace orp::util {

void set_allocator_name(std::string name);
const std::string& allocator_name();  // "glibc malloc" unless set

// Returns free memory of the calling thread's heap to the system: glibc's malloc_trim(0) unless
// the binary installed its allocator's own (mi_collect).
void trim_heap();
void set_heap_trim(void (*trim)());
// The process's resident set in bytes (/proc/self/statm), 0 if unreadable.
std::uint64_t resident_bytes();

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
