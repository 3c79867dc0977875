#pragma once
// Header fields as parsed, plus the lookups a proxy needs (RFC 9110 5, 7.6.1).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace orp::http {

struct header_field {
  std::string name;
  std::string value;
  friend bool operator==(const header_field&, const header_field&) = default;
};
using header_list = std::vector<header_field>;

bool iequals(std::string_view a, std::string_view b);

// Case-insensitive; the first match.
std::optional<std::string_view> find_header(const header_list& headers, std::string_view name);

// The field names a message's Connection headers list (RFC 9110 7.6.1), from all of them, each
// once (case-insensitive, OWS trimmed). Built once per message: asking about each of a message's
// fields is then a binary search, so a head with thousands of fields and thousands of listed
// names costs milliseconds, not the seconds a walk of the list per field took.
class connection_options {
 public:
  explicit connection_options(const header_list& headers);
  bool lists(std::string_view name) const;
  bool empty() const { return names_.empty(); }

 private:
  std::vector<std::string> names_;  // lower-cased, sorted, unique
};

// Connection, Keep-Alive, Proxy-Authorization, Proxy-Authenticate, Proxy-Connection, TE, Trailer,
// Transfer-Encoding, Upgrade.
bool is_hop_by_hop(std::string_view name);

// Drops every field named in a Connection header (RFC 9110 7.6.1); Connection itself stays.
void remove_connection_listed(header_list& headers);

}  // namespace orp::http
