#include "log/line_formatter.hpp"

#include <spdlog/details/log_msg.h>

#include <chrono>
#include <cstdio>

namespace orp::log {
namespace {

void append(spdlog::memory_buf_t& dest, std::string_view s) { dest.append(s.data(), s.data() + s.size()); }

}  // namespace

void line_formatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  using namespace std::chrono;
  const auto since_epoch = msg.time.time_since_epoch();
  const std::time_t second = duration_cast<seconds>(since_epoch).count();
  if (second != cached_second_) {
    std::tm tm{};
    localtime_r(&second, &tm);
    char buf[64];
    int n = std::snprintf(buf, sizeof buf, json_ ? "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d." : "%04d-%02d-%02d %02d:%02d:%02d.",
                          tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    second_text_.assign(buf, static_cast<std::size_t>(n));
    if (json_) {
      long offset_min = tm.tm_gmtoff / 60;
      char sign = offset_min < 0 ? '-' : '+';
      if (offset_min < 0) offset_min = -offset_min;
      n = std::snprintf(buf, sizeof buf, "%c%02ld:%02ld\",\"level\":\"", sign, offset_min / 60, offset_min % 60);
      zone_.assign(buf, static_cast<std::size_t>(n));
    }
    cached_second_ = second;
  }
  append(dest, second_text_);
  const auto ms = static_cast<unsigned>(duration_cast<milliseconds>(since_epoch).count() % 1000);
  const char millis[3] = {static_cast<char>('0' + ms / 100), static_cast<char>('0' + ms / 10 % 10),
                          static_cast<char>('0' + ms % 10)};
  dest.append(millis, millis + 3);
  const auto level = spdlog::level::to_string_view(msg.level);
  if (json_) {
    append(dest, zone_);
    append(dest, std::string_view(level.data(), level.size()));
    append(dest, "\",");
    append(dest, std::string_view(msg.payload.data(), msg.payload.size()));
    append(dest, "}\n");
    return;
  }
  dest.push_back(' ');
  msg.color_range_start = dest.size();
  append(dest, std::string_view(level.data(), level.size()));
  for (std::size_t pad = level.size(); pad < 5; ++pad) dest.push_back(' ');
  msg.color_range_end = dest.size();
  dest.push_back(' ');
  append(dest, std::string_view(msg.payload.data(), msg.payload.size()));
  dest.push_back('\n');
}

}  // namespace orp::log
