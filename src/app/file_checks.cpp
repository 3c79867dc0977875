#include "app/file_checks.hpp"

#include "tls/contexts.hpp"
#include "util/atomic_file.hpp"

namespace orp::app {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void refuse(std::string_view setting, const config::settings& cfg, const std::string& why) {
  throw config::config_error(std::string(setting) + " = " + cfg.text(setting) + ": " + why);
}

// A file the settings name; `written` when some command creates or rewrites it.
struct named_file {
  std::string described;  // "keys.file = keys.csv", or what the file is
  std::string setting;    // the setting to change, empty for config.ini itself
  fs::path path;
  bool written;
};

std::vector<named_file> files_named(const config::settings& cfg) {
  std::vector<named_file> files;
  if (!cfg.source_file().empty())
    files.push_back({"the configuration file " + cfg.source_file().string(), "", cfg.source_file(), false});
  auto add = [&](std::string_view setting, bool written) {
    if (auto file = cfg.path(setting); !file.empty())
      files.push_back({std::string(setting) + " = " + cfg.text(setting), std::string(setting), file, written});
  };
  add("keys.file", false);
  add("upstream.ca_file", false);
  add("keys.state_file", true);
  add("log.file", true);
  add("tls.ca_cert", true);
  add("tls.ca_key", true);
  // run and env write the clients' bundle next to the CA certificate.
  if (auto cert = cfg.path("tls.ca_cert"); !cert.empty())
    files.push_back({"the clients' CA bundle (written next to tls.ca_cert)", "tls.ca_cert",
                     cert.parent_path() / "bundle.pem", true});
  return files;
}

fs::path resolved(const fs::path& file) {
  std::error_code ec;
  const fs::path absolute = fs::absolute(file, ec).lexically_normal();
  fs::path canonical = fs::weakly_canonical(absolute, ec);
  return ec ? absolute : canonical;
}

bool same_file(const fs::path& a, const fs::path& b) {
  if (resolved(a) == resolved(b)) return true;
  std::error_code ec;
  return fs::equivalent(a, b, ec);  // a hard link; false (ec set) unless both exist
}

[[noreturn]] void refuse_shared(const named_file& a, const named_file& b) {
  const std::string& to_change = b.written && !b.setting.empty() ? b.setting : a.setting;
  throw config::config_error(b.described + " and " + a.described + " name the same file (" +
                             resolved(b.path).string() + "): writing one would destroy the other; give " +
                             to_change + " a file of its own");
}

}  // namespace

void check_distinct_files(const config::settings& cfg) {
  const auto files = files_named(cfg);
  for (std::size_t i = 0; i < files.size(); ++i)
    for (std::size_t j = i + 1; j < files.size(); ++j)
      if ((files[i].written || files[j].written) && same_file(files[i].path, files[j].path))
        refuse_shared(files[i], files[j]);
}

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
