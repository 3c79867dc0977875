#include "admin/process_metrics.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <fmt/format.h>

namespace orp::admin {
namespace {

std::string read_all(const char* path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool to_u64(std::string_view s, std::uint64_t& v) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && end == s.data() + s.size();
}

// "btime N" of /proc/stat: the boot time in seconds since the epoch.
std::optional<std::uint64_t> boot_time() {
  std::istringstream in(read_all("/proc/stat"));
  std::string word;
  while (in >> word) {
    if (word == "btime") {
      std::uint64_t t = 0;
      if (in >> t) return t;
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::optional<std::uint64_t> open_fds() {
  std::error_code ec;
  std::uint64_t n = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec)) ++n;
  if (ec) return std::nullopt;
  return n > 0 ? n - 1 : 0;  // the iterator's own descriptor
}

void gauge(std::string& out, const char* name, const char* type, const char* help, double value) {
  out += fmt::format("# HELP {0} {1}\n# TYPE {0} {2}\n{0} {3}\n", name, help, type, value);
}

}  // namespace

std::optional<proc_stat> parse_proc_stat(std::string_view line) {
  // "PID (COMM) STATE PPID ...": COMM may contain ") ", so the fields start after the last ')'.
  const auto close = line.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::vector<std::string_view> fields;
  for (std::size_t i = close + 1; i < line.size();) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\n')) ++i;
    std::size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\n') ++j;
    if (j > i) fields.push_back(line.substr(i, j - i));
    i = j;
  }
  // fields[0] is field 3 of proc(5) (state): field n is fields[n - 3].
  auto field = [&](std::size_t n, std::uint64_t& v) { return n - 3 < fields.size() && to_u64(fields[n - 3], v); };
  proc_stat s;
  if (!field(14, s.utime_ticks) || !field(15, s.stime_ticks) || !field(22, s.start_ticks) ||
      !field(23, s.vsize_bytes) || !field(24, s.rss_pages))
    return std::nullopt;
  return s;
}

void render_process_metrics(std::string& out) {
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  if (auto s = parse_proc_stat(read_all("/proc/self/stat")); s && ticks > 0 && page > 0) {
    gauge(out, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
          static_cast<double>(s->utime_ticks + s->stime_ticks) / ticks);
    gauge(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
          static_cast<double>(s->rss_pages) * page);
    gauge(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
          static_cast<double>(s->vsize_bytes));
    if (auto boot = boot_time())
      gauge(out, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
            static_cast<double>(*boot) + static_cast<double>(s->start_ticks) / ticks);
  }
  if (auto n = open_fds()) gauge(out, "process_open_fds", "gauge", "Number of open file descriptors.", static_cast<double>(*n));
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY)
    gauge(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.", static_cast<double>(lim.rlim_cur));
}

}  // namespace orp::admin
