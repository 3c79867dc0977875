#pragma once
// The commands besides `run`: each returns the process exit code.
#include <string>

#include "config/settings.hpp"

namespace orp::app {

// `env [--shell sh|fish|powershell]`: the exports a client needs (proxy URL and CA trust for
// curl, Python, Node, git, npm). Writes certs/bundle.pem (system roots + the local CA) first.
int print_env(const config::settings& cfg, const std::string& shell);

// `keys check`: probes every key in keys.csv with GET {api_url}/key and prints a table.
int keys_check(const config::settings& cfg);

// `keys status`: the running proxy's key table, from its admin endpoint.
int keys_status(const config::settings& cfg);

}  // namespace orp::app
