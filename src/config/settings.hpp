#pragma once
// Validated settings: config.ini, then --set overrides, on top of the table's defaults.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "config/settings_table.hpp"

namespace orp::config {

// A start-up error: what() is one line naming the file, line and setting.
struct config_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct endpoint {
  std::string host;
  std::uint16_t port = 0;
  std::string to_string() const;
};

// Parsers shared by validation and typed access; each throws std::invalid_argument with a reason.
double parse_seconds(std::string_view text);
std::uint64_t parse_size(std::string_view text);
std::int64_t parse_integer(std::string_view text);
endpoint parse_endpoint(std::string_view text);
// The same without exceptions, for input from the network (a CONNECT target).
std::optional<endpoint> try_parse_endpoint(std::string_view text, std::string* why = nullptr) noexcept;
std::vector<std::string> split_list(std::string_view text);  // comma-separated, trimmed, empties dropped
// A size as a user writes it: the largest whole binary unit (32MiB, 1GiB), else bytes (1500B).
std::string size_text(std::uint64_t bytes);

class settings {
 public:
  // Defaults only.
  settings();

  // Reads an ini file; unknown sections/keys and malformed values throw config_error naming file:line.
  // Relative paths in the file, and in the defaults, then resolve against the file's directory.
  void load_file(const std::filesystem::path& file);
  // Parses ini text (file_name is used in messages).
  void load_text(std::string_view text, std::string_view file_name);
  // "section.key=value" from the command line.
  void apply_override(std::string_view assignment);
  // `where` names the origin for messages; one that starts with "--" is the command line, whose
  // relative paths resolve against the working directory (as a shell user expects).
  void set(std::string_view section, std::string_view key, std::string_view value, std::string_view where);

  const std::string& text(std::string_view dotted) const;
  std::chrono::milliseconds duration(std::string_view dotted) const;
  double seconds(std::string_view dotted) const;
  std::uint64_t size(std::string_view dotted) const;
  std::int64_t integer(std::string_view dotted) const;
  endpoint address(std::string_view dotted) const;  // empty host/port 0 when the value is empty
  std::vector<std::string> list(std::string_view dotted) const;
  // A relative path resolves against base_dir(), or the working directory when it came from the
  // command line.
  std::filesystem::path path(std::string_view dotted) const;
  // The value is the table's default (unset, or written as the default: the committed config.ini
  // lists every default, so "set in a file" does not tell a choice from a copy).
  bool at_default(std::string_view dotted) const;

  // The file load_file() read (empty when none), and whether its content is no longer what was
  // read then (a missing or unreadable file counts as changed).
  const std::filesystem::path& source_file() const { return source_file_; }
  bool source_changed() const;

  // The directory of the configuration file read (its folder holds certs/, data/, keys.csv ...),
  // "." when none was.
  std::filesystem::path base_dir() const { return base_dir_; }

 private:
  std::map<std::string, std::string, std::less<>> values_;  // "section.key" -> validated raw text
  std::set<std::string, std::less<>> from_command_line_;    // "section.key" set by --set, --keys ...
  std::filesystem::path base_dir_ = ".";
  std::filesystem::path source_file_;
  std::string source_text_;
};

// Checks one value against its setting; throws std::invalid_argument with the reason.
void validate_value(const setting& s, std::string_view value);

// Settings that are each valid but do not fit together (checked once every override is applied);
// throws config_error naming both settings.
void check_combinations(const settings& s);

}  // namespace orp::config
