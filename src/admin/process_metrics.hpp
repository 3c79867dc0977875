#pragma once
// The process's own figures in /metrics, under the names every Prometheus client library uses
// (process_cpu_seconds_total, process_resident_memory_bytes, process_open_fds, ...), so the usual
// dashboards and alerts work unchanged: memory after a burst, descriptors against the limit.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace orp::admin {

// The fields of /proc/PID/stat that the metrics need, in the kernel's units.
struct proc_stat {
  std::uint64_t utime_ticks = 0;
  std::uint64_t stime_ticks = 0;
  std::uint64_t start_ticks = 0;  // after boot
  std::uint64_t vsize_bytes = 0;
  std::uint64_t rss_pages = 0;
};

// Parses one /proc/PID/stat line; the command name may hold spaces and parentheses.
std::optional<proc_stat> parse_proc_stat(std::string_view line);

// Appends the process_* metrics of this process; what cannot be read is left out.
void render_process_metrics(std::string& out);

}  // namespace orp::admin
