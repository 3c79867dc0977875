// `ca init` and `ca path`.
#include <chrono>
#include <filesystem>
#include <iostream>

#include "app/commands.hpp"
#include "app/file_checks.hpp"
#include "tls/ca.hpp"

namespace orp::app {

int ca_init(const config::settings& cfg, bool force) {
  try {
    check_distinct_files(cfg);
    auto cert = cfg.path("tls.ca_cert"), key = cfg.path("tls.ca_key");
    std::error_code ec;
    const bool replacing = force && std::filesystem::exists(cert, ec);
    auto outcome =
        tls::ensure_ca(cert, key, cfg.list("proxy.intercept_hosts"), force, std::chrono::system_clock::now());
    for (const auto& warning : outcome.warnings) std::cerr << "openrouter-proxy: warning: " << warning << "\n";
    std::cout << (outcome.status == tls::ca_status::created ? "created " : "exists ") << cert.string() << "\n";
    if (replacing)
      std::cerr << "openrouter-proxy: the old CA is gone: restart a running proxy (it still signs with the old "
                   "one), and make clients trust the new one (scripts/install-ca.sh, or `openrouter-proxy env` "
                   "again; runners need the new " << cert.filename().string() << ")\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "openrouter-proxy: " << e.what() << "\n";
    return 2;
  }
}

// Absolute, so that the line can be pasted into a client's settings from any directory.
int ca_path(const config::settings& cfg) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path cert = fs::absolute(cfg.path("tls.ca_cert"), ec).lexically_normal();
  std::cout << cert.string() << "\n";
  if (fs::exists(cert, ec)) return 0;
  std::cerr << "openrouter-proxy: not created yet: run openrouter-proxy ca init\n";
  return 1;
}

}  // namespace orp::app
