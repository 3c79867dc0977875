#pragma once
// Setting clients up: the CA bundle they trust and the exports `openrouter-proxy env` prints.
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace orp::app {

// The system's CA bundle: OpenSSL's default certificate file, else the usual Debian, Fedora and
// macOS/BSD paths. Empty when none exists.
std::filesystem::path system_ca_bundle();

// Writes `bundle` atomically as the system CA bundle followed by the certificate in `ca_cert`.
// Clients that take one CA file (curl, Python, git, pip, npm) replace their roots with it, so it
// must hold the system roots too or tunnelled hosts would stop verifying.
// Throws std::runtime_error (one line, naming the file) when there is no system bundle, ca_cert is
// not a certificate, or the bundle cannot be written.
void write_ca_bundle(const std::filesystem::path& ca_cert, const std::filesystem::path& bundle);

struct no_proxy_list {
  std::string value;                  // comma-separated
  std::vector<std::string> left_out;  // the user's entries that would send an intercepted host around the proxy
};

// NO_PROXY for `env`: ours (loopback) first, then the entries of the user's NO_PROXY and no_proxy
// (either may be empty) not already there, compared without case. An entry that matches an
// intercepted host (`*`, the host, or a domain it is in: `openrouter.ai`, `.ai`) is left out: it
// would take that host around the proxy, and its requests would reach OpenRouter with the
// client's own key.
no_proxy_list merged_no_proxy(std::string_view user_upper, std::string_view user_lower,
                              const std::vector<std::string>& intercept_hosts);

}  // namespace orp::app
