// log::line_formatter writes exactly what spdlog's pattern formatter wrote for the patterns it
// replaces: same bytes, same colour range, across levels, milliseconds and second boundaries.
#include <gtest/gtest.h>

#include <spdlog/details/log_msg.h>
#include <spdlog/pattern_formatter.h>

#include <cstdlib>
#include <ctime>
#include <string>

#include "log/line_formatter.hpp"

namespace orp::log {
namespace {

struct formatted {
  std::string text;
  std::size_t color_start, color_end;
};

formatted run(spdlog::formatter& f, spdlog::level::level_enum level, spdlog::log_clock::time_point t,
              std::string_view payload) {
  spdlog::details::log_msg msg(spdlog::source_loc{}, "orp", level, spdlog::string_view_t(payload.data(), payload.size()));
  msg.time = t;
  spdlog::memory_buf_t buf;
  f.format(msg, buf);
  return {std::string(buf.data(), buf.size()), msg.color_range_start, msg.color_range_end};
}

void expect_same_as_spdlog(bool json) {
  line_formatter ours(json);
  spdlog::pattern_formatter theirs(json ? line_formatter::json_pattern() : line_formatter::text_pattern());
  const auto base = spdlog::log_clock::from_time_t(1'795'708'799);  // a second before a minute turns
  const std::string_view payloads[] = {"access id=1 client=127.0.0.1 mode=connect", "", "\"msg\":\"x\""};
  int lines = 0;
  for (auto level : {spdlog::level::trace, spdlog::level::debug, spdlog::level::info, spdlog::level::warn,
                     spdlog::level::err, spdlog::level::critical}) {
    for (int ms : {0, 7, 42, 999, 1000, 1001, 61'500, 3'600'000}) {
      auto t = base + std::chrono::milliseconds(ms) + std::chrono::microseconds(ms % 3 * 333);
      for (auto payload : payloads) {
        auto a = run(ours, level, t, payload);
        auto b = run(theirs, level, t, payload);
        EXPECT_EQ(a.text, b.text);
        if (!json) {
          EXPECT_EQ(a.color_start, b.color_start) << b.text;
          EXPECT_EQ(a.color_end, b.color_end) << b.text;
        }
        ++lines;
      }
    }
  }
  EXPECT_EQ(lines, 6 * 8 * 3);
}

TEST(LogLineFormatter, TextLinesMatchSpdlogsPattern) { expect_same_as_spdlog(false); }
TEST(LogLineFormatter, JsonLinesMatchSpdlogsPattern) { expect_same_as_spdlog(true); }

// Local time with a zone east and one west of UTC, at half hours (POSIX TZ strings: no tzdata).
TEST(LogLineFormatter, OtherTimeZonesMatchToo) {
  const char* saved = std::getenv("TZ");
  std::string restore = saved ? saved : "";
  for (const char* tz : {"IST-5:30", "NST3:30"}) {
    setenv("TZ", tz, 1);
    tzset();
    expect_same_as_spdlog(false);
    expect_same_as_spdlog(true);
  }
  if (saved) setenv("TZ", restore.c_str(), 1);
  else unsetenv("TZ");
  tzset();
}

TEST(LogLineFormatter, AClonedFormatterWritesTheSame) {
  line_formatter ours(false);
  auto copy = ours.clone();
  auto t = spdlog::log_clock::now();
  EXPECT_EQ(run(ours, spdlog::level::info, t, "x").text, run(*copy, spdlog::level::info, t, "x").text);
}

}  // namespace
}  // namespace orp::log
