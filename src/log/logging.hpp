#pragma once
// spdlog set-up (console + rotating file) and the one access line per request.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

#include <boost/asio/any_io_executor.hpp>

namespace orp::log {

struct log_options {
  std::filesystem::path file;  // empty: console only
  std::string level = "info";
  bool json = false;
  std::uint64_t max_size = 10 * 1024 * 1024;
  std::size_t max_files = 5;
};

// Throws std::runtime_error (start-up only) when the file cannot be opened.
void init(const log_options& options);
void shutdown();
bool json_format();

struct access_record {
  std::uint64_t id = 0;
  std::string client;
  std::string client_name;  // authenticated proxy client, if any
  std::string mode;         // connect | socks | base_url | http_proxy (absolute-form URL on plain HTTP)
  std::string method;
  std::string path;
  std::string model;
  std::string key;          // label or mask, never the key
  std::string key_id;       // its fingerprint: labels may repeat (/metrics tells keys apart by it)
  unsigned attempts = 0;
  unsigned status = 0;
  double upstream_headers_ms = -1;  // < 0: never reached
  double duration_ms = 0;
  std::uint64_t bytes_in = 0;   // request body
  std::uint64_t bytes_out = 0;  // response bytes to the client
  std::optional<std::int64_t> prompt_tokens;
  std::optional<std::int64_t> completion_tokens;
  std::optional<double> cost;
  std::string error;  // reason when the request failed
};

// Writes the access line. Its flush is posted to `ex` (the worker's event loop) once per turn of
// that loop: under load a burst of finished requests shares one write(2) to proxy.log, and no line
// waits longer than the handlers that were already ready when it was written.
void write_access(const access_record& r, const boost::asio::any_io_executor& ex);

// Emits one message; in JSON format it becomes the "msg" member of the line's object.
void emit(spdlog::level::level_enum level, std::string_view text);

template <class... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  if (spdlog::should_log(spdlog::level::info)) emit(spdlog::level::info, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
  if (spdlog::should_log(spdlog::level::warn)) emit(spdlog::level::warn, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  if (spdlog::should_log(spdlog::level::err)) emit(spdlog::level::err, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  if (spdlog::should_log(spdlog::level::debug)) emit(spdlog::level::debug, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace orp::log
