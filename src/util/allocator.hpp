// Which malloc the binary runs on, for --version and the start-up line. The executable links
// mimalloc when it was built with it (CMake option ORP_MIMALLOC) and checks at start that malloc
// really is mimalloc's; everything else (tests, sanitizer builds) runs on the C library's.
#pragma once

#include <string>

namespace orp::util {

void set_allocator_name(std::string name);
const std::string& allocator_name();  // "glibc malloc" unless set

}  // namespace orp::util
