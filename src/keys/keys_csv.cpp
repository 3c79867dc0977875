#include "keys/keys_csv.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <optional>

#include "util/ascii.hpp"
#include "util/error_text.hpp"
#include "util/read_file.hpp"
#include "util/utf8.hpp"

namespace orp::keys {
namespace {

constexpr std::string_view whitespace = " \t\r\n\v\f";

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(whitespace);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(whitespace) - first + 1);
}


class line_error_factory {
 public:
  explicit line_error_factory(std::string_view file_name) : file_(file_name) {}
  // Every message passes mask_secrets: a key in the wrong column must not leak into a log.
  keys_file_error at(int line, std::string_view message) const {
    return keys_file_error(file_ + ":" + std::to_string(line) + ": " + mask_secrets(message));
  }

 private:
  std::string file_;
};

// Fields split on commas; a field may be double-quoted ("a,b" and "" as an escaped quote)
// so that labels can hold commas.
std::optional<std::vector<std::string>> split_fields(std::string_view line) {
  std::vector<std::string> fields;
  std::size_t pos = 0;
  while (true) {
    while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
    std::string field;
    if (pos < line.size() && line[pos] == '"') {
      ++pos;
      while (true) {
        if (pos >= line.size()) return std::nullopt;  // unterminated quote
        if (line[pos] == '"') {
          if (pos + 1 < line.size() && line[pos + 1] == '"') {
            field += '"';
            pos += 2;
            continue;
          }
          ++pos;
          break;
        }
        field += line[pos++];
      }
      while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
      if (pos < line.size() && line[pos] != ',') return std::nullopt;  // text after the quote
    } else {
      const auto comma = std::min(line.find(',', pos), line.size());
      field = std::string(trim(line.substr(pos, comma - pos)));
      pos = comma;
    }
    fields.push_back(std::move(field));
    if (pos >= line.size()) return fields;
    ++pos;  // the comma
  }
}

// A field quoted back in an error: a column swapped with the key column puts the key where a
// weight or a column name was expected.
std::string shown(std::string_view field) { return util::quoted_unless_secret(field, 16); }

enum class column { key, label, weight };

std::string_view column_name(column c) {
  switch (c) {
    case column::key: return "key";
    case column::label: return "label";
    case column::weight: return "weight";
  }
  return "?";
}

bool valid_key_char(char c) { return c > 0x20 && c < 0x7f; }

// What is wrong with a key's characters, or empty. The key itself is never part of the answer:
// a key broken by a separator would show (parts of) the secret even masked.
std::string key_characters_problem(std::string_view secret) {
  constexpr std::string_view kCommas = ": separate the fields with commas (key,label,weight)";
  if (secret.find(';') != std::string_view::npos) return "the key contains ';'" + std::string(kCommas);
  if (secret.find('\t') != std::string_view::npos) return "the key contains a tab" + std::string(kCommas);
  if (secret.find(' ') != std::string_view::npos) return "the key contains a space" + std::string(kCommas);
  if (secret.find_first_of("\"'") != std::string_view::npos)
    return "the key contains a quote (only a whole field may be quoted, \"like this\")";
  if (!std::all_of(secret.begin(), secret.end(), valid_key_char))
    return "the key contains whitespace, a non-printable or a non-ASCII character";
  return {};
}

// A label is shown everywhere: X-Proxy-Key on every answer, logs, /keys (JSON), /metrics
// (Prometheus, which wants UTF-8). What is wrong with it there, or empty.
std::string label_problem(std::string_view label) {
  constexpr std::size_t kLongest = 128;  // characters; a header line stays well within curl's limits
  if (!util::is_valid_utf8(label)) return "the label is not valid UTF-8 (save the file as UTF-8)";
  if (std::any_of(label.begin(), label.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }))
    return "the label holds a control character (such as NUL, a tab or ESC)";
  if (const std::size_t length = util::utf8_length(label); length > kLongest)
    return "the label is " + std::to_string(length) + " characters long; at most " + std::to_string(kLongest);
  return {};
}

