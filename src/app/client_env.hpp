#pragma once
// Setting clients up: the CA bundle they trust and the exports `openrouter-proxy env` prints.
#include <filesystem>

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

}  // namespace orp::app
