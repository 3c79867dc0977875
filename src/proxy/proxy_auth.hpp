#pragma once
// The proxy's own clients (`proxy.clients = name:secret,...`) and the checks of the credentials
// they present: Proxy-Authorization Basic (RFC 7617), SOCKS5 username/password (RFC 1929) and
// Authorization Bearer in base-URL mode. Only SHA-256 digests of the secrets are kept, and every
// check compares digests of equal length in constant time against every client, so neither a
// secret's length nor which client nearly matched shows in the timing. Nothing here prints a
// secret.
#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace orp::proxy {

class client_credentials {
 public:
  // No clients: authentication is off.
  client_credentials() = default;
  // "name:secret,name2:secret2"; entries are trimmed, empty entries skipped, the secret runs to
  // the end of the entry (it may hold ':'). A blank setting means no clients. Throws
  // std::invalid_argument naming the entry (by position and name, never the secret) when it has
  // no ':', an empty name or secret, whitespace or control characters, or a repeated name or secret.
  explicit client_credentials(std::string_view setting);

  // True when no clients are configured: callers then skip authentication. Every check_* below
  // returns nullopt in that case.
  bool empty() const noexcept { return clients_.empty(); }
  std::vector<std::string> names() const;

  // Proxy-Authorization value "Basic base64(name:secret)", scheme case-insensitive, strict base64.
  // Returns the client's name on a match.
  std::optional<std::string> check_basic(std::string_view proxy_authorization) const;
  // SOCKS5 RFC 1929 username and password.
  std::optional<std::string> check_pair(std::string_view name, std::string_view secret) const;
  // Authorization value "Bearer <secret>" (base-URL mode): any client's secret, returns its name.
  std::optional<std::string> check_bearer(std::string_view authorization) const;

 private:
  using digest = std::array<unsigned char, 32>;
  struct client {
    std::string name;
    digest name_digest;
    digest secret_digest;
  };
  std::optional<std::string> match(const digest* name, const digest& secret) const;

  std::vector<client> clients_;
};

// Strict RFC 4648 section 4 base64: the standard alphabet, length a multiple of 4, '=' only as
// the final one or two characters, no whitespace. nullopt on anything else.
std::optional<std::string> decode_base64(std::string_view text);

}  // namespace orp::proxy
