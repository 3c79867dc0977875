#include "app/file_checks.hpp"

#include "tls/contexts.hpp"
#include "util/atomic_file.hpp"

namespace orp::app {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void refuse(std::string_view setting, const config::settings& cfg, const std::string& why) {
  throw config::config_error(std::string(setting) + " = " + cfg.text(setting) + ": " + why);
}

}  // namespace

fs::path checked_keys_file(const config::settings& cfg) {
  const fs::path file = cfg.path("keys.file");
  std::error_code ec;
  const auto status = fs::status(file, ec);
  if (!fs::exists(status)) throw config::config_error(file.string() + ": keys file not found (set keys.file)");
  if (fs::is_directory(status)) refuse("keys.file", cfg, "is a directory, not a keys file");
  if (!fs::is_regular_file(status)) refuse("keys.file", cfg, "is not a regular file");
  return file;
}

void check_state_file(const config::settings& cfg) {
  const fs::path file = cfg.path("keys.state_file");
  if (file.empty()) return;
  std::error_code ec;
  const auto status = fs::status(file, ec);
  if (fs::is_directory(status))
    refuse("keys.state_file", cfg, "is a directory; name a file, e.g. " + (file / "key_state.json").string());
  if (fs::exists(status) && !fs::is_regular_file(status)) refuse("keys.state_file", cfg, "is not a regular file");
  try {
    util::check_atomic_write(file);
  } catch (const util::file_error& e) {
    refuse("keys.state_file", cfg, std::string("key state could not be saved: ") + e.what());
  }
}

tls::ssl_ctx_ptr upstream_client_context(const config::settings& cfg) {
  const fs::path ca_file = cfg.path("upstream.ca_file");
  std::error_code ec;
  if (!ca_file.empty() && !fs::is_regular_file(ca_file, ec))
    refuse("upstream.ca_file", cfg, fs::exists(ca_file, ec) ? "is not a regular file" : "file not found");
  return tls::make_client_context(ca_file);
}

}  // namespace orp::app