// A header names a "key" column somewhere; no real key is that word.
bool names_key_column(const std::vector<std::string>& fields) {
  return std::any_of(fields.begin(), fields.end(), [](const std::string& f) { return util::lowercase(f) == "key"; });
}

// After the first line, a header is told from a key labelled "key" by holding column names only.
bool looks_like_header(const std::vector<std::string>& fields) {
  return names_key_column(fields) && std::all_of(fields.begin(), fields.end(), [](const std::string& f) {
           const std::string name = util::lowercase(f);
           return name == "key" || name == "label" || name == "weight";
         });
}

// OpenRouter keys start "sk-or-" (any case, as a spreadsheet may have changed it). In the label
// column such a key would be shown in full wherever the label is: X-Proxy-Key, logs, /keys, /metrics.
bool holds_openrouter_key(std::string_view field) {
  return util::lowercase(field).find("sk-or-") != std::string::npos;
}

// Refuses a line that has a key outside the key column (a headerless `label,key` line, a shifted
// column); names the column, shows the key only masked, and says whether key and label look swapped.
void refuse_key_outside_key_column(const line_error_factory& error, int line_number,
                                   const std::vector<std::string>& fields, const std::vector<column>& columns) {
  const auto key_column = std::find(columns.begin(), columns.end(), column::key) - columns.begin();
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (columns[i] == column::key || !holds_openrouter_key(fields[i])) continue;
    const bool key_looks_wrong = static_cast<std::size_t>(key_column) >= fields.size() ||
                                 !holds_openrouter_key(fields[key_column]);
    throw error.at(line_number, "the " + std::string(column_name(columns[i])) +
                                    " column holds what looks like an OpenRouter key (" + mask_secret(fields[i]) +
                                    "); the columns are key,label,weight" +
                                    (key_looks_wrong ? " (are key and " + std::string(column_name(columns[i])) +
                                                           " swapped?)"
                                                     : std::string()));
  }
}

}  // namespace

