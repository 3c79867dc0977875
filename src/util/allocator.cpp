#include "util/allocator.hpp"

#include <malloc.h>
#include <unistd.h>

#include <fstream>

namespace orp::util {
namespace {
std::string& name_slot() {
  static std::string name = "glibc malloc";
  return name;
}

void trim_glibc() { malloc_trim(0); }

// Set once by main before any thread starts.
void (*heap_trim)() = trim_glibc;
}  // namespace

void set_allocator_name(std::string name) { name_slot() = std::move(name); }
const std::string& allocator_name() { return name_slot(); }

void trim_heap() { heap_trim(); }
void set_heap_trim(void (*trim)()) { heap_trim = trim ? trim : trim_glibc; }

std::uint64_t resident_bytes() {
  std::ifstream in("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  if (!(in >> size >> resident)) return 0;
  return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

}  // namespace orp::util
