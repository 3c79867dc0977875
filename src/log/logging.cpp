#include "log/logging.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/json/value.hpp>

#include <fmt/compile.h>
#include <fmt/format.h>

#include <boost/asio/post.hpp>

#include "log/line_formatter.hpp"
#include "util/json_text.hpp"

namespace orp::log {
namespace {
bool json_ = false;
}

void init(const log_options& options) {
  std::vector<spdlog::sink_ptr> sinks;
  auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  // With a log file and no terminal watching (a service, a CI job), the console carries only
  // warnings: formatting and writing every access line twice costs real CPU at load.
  if (!options.file.empty() && !::isatty(STDERR_FILENO)) console->set_level(spdlog::level::warn);
  sinks.push_back(console);
  if (!options.file.empty()) {
    if (options.file.has_parent_path()) std::filesystem::create_directories(options.file.parent_path());
    // Appends: an existing log is rotated by size, never truncated at start.
    sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
        options.file.string(), options.max_size, options.max_files, false));
  }
  auto logger = std::make_shared<spdlog::logger>("orp", sinks.begin(), sinks.end());
  json_ = options.json;
  logger->set_formatter(std::make_unique<line_formatter>(json_));
  logger->set_level(spdlog::level::from_str(options.level));
  // Messages are flushed as they are written (emit); access lines once
  // per turn of their worker's loop (write_access).
  logger->flush_on(spdlog::level::off);
  spdlog::set_default_logger(logger);
}

void shutdown() {
  if (auto l = spdlog::default_logger()) l->flush();
}

bool json_format() { return json_; }

namespace {
void flush_now() {
  if (auto* l = spdlog::default_logger_raw()) l->flush();
}

// One pending flush per worker thread.
thread_local bool flush_posted = false;

void flush_soon(const boost::asio::any_io_executor& ex) {
  if (flush_posted) return;
  flush_posted = true;
  boost::asio::post(ex, [] {
    flush_posted = false;
    flush_now();
  });
}

void write_access_line(const access_record& r);

// Text lines carry values that came from clients and upstreams (a model name out of a request
// body, an upstream's error message): control bytes become \xNN, so one record stays one line and
// nobody can start a forged one. In an unquoted access field a space or a quote would forge a
// field; in the quoted error a quote or a backslash would end it early.
enum class escape { controls, bare_field, quoted_field };

// One table per mode: a byte-by-byte switch cost ~1,000 instructions per access line.
using escape_table = std::array<bool, 256>;
constexpr escape_table make_escape_table(escape mode) {
  escape_table t{};
  for (int c = 0; c < 256; ++c) {
    bool control = c < 0x20 || c == 0x7f;
    t[static_cast<std::size_t>(c)] =
        control || (mode == escape::bare_field && (c == ' ' || c == '"')) ||
        (mode == escape::quoted_field && (c == '"' || c == '\\'));
  }
  return t;
}
constexpr std::array<escape_table, 3> escape_tables = {make_escape_table(escape::controls),
                                                       make_escape_table(escape::bare_field),
                                                       make_escape_table(escape::quoted_field)};

bool needs_escape(unsigned char c, escape mode) { return escape_tables[static_cast<std::size_t>(mode)][c]; }

bool needs_escape(std::string_view s, escape mode) {
  return std::any_of(s.begin(), s.end(), [&](char c) { return needs_escape(static_cast<unsigned char>(c), mode); });
}

template <class Buffer>
void append_escaped(Buffer& out, std::string_view s, escape mode) {
  static constexpr char hex[] = "0123456789abcdef";
  std::size_t from = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (!needs_escape(c, mode)) continue;
    out.append(s.data() + from, s.data() + i);
    const char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 0xf]};
    out.append(esc, esc + 4);
    from = i + 1;
  }
  out.append(s.data() + from, s.data() + s.size());
}
}  // namespace

void write_access(const access_record& r, const boost::asio::any_io_executor& ex) {
  write_access_line(r);
  flush_soon(ex);
}

void emit(spdlog::level::level_enum level, std::string_view text) {
  if (json_) {
    std::string members = "\"msg\":";
    members += util::json_string(text);  // valid UTF-8 whatever the text quotes
    spdlog::log(level, "{}", members);
  } else if (needs_escape(text, escape::controls)) {
    fmt::memory_buffer escaped;
    append_escaped(escaped, text, escape::controls);
    spdlog::log(level, "{}", std::string_view(escaped.data(), escaped.size()));
  } else {
    spdlog::log(level, "{}", text);
  }
  // Debug lines too: log.level = debug is chosen to watch what happens, as it happens.
  flush_now();
}

