#include "config/settings.hpp"

#include <boost/url/parse.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <utility>

#include "util/error_text.hpp"
#include "util/read_file.hpp"

namespace orp::config {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string dotted_name(std::string_view section, std::string_view key) {
  return std::string(section) + "." + std::string(key);
}

// A bound as the user would write it: sizes in the largest whole binary unit (4GiB, not
// 4294967296), numbers in full (4294967296, not 4.29497e+09).
std::string bound_text(const setting& s, double v) {
  if (s.type == value_type::size) return size_text(static_cast<std::uint64_t>(v));
  char text[32];
  std::snprintf(text, sizeof text, "%.15g", v);
  return text;
}

void check_range(const setting& s, double v) {
  if (s.min == 0 && s.max == 0) return;
  if (v < s.min || v > s.max)
    throw std::invalid_argument("must be between " + bound_text(s, s.min) + " and " + bound_text(s, s.max));
}

bool valid_host(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  return std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == ':';
  });
}

}  // namespace

std::string size_text(std::uint64_t bytes) {
  for (const auto& [unit, factor] : {std::pair{"GiB", 1ull << 30}, {"MiB", 1ull << 20}, {"KiB", 1ull << 10}})
    if (bytes >= factor && bytes % factor == 0) return std::to_string(bytes / factor) + unit;
  return std::to_string(bytes) + "B";
}

std::string endpoint::to_string() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

double parse_seconds(std::string_view text) {
  text = trim(text);
  if (!text.empty() && text.back() == 's') text.remove_suffix(1);
  double v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || p != text.data() + text.size() || !std::isfinite(v) || v < 0)
    throw std::invalid_argument("expected seconds, e.g. 30 or 0.5");
  return v;
}

std::uint64_t parse_size(std::string_view text) {
  text = trim(text);
  double v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || !std::isfinite(v) || v < 0) throw std::invalid_argument("expected a size, e.g. 32MiB");
  std::string unit(trim(std::string_view(p, text.data() + text.size() - p)));
  std::transform(unit.begin(), unit.end(), unit.begin(), [](unsigned char c) { return std::tolower(c); });
  double mult = 1;
  if (unit.empty() || unit == "b") mult = 1;
  else if (unit == "k" || unit == "kb" || unit == "kib") mult = 1024.0;
  else if (unit == "m" || unit == "mb" || unit == "mib") mult = 1024.0 * 1024;
  else if (unit == "g" || unit == "gb" || unit == "gib") mult = 1024.0 * 1024 * 1024;
  else throw std::invalid_argument("unknown size unit '" + unit + "' (use B, KiB, MiB or GiB)");
  // Checked before the cast: converting a double past 2^64 to an integer is undefined.
  if (!(v * mult < 18446744073709551616.0)) throw std::invalid_argument("size too large");
  return static_cast<std::uint64_t>(v * mult);
}

std::int64_t parse_integer(std::string_view text) {
  text = trim(text);
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || p != text.data() + text.size()) throw std::invalid_argument("expected a whole number");
  return v;
}

