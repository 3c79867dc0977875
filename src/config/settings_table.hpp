#pragma once
// The one table of settings: it drives config.ini parsing, validation, defaults, --help text and
// docs/configuration.md. Add a setting here and everything else follows.
#include <span>
#include <string_view>

namespace orp::config {

enum class value_type {
  text,       // free text (may be empty)
  endpoint,   // host:port, port 0 allowed (bind a free port); empty where optional
  host_list,  // comma-separated host names
  host_policy,  // all | none | comma-separated host names
  integer,    // whole number within [min, max]
  seconds,    // duration in seconds, fractions allowed, within [min, max]
  size,       // bytes with optional unit: 512, 64KiB, 32MiB, 1GiB
  choice,     // one of `choices` (|-separated)
  url,        // http(s)://host[:port][/path]
  path,       // file path (may be empty where optional)
};

struct setting {
  std::string_view section;
  std::string_view key;
  std::string_view default_value;
  value_type type;
  std::string_view help;          // one line, shown in --help and as the comment in config.ini
  double min = 0;
  double max = 0;                 // integer/seconds/size bounds; 0,0 = unbounded
  std::string_view choices = {};  // for value_type::choice
  bool optional_empty = false;    // empty value allowed
  bool secret = false;            // holds a password or credentials: never repeated in an error
};

std::span<const setting> all_settings();

// Finds "section.key"; nullptr when unknown.
const setting* find_setting(std::string_view section, std::string_view key);

}  // namespace orp::config
