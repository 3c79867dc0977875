#include "upstream/target.hpp"

#include <boost/url/parse.hpp>

#include <charconv>
#include <stdexcept>

#include "config/settings.hpp"

namespace orp::upstream {

std::string target::host_header() const {
  return port == 443 ? host : host + ":" + std::to_string(port);
}

target parse_api_url(std::string_view url) {
  auto u = boost::urls::parse_absolute_uri(url);
  if (!u) throw std::invalid_argument("not a URL");
  if (u->scheme() != "https") throw std::invalid_argument("must be an https:// URL");
  target t;
  t.host = std::string(u->host_name().empty() ? u->host_address() : u->host_name());
  if (t.host.empty()) throw std::invalid_argument("has no host");
  if (u->has_port()) t.port = u->port_number();
  t.path_prefix = std::string(u->encoded_path());
  while (!t.path_prefix.empty() && t.path_prefix.back() == '/') t.path_prefix.pop_back();
  return t;
}

resolve_overrides parse_resolve_overrides(std::string_view text) {
  resolve_overrides out;
  for (const auto& item : config::split_list(text)) {
    auto eq = item.find('=');
    if (eq == std::string::npos) throw std::invalid_argument("expected host:port=addr:port, got '" + item + "'");
    auto from = config::parse_endpoint(item.substr(0, eq));
    auto to = config::parse_endpoint(item.substr(eq + 1));
    out[from.host + ":" + std::to_string(from.port)] = address{to.host, to.port};
  }
  return out;
}

std::string map_request_target(const target& t, std::string_view client_target) {
  if (t.path_prefix.empty() || client_target.starts_with(t.path_prefix + "/") || client_target == t.path_prefix)
    return std::string(client_target);
  if (client_target.starts_with("/api/")) return std::string(client_target);
  return t.path_prefix + std::string(client_target);
}

}  // namespace orp::upstream