std::optional<endpoint> try_parse_endpoint(std::string_view text, std::string* why) noexcept {
  auto fail = [&](const char* reason) -> std::optional<endpoint> {
    if (why) *why = reason;
    return std::nullopt;
  };
  text = trim(text);
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {  // [::1]:8080
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return fail("expected [ipv6]:port");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return fail("expected host:port");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  unsigned v = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
  if (ec != std::errc{} || p != port.data() + port.size() || v > 65535 || port.empty())
    return fail("port must be a number from 0 to 65535");
  if (!valid_host(host)) return fail("bad host name");
  return endpoint{std::string(host), static_cast<std::uint16_t>(v)};
}

endpoint parse_endpoint(std::string_view text) {
  std::string why;
  auto ep = try_parse_endpoint(text, &why);
  if (!ep) throw std::invalid_argument(why);
  return *ep;
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    auto comma = text.find(',');
    auto item = trim(text.substr(0, comma));
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

void validate_value(const setting& s, std::string_view value) {
  value = trim(value);
  if (value.empty()) {
    if (s.optional_empty || s.type == value_type::text) return;
    throw std::invalid_argument("must not be empty");
  }
  switch (s.type) {
    case value_type::text:
    case value_type::path:
      return;
    case value_type::endpoint:
      parse_endpoint(value);
      return;
    case value_type::host_policy:
      if (value.empty() || value == "all" || value == "none") return;
      [[fallthrough]];
    case value_type::host_list:
      for (const auto& h : split_list(value))
        if (!valid_host(h)) throw std::invalid_argument("bad host name '" + h + "'");
      return;
    case value_type::integer:
      check_range(s, static_cast<double>(parse_integer(value)));
      return;
    case value_type::seconds:
      check_range(s, parse_seconds(value));
      return;
    case value_type::size:
      check_range(s, static_cast<double>(parse_size(value)));
      return;
    case value_type::choice: {
      std::string_view rest = s.choices;
      while (!rest.empty()) {
        auto bar = rest.find('|');
        if (rest.substr(0, bar) == value) return;
        if (bar == std::string_view::npos) break;
        rest.remove_prefix(bar + 1);
      }
      throw std::invalid_argument("must be one of " + std::string(s.choices));
    }
    case value_type::url: {
      auto u = boost::urls::parse_absolute_uri(value);
      if (!u || !u->has_authority() || u->host().empty())
        throw std::invalid_argument("expected a URL like https://host/path");
      return;
    }
  }
}

settings::settings() {
  for (const auto& s : all_settings()) values_[dotted_name(s.section, s.key)] = std::string(s.default_value);
}

void settings::set(std::string_view section, std::string_view key, std::string_view value, std::string_view where) {
  const setting* s = find_setting(section, key);
  std::string name = dotted_name(section, key);
  if (!s) {
    bool known_section = std::any_of(all_settings().begin(), all_settings().end(),
                                     [&](const setting& x) { return x.section == section; });
    if (!known_section) throw config_error(std::string(where) + ": unknown section [" + std::string(section) + "]");
    throw config_error(std::string(where) + ": unknown setting " + name);
  }
  try {
    validate_value(*s, value);
  } catch (const std::invalid_argument& e) {
    // Settings that carry a secret are named, their values never repeated.
    throw config_error(std::string(where) + ": " + name +
                       (s->secret ? std::string() : " = '" + std::string(trim(value)) + "'") + ": " + e.what());
  }
  values_[name] = std::string(trim(value));
  if (where.starts_with("--")) from_command_line_.insert(name);
  else from_command_line_.erase(name);
}

void settings::load_text(std::string_view text, std::string_view file_name) {
  // Windows editors save UTF-8 with a byte-order mark; it is not part of the first line.
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  std::string section;
  std::map<std::string, int, std::less<>> first_line;  // "section.key" -> the line that set it
  int line_no = 0;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_no;
    line = trim(line);
    if (line.empty() || line.front() == ';' || line.front() == '#') continue;
    std::string where = std::string(file_name) + ":" + std::to_string(line_no);
    if (line.front() == '[') {
      if (line.back() != ']') throw config_error(where + ": malformed section header '" + std::string(line) + "'");
      section = std::string(trim(line.substr(1, line.size() - 2)));
      bool known = std::any_of(all_settings().begin(), all_settings().end(),
                               [&](const setting& x) { return x.section == section; });
      if (!known) throw config_error(where + ": unknown section [" + section + "]");
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string_view::npos) {
      // `--config keys.csv`, a file mixed up: the line may be a key.
      throw config_error(where + ": expected 'key = value', got " + util::quoted_unless_secret(line, 40));
    }
    if (section.empty()) throw config_error(where + ": setting outside of a [section]");
    const auto key = trim(line.substr(0, eq));
    set(section, key, line.substr(eq + 1), where);
    // Which of two lines wins is a guess the reader of the file should not have to make.
    auto [first, fresh] = first_line.try_emplace(dotted_name(section, key), line_no);
    if (!fresh)
      throw config_error(where + ": " + first->first + " is set twice (first on line " +
                         std::to_string(first->second) + "); keep one of the two lines");
  }
}

void settings::load_file(const std::filesystem::path& file) {
  // A directory opens as a stream and reads as empty: every setting would silently be its default.
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec))
    throw config_error(file.string() + ": is a directory, not a configuration file (--config FILE)");
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    const int err = errno;  // open(2)'s, which ifstream leaves behind
    if (err == ENOENT) throw config_error(file.string() + ": no such configuration file (--config names it)");
    throw config_error(file.string() + ": cannot read the configuration file: " +
                       (err != 0 ? std::strerror(err) : "unreadable"));
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  load_text(buf.str(), file.string());
  // Not for `--config <(...)` (a pipe under /dev/fd): its folder holds no files of ours.
  if (file.has_parent_path() && std::filesystem::is_regular_file(file, ec)) base_dir_ = file.parent_path();
  source_file_ = file;
  source_text_ = std::move(buf).str();
}

