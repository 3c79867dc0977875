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

}  // namespace orp::app
