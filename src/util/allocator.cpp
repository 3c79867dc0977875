#include "util/allocator.hpp"

#include <malloc.h>

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

}  // namespace orp::util