bool settings::source_changed() const {
  if (source_file_.empty()) return false;
  try {
    // Never blocks: a FIFO or a device in the file's place counts as a change.
    return util::read_regular_file(source_file_, source_text_.size() + 1) != source_text_;
  } catch (const util::read_error&) {
    return true;
  }
}

void settings::apply_override(std::string_view assignment) {
  // The assignment is not repeated: its value may be a secret (admin.token, a Redis password).
  const std::string where = "--set";
  auto eq = assignment.find('=');
  auto dot = assignment.find('.');
  if (eq == std::string_view::npos || dot == std::string_view::npos || dot > eq)
    throw config_error(where + ": expected SECTION.KEY=VALUE");
  set(trim(assignment.substr(0, dot)), trim(assignment.substr(dot + 1, eq - dot - 1)), assignment.substr(eq + 1),
      where);
}

const std::string& settings::text(std::string_view dotted) const {
  auto it = values_.find(dotted);
  if (it == values_.end()) throw std::logic_error("no such setting: " + std::string(dotted));
  return it->second;
}

double settings::seconds(std::string_view dotted) const { return parse_seconds(text(dotted)); }

std::chrono::milliseconds settings::duration(std::string_view dotted) const {
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(seconds(dotted) * 1000)));
}

std::uint64_t settings::size(std::string_view dotted) const { return parse_size(text(dotted)); }
std::int64_t settings::integer(std::string_view dotted) const { return parse_integer(text(dotted)); }

endpoint settings::address(std::string_view dotted) const {
  const auto& v = text(dotted);
  return v.empty() ? endpoint{} : parse_endpoint(v);
}

std::vector<std::string> settings::list(std::string_view dotted) const { return split_list(text(dotted)); }

bool settings::at_default(std::string_view dotted) const {
  const auto dot = dotted.find('.');
  const setting* s = dot == std::string_view::npos ? nullptr : find_setting(dotted.substr(0, dot), dotted.substr(dot + 1));
  if (!s) throw std::logic_error("no such setting: " + std::string(dotted));
  return text(dotted) == s->default_value;
}

std::filesystem::path settings::path(std::string_view dotted) const {
  const auto& v = text(dotted);
  if (v.empty()) return {};
  std::filesystem::path p(v);
  if (p.is_absolute()) return p;
  return from_command_line_.contains(dotted) ? std::filesystem::path(".") / p : base_dir_ / p;
}

void check_combinations(const settings& s) {
  if (s.size("proxy.max_body_memory") < s.size("proxy.max_request_body"))
    throw config_error("proxy.max_body_memory = " + s.text("proxy.max_body_memory") +
                       " is smaller than proxy.max_request_body = " + s.text("proxy.max_request_body") +
                       ": a body of the largest accepted size could never be held");
  if (s.seconds("retry.retry_delay") > s.seconds("retry.max_retry_delay"))
    throw config_error("retry.retry_delay = " + s.text("retry.retry_delay") +
                       " is larger than retry.max_retry_delay = " + s.text("retry.max_retry_delay") +
                       ": every back-off would be cut to max_retry_delay; lower retry_delay or raise max_retry_delay");
}

}  // namespace orp::config
