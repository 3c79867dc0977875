#pragma once
// The commands besides `run`: each returns the process exit code.
#include <string>

#include "config/settings.hpp"

namespace orp::app {

// `ca init [--force]`: creates the CA if missing (force: a new one).
int ca_init(const config::settings& cfg, bool force);

// `ca path`: the CA certificate's absolute path; exit code 1 (and a note) while it does not exist.
int ca_path(const config::settings& cfg);

// `env [--shell sh|bash|zsh|fish|powershell]`: the exports a client needs (proxy URL and CA trust
// for curl, Python, Node, git, npm); bash and zsh get sh's. Writes certs/bundle.pem (system roots
// + the local CA) first.
int print_env(const config::settings& cfg, const std::string& shell);

// `keys check`: probes every key in keys.csv with GET {api_url}/key and prints a table.
// Exit code 0: every key usable; kKeysCheckUnusable: a key is not (invalid, no credit, rate
// limited, ...) or keys.csv holds none; 2: bad settings or keys.csv; kKeysCheckUnreached: no key
// was found unusable, but the upstream was not reached (or answered 5xx) for some.
constexpr int kKeysCheckUnusable = 1;
constexpr int kKeysCheckUnreached = 3;
constexpr const char* kKeysCheckExitCodes =
    "Exit codes: 0 every key usable; 1 a key is not (or keys.csv holds none); 2 bad settings or keys.csv; "
    "3 no key found unusable, but the upstream was not reached (or answered 5xx) for some.";
int keys_check(const config::settings& cfg);

// `keys status`: the running proxy's key table, from its admin endpoint.
int keys_status(const config::settings& cfg);

}  // namespace orp::app
