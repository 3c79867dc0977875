// /proc/PID/stat as the process_* metrics read it (admin/process_metrics.hpp).
#include <gtest/gtest.h>

#include <string>

#include "admin/process_metrics.hpp"

using orp::admin::parse_proc_stat;
using orp::admin::render_process_metrics;

namespace {
// A real line (fields 1-24 of proc(5), then the rest cut short) with the command name given.
std::string stat_line(const std::string& comm) {
  return "4242 (" + comm +
         ") S 1 4242 4242 0 -1 4194560 2104 0 0 0 "  // fields 3-13
         "137 58 0 0 20 0 3 0 987654 "                // utime 137, stime 58, ..., starttime 987654
         "226951168 4321 18446744073709551615 1 1 0 0 0 0 0 4096\n";  // vsize, rss, ...
}
}  // namespace

TEST(ProcessMetrics, ParsesTheFieldsTheMetricsUse) {
  auto s = parse_proc_stat(stat_line("openrouter-prox"));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->utime_ticks, 137u);
  EXPECT_EQ(s->stime_ticks, 58u);
  EXPECT_EQ(s->start_ticks, 987654u);
  EXPECT_EQ(s->vsize_bytes, 226951168u);
  EXPECT_EQ(s->rss_pages, 4321u);
}

TEST(ProcessMetrics, ACommandNameWithSpacesAndParenthesesDoesNotShiftTheFields) {
  auto s = parse_proc_stat(stat_line("a) S 1 (b c"));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->utime_ticks, 137u);
  EXPECT_EQ(s->rss_pages, 4321u);
}

TEST(ProcessMetrics, ShortOrMalformedLinesAreRefused) {
  EXPECT_FALSE(parse_proc_stat(""));
  EXPECT_FALSE(parse_proc_stat("4242 openrouter S 1"));           // no parentheses
  EXPECT_FALSE(parse_proc_stat("4242 (x) S 1 4242 4242 0 -1 4"));  // cut before utime
  std::string bad = stat_line("x");
  bad.replace(bad.find(" 137 "), 5, " 1x7 ");
  EXPECT_FALSE(parse_proc_stat(bad));
}

TEST(ProcessMetrics, TheLiveProcessIsRenderedUnderThePrometheusNames) {
  std::string out;
  render_process_metrics(out);
  for (const char* name : {"process_cpu_seconds_total ", "process_resident_memory_bytes ", "process_virtual_memory_bytes ",
                           "process_start_time_seconds ", "process_open_fds ", "process_max_fds "})
    EXPECT_NE(out.find(std::string("\n") + name), std::string::npos) << name << " missing in\n" << out;
}
