#pragma once
// `openrouter-proxy run`: assembles the proxy from settings and serves until SIGTERM/SIGINT.
#include <filesystem>

#include "config/settings.hpp"

namespace orp::app {

struct run_options {
  std::filesystem::path ready_file;  // written with the bound addresses once listening (tests)
};

// Returns the process exit code; start-up errors print one line and return 2.
int run(const config::settings& cfg, const run_options& opts);

// `ca init`: creates the CA if missing (force: a new one). Returns the exit code.
int ca_init(const config::settings& cfg, bool force);

}  // namespace orp::app
