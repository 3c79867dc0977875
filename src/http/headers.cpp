#include "http/headers.hpp"

#include <algorithm>
#include <array>

namespace orp::http {

namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls f(element) for each non-empty element of a comma-separated list.
template <class F>
void for_each_token(std::string_view list, F&& f) {
  while (!list.empty()) {
    auto comma = list.find(',');
    auto item = trim_ows(list.substr(0, comma));
    if (!item.empty()) f(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

// Orders a lower-cased name against any name as if both were lower-cased.
bool lower_less(std::string_view lowered, std::string_view name) {
  return std::lexicographical_compare(lowered.begin(), lowered.end(), name.begin(), name.end(),
                                      [](char a, char b) { return a < lower(b); });
}
bool less_than_lower(std::string_view name, std::string_view lowered) {
  return std::lexicographical_compare(name.begin(), name.end(), lowered.begin(), lowered.end(),
                                      [](char a, char b) { return lower(a) < b; });
}
}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

std::optional<std::string_view> find_header(const header_list& headers, std::string_view name) {
  for (const auto& h : headers) {
    if (iequals(h.name, name)) return std::string_view(h.value);
  }
  return std::nullopt;
}

connection_options::connection_options(const header_list& headers) {
  for (const auto& h : headers) {
    if (!iequals(h.name, "Connection")) continue;
    for_each_token(h.value, [&](std::string_view item) {
      std::string name(item);
      std::transform(name.begin(), name.end(), name.begin(), lower);
      names_.push_back(std::move(name));
    });
  }
  if (names_.empty()) return;
  std::sort(names_.begin(), names_.end());
  names_.erase(std::unique(names_.begin(), names_.end()), names_.end());
}

bool connection_options::lists(std::string_view name) const {
  if (names_.empty()) return false;
  auto it = std::lower_bound(names_.begin(), names_.end(), name,
                             [](const std::string& lowered, std::string_view n) { return lower_less(lowered, n); });
  return it != names_.end() && !less_than_lower(name, *it);
}

bool is_hop_by_hop(std::string_view name) {
  static constexpr std::array<std::string_view, 9> names = {
      "Connection", "Keep-Alive", "Proxy-Authorization", "Proxy-Authenticate", "Proxy-Connection",
      "TE",         "Trailer",    "Transfer-Encoding",   "Upgrade"};
  return std::any_of(names.begin(), names.end(), [&](std::string_view n) { return iequals(n, name); });
}

void remove_connection_listed(header_list& headers) {
  connection_options listed(headers);
  if (listed.empty()) return;
  std::erase_if(headers, [&](const header_field& h) { return !iequals(h.name, "Connection") && listed.lists(h.name); });
}

}  // namespace orp::http