namespace {
void write_access_line(const access_record& r) {
  if (json_) {
    boost::json::object o;
    o["msg"] = "access";
    o["id"] = r.id;
    o["client"] = r.client;
    if (!r.client_name.empty()) o["client_name"] = r.client_name;
    o["mode"] = r.mode;
    o["method"] = r.method;
    o["path"] = r.path;
    o["model"] = r.model;
    o["key"] = r.key;
    o["attempts"] = r.attempts;
    o["status"] = r.status;
    if (r.upstream_headers_ms >= 0) o["upstream_ms"] = r.upstream_headers_ms;
    o["duration_ms"] = r.duration_ms;
    o["bytes_in"] = r.bytes_in;
    o["bytes_out"] = r.bytes_out;
    if (r.prompt_tokens) o["prompt_tokens"] = *r.prompt_tokens;
    if (r.completion_tokens) o["completion_tokens"] = *r.completion_tokens;
    if (r.cost) o["cost"] = *r.cost;
    if (!r.error.empty()) o["error"] = r.error;
    std::string text = util::json_text(o);  // durations and cost in plain notation, not 1.234E1
    // The logger's pattern opens the object; hand it the members only.
    spdlog::info("{}", std::string_view(text).substr(1, text.size() - 2));
    return;
  }
  // One pass into a stack buffer with no format string to parse at run time: this runs for every
  // request (it was 9 % of a keep-alive request's instructions with runtime format strings).
  fmt::memory_buffer line;
  auto text = [&](std::string_view s) { line.append(s); };
  // Values the proxy made or the HTTP parser already held to token syntax (no spaces, no control
  // bytes): the client address, mode, method.
  auto field = [&](std::string_view name, std::string_view value) {
    text(name);
    text(value.empty() ? std::string_view("-") : value);
  };
  // Values from outside: the path (the parser's rules already exclude what would need escaping,
  // checked again here all the same), the model (from the body), the key's label (keys.csv), the
  // client's name.
  auto outside_field = [&](std::string_view name, std::string_view value) {
    text(name);
    if (value.empty()) text("-");
    else append_escaped(line, value, escape::bare_field);
  };
  auto number = [&](std::string_view name, auto v) {
    text(name);
    fmt::format_int n(v);
    line.append(n.data(), n.data() + n.size());
  };
  // One decimal as integer tenths (rounded half to even): a general float format cost ~500
  // instructions per field, two fields per request.
  auto millis = [&](std::string_view name, double v) {
    text(name);
    const auto tenths = static_cast<long long>(std::nearbyint(std::max(v, 0.0) * 10));
    fmt::format_int whole(tenths / 10);
    line.append(whole.data(), whole.data() + whole.size());
    const char frac[2] = {'.', static_cast<char>('0' + tenths % 10)};
    line.append(frac, frac + 2);
  };
  number("access id=", r.id);
  field(" client=", r.client);
  if (!r.client_name.empty()) outside_field(" client_name=", r.client_name);
  field(" mode=", r.mode);
  field(" ", r.method);
  outside_field(" ", r.path);
  outside_field(" model=", r.model);
  outside_field(" key=", r.key);
  number(" attempts=", r.attempts);
  number(" status=", r.status);
  if (r.upstream_headers_ms < 0) text(" upstream_ms=-");
  else millis(" upstream_ms=", r.upstream_headers_ms);
  millis(" duration_ms=", r.duration_ms);
  number(" bytes_in=", r.bytes_in);
  number(" bytes_out=", r.bytes_out);
  if (r.prompt_tokens) number(" prompt_tokens=", *r.prompt_tokens);
  if (r.completion_tokens) number(" completion_tokens=", *r.completion_tokens);
  if (r.cost) fmt::format_to(fmt::appender(line), FMT_COMPILE(" cost={}"), *r.cost);
  if (!r.error.empty()) {
    text(" error=\"");
    append_escaped(line, r.error, escape::quoted_field);
    text("\"");
  }
  spdlog::info("{}", std::string_view(line.data(), line.size()));
}

}  // namespace

}  // namespace orp::log
