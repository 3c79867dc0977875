#pragma once
// Where intercepted requests go: the host, port and path prefix of upstream.api_url, plus
// address overrides in the style of curl --resolve.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace orp::upstream {

struct target {
  std::string host;
  std::uint16_t port = 443;
  std::string path_prefix;  // "/api/v1", no trailing slash

  // "host" or "host:port" as sent in the Host header.
  std::string host_header() const;
};

// Throws std::invalid_argument for anything but an https URL with a host.
target parse_api_url(std::string_view url);

// "host:port=addr:port,..." -> {"host:port": {addr, port}}; throws std::invalid_argument.
struct address {
  std::string addr;
  std::uint16_t port = 0;
};
using resolve_overrides = std::map<std::string, address, std::less<>>;
resolve_overrides parse_resolve_overrides(std::string_view text);

// Maps a client's request target onto the upstream: "/api/v1/chat/completions" stays as it is,
// "/chat/completions" (a client whose base URL is the proxy root) gets the prefix in front.
std::string map_request_target(const target& t, std::string_view client_target);

}  // namespace orp::upstream
