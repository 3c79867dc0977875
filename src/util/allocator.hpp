// Which malloc the binary runs on, for --version and the start-up line. The executable links
// mimalloc when it was built with it (CMake option ORP_MIMALLOC) and checks at start that malloc
// really is mimalloc's; everything else (tests, sanitizer builds) runs on the C library's.
//
// And giving memory back after a burst. Allocators keep freed memory for reuse: after 1,000
// streams through one worker had closed, mimalloc held the proxy's RSS at its peak (60 MB; 29 MB
// once trimmed, of which ~4 MB the TLS session cache) until the next burst reused it. A worker
// counts its own connections (util/burst_trim.hpp says when); after a burst, each time they have
// fallen to half it trims its heap a second later, on its own thread (mimalloc's heaps are per
// thread), until none is left.
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

}  // namespace orp::util
