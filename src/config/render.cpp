#include "config/render.hpp"

#include "config/settings_table.hpp"

namespace orp::config {

std::string render_default_ini() {
  std::string out =
      "; openrouter-proxy settings. Every key is shown with its default; `--set SECTION.KEY=VALUE`\n"
      "; overrides any of them. Durations are seconds (fractions allowed), sizes take units (32MiB).\n";
  std::string_view section;
  for (const auto& s : all_settings()) {
    if (s.section != section) {
      section = s.section;
      out += "\n[" + std::string(section) + "]\n";
    }
    out += "; " + std::string(s.help) + "\n";
    out += std::string(s.key) + " =";
    if (!s.default_value.empty()) {
      out += ' ';
      out += s.default_value;
    }
    out += "\n";
  }
  return out;
}

namespace {

// A table cell: a bare | would end the cell (and shift the rest of the row into new columns).
std::string markdown_cell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

std::string render_markdown_reference() {
  std::string out =
      "# Configuration reference\n\n"
      "Generated from the settings table (`src/config/settings_table.cpp`) by\n"
      "`openrouter-proxy config reference`; a test keeps this file and `config.ini` in step with it.\n\n"
      "| setting | default | meaning |\n| --- | --- | --- |\n";
  for (const auto& s : all_settings()) {
    out += "| `" + std::string(s.section) + "." + std::string(s.key) + "` | `" + markdown_cell(s.default_value) +
           "` | " + markdown_cell(s.help) + " |\n";
  }
  return out;
}

std::string render_help_footer() {
  std::string out = "Settings (config.ini sections, or --set SECTION.KEY=VALUE), with defaults:\n";
  for (const auto& s : all_settings()) {
    std::string name = std::string(s.section) + "." + std::string(s.key);
    std::string line = "  " + name + " = " + std::string(s.default_value);
    if (line.size() < 46) line.resize(46, ' ');
    else line += "  ";
    out += line + std::string(s.help) + "\n";
  }
  return out;
}

}  // namespace orp::config
