#pragma once
// Files the settings name, checked before a command starts: each problem is one line naming the
// setting and the path (config::config_error), instead of a surprise at first use or at shutdown.
#include <filesystem>

#include "config/settings.hpp"
#include "tls/openssl_ptr.hpp"

namespace orp::app {

// keys.file: must exist and be a regular file (a directory would read as an empty pool).
std::filesystem::path checked_keys_file(const config::settings& cfg);

// keys.state_file (when set): not a directory or other non-file, and its directory can be created
// and written, so that the state saved after the first key change and at shutdown is not lost.
void check_state_file(const config::settings& cfg);

// The files the settings name (and config.ini itself) are distinct files wherever one of a pair is
// written: keys.state_file = keys.csv would replace the keys with JSON, log.file = config.ini would
// append log lines to it. Paths are compared resolved (symlinks, "..", relative to different
// directories) and, when both exist, by inode (a hard link).
void check_distinct_files(const config::settings& cfg);

// The upstream TLS client context, with upstream.ca_file named when that file is missing.
tls::ssl_ctx_ptr upstream_client_context(const config::settings& cfg);

}  // namespace orp::app
