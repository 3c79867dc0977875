#include "config/settings_table.hpp"

#include <array>

namespace orp::config {
namespace {

using vt = value_type;
constexpr double kGiB = 1024.0 * 1024 * 1024;

constexpr std::array kSettings{
    setting{"proxy", "listen", "127.0.0.1:8080", vt::endpoint, "HTTP CONNECT, SOCKS5 and plain HTTP on one port"},
    setting{"proxy", "intercept_hosts", "openrouter.ai", vt::host_list, "comma-separated; other hosts are tunnelled"},
    setting{"proxy", "tunnel", "all", vt::host_policy, "all | none | comma-separated host allow-list"},
    setting{"proxy", "clients", "", vt::text, "name:secret,...  empty = no authentication (loopback only)",
            0, 0, {}, true, true},
    setting{"proxy", "workers", "0", vt::integer, "threads; 0 = one per core", 0, 256},
    setting{"proxy", "max_connections", "10000", vt::integer, "open client connections at most (fewer when the open-file limit cannot hold them, 2 each)", 1, 1000000},
    setting{"proxy", "max_request_body", "32MiB", vt::size, "largest request body accepted (413 beyond)", 1, 4 * kGiB},
    setting{"proxy", "max_body_memory", "1GiB", vt::size,
            "request bodies held at once, all clients together (503 beyond); at least max_request_body", 1,
            1024 * kGiB},
    setting{"proxy", "header_timeout", "30", vt::seconds, "seconds to receive a request's headers (408 beyond)",
            0.1, 3600},
    setting{"proxy", "idle_timeout", "120", vt::seconds, "seconds an idle keep-alive client connection is kept",
            0.1, 86400},
    setting{"proxy", "tunnel_idle_timeout", "300", vt::seconds, "seconds of silence before a tunnel is closed",
            0.1, 86400},
    setting{"proxy", "drain_timeout", "10", vt::seconds,
            "seconds SIGTERM waits for in-flight requests (streams) before cutting them short", 0, 3600},

    setting{"upstream", "api_url", "https://openrouter.ai/api/v1", vt::url, "the OpenRouter API base URL"},
    setting{"upstream", "request_timeout", "120", vt::seconds,
            "seconds until response headers, all attempts together", 0.1, 86400},
    setting{"upstream", "connect_timeout", "10", vt::seconds, "seconds to connect and finish the TLS handshake",
            0.1, 600},
    setting{"upstream", "stream_idle_timeout", "300", vt::seconds,
            "seconds of silence allowed inside a streamed response", 0.1, 86400},
    setting{"upstream", "ca_file", "", vt::path, "extra trust anchors for upstream TLS (tests)", 0, 0, {}, true},
    setting{"upstream", "resolve", "", vt::text, "host:port=addr:port,...  like curl --resolve (tests, pinning)",
            0, 0, {}, true},
    setting{"upstream", "pool_idle_timeout", "60", vt::seconds,
            "seconds an idle upstream keep-alive connection is kept", 0.1, 3600},

    setting{"retry", "max_retries", "3", vt::integer, "retries after transient failures (5xx, network, timeout)",
            0, 100},
    setting{"retry", "retry_delay", "1.0", vt::seconds, "seconds, first back-off; doubles each retry, with jitter",
            0, 3600},
    setting{"retry", "max_retry_delay", "30", vt::seconds, "seconds, the longest single back-off; at least retry_delay", 0, 86400},

    setting{"keys", "file", "keys.csv", vt::path, "the key pool: key,label,weight per line"},
    setting{"keys", "strategy", "round_robin", vt::choice, "round_robin | least_used | random", 0, 0,
            "round_robin|least_used|random"},
    setting{"keys", "key_recovery_interval", "300", vt::seconds, "seconds between probes of disabled keys", 1,
            86400 * 7},
    setting{"keys", "state_file", "data/key_state.json", vt::path, "persisted key state (written atomically)", 0, 0,
            {}, true},

    setting{"tls", "ca_cert", "certs/ca.pem", vt::path, "the local CA certificate (created on first start)"},
    setting{"tls", "ca_key", "certs/ca.key", vt::path, "the local CA private key (mode 0600)"},

    setting{"log", "file", "proxy.log", vt::path, "log file; empty = console only", 0, 0, {}, true},
    setting{"log", "level", "info", vt::choice, "trace | debug | info | warn | error", 0, 0,
            "trace|debug|info|warn|error"},
    setting{"log", "format", "text", vt::choice, "text | json", 0, 0, "text|json"},
    setting{"log", "max_size", "10MiB", vt::size, "rotate the log file at this size", 1024, 4 * kGiB},
    setting{"log", "max_files", "5", vt::integer, "rotated log files kept", 1, 1000},

    setting{"admin", "listen", "127.0.0.1:9090", vt::endpoint, "admin endpoint; empty disables", 0, 0, {}, true},
    setting{"admin", "token", "", vt::text, "required when listen is not loopback", 0, 0, {}, true, true},

    setting{"state", "backend", "memory", vt::choice, "memory | redis", 0, 0, "memory|redis"},
    setting{"state", "redis_url", "redis://127.0.0.1:6379/0", vt::url, "redis://[:password@]host:port/db", 0, 0,
            {}, false, true},
};

}  // namespace

std::span<const setting> all_settings() { return kSettings; }

const setting* find_setting(std::string_view section, std::string_view key) {
  for (const auto& s : kSettings) {
    if (s.section == section && s.key == key) return &s;
  }
  return nullptr;
}

}  // namespace orp::config
