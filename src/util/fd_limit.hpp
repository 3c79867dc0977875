#pragma once
// The open-file limit, which bounds how many connections the proxy can hold: each intercepted or
// tunnelled connection takes two descriptors (client and upstream). Many systems start programs
// with a soft limit of 1,024 under a much higher hard limit, which would stop the proxy at about
// 480 connections with accept() failing; at start it raises its soft limit to the hard one, and
// where even that is short of proxy.max_connections, serves fewer with a clear 503 rather than
// failing accepts and upstream connects.
#include <cstdint>

namespace orp::util {

struct fd_limits {
  std::uint64_t soft_before = 0;  // the soft limit the process was started with
  std::uint64_t soft = 0;         // the soft limit now
  std::uint64_t hard = 0;
  bool raised() const { return soft > soft_before; }
};

// Raises the soft RLIMIT_NOFILE to the hard limit (an unlimited hard limit: to the kernel's
// fs.nr_open, the most a process may have). Never lowers it; a refusal leaves it as it was.
fd_limits raise_fd_limit();

// Descriptors kept for everything but connections: listeners, the event loops' own, log and
// state files, Redis, probes, certificate files being read.
inline constexpr std::uint64_t reserved_fds = 64;

// How many connections `fd_limit` descriptors can hold, two each beyond the reserve.
inline std::int64_t connections_allowed(std::uint64_t fd_limit) {
  if (fd_limit <= reserved_fds) return 0;
  const std::uint64_t n = (fd_limit - reserved_fds) / 2;
  return n > static_cast<std::uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<std::int64_t>(n);
}

}  // namespace orp::util