std::vector<key_record> parse_keys_csv(std::string_view text, std::string_view file_name) {
  const line_error_factory error(file_name);
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // UTF-8 BOM from spreadsheet exports

  std::vector<key_record> records;
  std::map<std::string, int> first_line_of;  // fingerprint -> line
  std::vector<column> columns{column::key, column::label, column::weight};
  bool first_content_line = true;
  int line_number = 0;

  while (!text.empty()) {
    ++line_number;
    const auto newline = text.find('\n');
    std::string_view raw = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    const std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#') continue;

    auto fields = split_fields(line);
    if (!fields) throw error.at(line_number, "malformed quoting");

    if (!first_content_line && looks_like_header(*fields)) {
      // A second header: files appended to each other, or a header pasted again.
      throw error.at(line_number, "this line looks like a header; only the first line (after comments) may be one");
    }
    if (first_content_line) {
      first_content_line = false;
      if (names_key_column(*fields)) {
        columns.clear();
        for (const auto& name : *fields) {
          const std::string lname = util::lowercase(name);
          column c{};
          if (lname == "key") c = column::key;
          else if (lname == "label") c = column::label;
          else if (lname == "weight") c = column::weight;
          else throw error.at(line_number, "unknown column " + shown(name) + " (expected key,label,weight)");
          if (std::find(columns.begin(), columns.end(), c) != columns.end()) {
            throw error.at(line_number, "column '" + lname + "' appears twice in the header");
          }
          columns.push_back(c);
        }
        continue;
      }
    }

    if (fields->size() > columns.size()) {
      throw error.at(line_number, "too many fields: expected at most " + std::to_string(columns.size()) +
                                      " (key,label,weight), got " + std::to_string(fields->size()));
    }
    refuse_key_outside_key_column(error, line_number, *fields, columns);
    std::string secret;
    std::string label;
    double weight = 1.0;
    for (std::size_t i = 0; i < fields->size(); ++i) {
      const std::string& field = (*fields)[i];
      switch (columns[i]) {
        case column::key:
          secret = field;
          break;
        case column::label:
          label = field;
          break;
        case column::weight: {
          if (field.empty()) break;
          const char* end = field.data() + field.size();
          auto [ptr, ec] = std::from_chars(field.data(), end, weight);
          if (ec != std::errc{} || ptr != end || !std::isfinite(weight) || weight <= 0) {
            throw error.at(line_number, "weight " + shown(field) + " is not a positive number");
          }
          if (weight > max_key_weight) {
            throw error.at(line_number, "weight " + shown(field) + " is over the largest weight, 1000000 (weights are "
                                        "relative: 3 and 1 share the requests 3:1)");
          }
          break;
        }
      }
    }
    if (secret.empty()) throw error.at(line_number, "missing key");
    if (auto problem = key_characters_problem(secret); !problem.empty()) throw error.at(line_number, problem);
    if (auto problem = label_problem(label); !problem.empty()) throw error.at(line_number, problem);
    api_key key(std::move(secret), label);
    if (auto [it, inserted] = first_line_of.emplace(key.fingerprint(), line_number); !inserted) {
      throw error.at(line_number, "duplicate key " + mask_secret(key.reveal()) + " (first on line " +
                                      std::to_string(it->second) + ")");
    }
    records.push_back(key_record{std::move(key), std::move(label), weight, line_number});
  }
  // A label is printed everywhere: one that holds any key of the file (a key of another form than
  // sk-or-, which the column check cannot recognise) would publish that key.
  for (const auto& labelled : records) {
    if (labelled.label.empty()) continue;
    for (const auto& r : records) {
      if (labelled.label.find(r.key.reveal()) == std::string::npos) continue;
      throw error.at(labelled.line, "the label holds the key of line " + std::to_string(r.line) + " (" +
                                        mask_secret(r.key.reveal()) + "); the columns are key,label,weight");
    }
  }
  return records;
}

std::vector<std::string> repeated_label_warnings(const std::vector<key_record>& records, std::string_view file_name) {
  std::map<std::string, std::vector<int>> lines_of;  // display -> lines, sorted for a stable order
  for (const auto& r : records) lines_of[r.key.display()].push_back(r.line);
  std::vector<std::string> warnings;
  for (const auto& [display, lines] : lines_of) {
    if (lines.size() < 2) continue;
    std::string list;
    for (int line : lines) list += (list.empty() ? "" : ", ") + std::to_string(line);
    warnings.push_back(std::string(file_name) + ": lines " + list + " share the label '" + display +
                       "': logs and X-Proxy-Key cannot tell these keys apart (/keys and /metrics do, by id)");
  }
  return warnings;
}

std::optional<std::string> unusual_keys_warning(const std::vector<key_record>& records, std::string_view file_name) {
  std::string lines;
  std::size_t count = 0;
  for (const auto& r : records) {
    if (r.key.reveal().starts_with("sk-or-")) continue;
    lines += (lines.empty() ? "" : ", ") + std::to_string(r.line);
    ++count;
  }
  if (count == 0) return std::nullopt;
  return std::string(file_name) + ": the key" + (count == 1 ? " on line " : "s on lines ") + lines +
         (count == 1 ? " does" : " do") +
         " not look like an OpenRouter key (those start with sk-or-); used as written, but check for a shifted "
         "column or a key from another service";
}

std::vector<key_record> read_keys_csv(const std::filesystem::path& file) {
  // A file of keys is small; 64 MiB holds a million of them.
  constexpr std::size_t kLargest = 64u << 20;
  std::string content;
  try {
    content = util::read_regular_file(file, kLargest);
  } catch (const util::read_error& e) {
    throw keys_file_error(e.what());
  }
  return parse_keys_csv(content, file.string());
}

}  // namespace orp::keys
