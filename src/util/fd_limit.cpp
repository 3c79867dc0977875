#include "util/fd_limit.hpp"

#include <sys/resource.h>

#include <fstream>

namespace orp::util {
namespace {

// fs.nr_open: the kernel's ceiling for RLIMIT_NOFILE (1,048,576 by default).
std::uint64_t kernel_ceiling() {
  std::ifstream in("/proc/sys/fs/nr_open");
  std::uint64_t n = 0;
  if (in >> n && n > 0) return n;
  return 1048576;
}

}  // namespace

fd_limits raise_fd_limit() {
  fd_limits out;
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return out;
  // An unlimited hard limit still stops at the kernel's ceiling.
  const rlim_t target = lim.rlim_max == RLIM_INFINITY ? kernel_ceiling() : lim.rlim_max;
  out.hard = target;
  out.soft_before = out.soft = lim.rlim_cur == RLIM_INFINITY ? target : lim.rlim_cur;
  if (out.soft >= target) return out;
  rlimit raised{target, lim.rlim_max};
  if (setrlimit(RLIMIT_NOFILE, &raised) == 0) out.soft = target;
  return out;
}

}  // namespace orp::util
