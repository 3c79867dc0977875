#include "app/client_env.hpp"

#include "app/file_checks.hpp"
#include "util/atomic_file.hpp"

#include <openssl/pem.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "app/commands.hpp"
#include "tls/ca.hpp"
#include "tls/openssl_ptr.hpp"
#include "util/ascii.hpp"

namespace orp::app {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kPemBegin = "-----BEGIN CERTIFICATE-----";

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error(file.string() + ": cannot read");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw std::runtime_error(file.string() + ": cannot read");
  return std::move(text).str();
}

// The CA certificate re-encoded by OpenSSL: proves the file is one and drops anything around it.
std::string certificate_pem(const fs::path& file) {
  const std::string text = read_file(file);
  tls::bio_ptr in(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  tls::x509_ptr cert(in ? PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) throw std::runtime_error(file.string() + ": not a PEM certificate: " + tls::openssl_error_string());
  tls::bio_ptr out(BIO_new(BIO_s_mem()));
  if (!out || PEM_write_bio_X509(out.get(), cert.get()) != 1)
    throw std::runtime_error(file.string() + ": cannot encode: " + tls::openssl_error_string());
  char* data = nullptr;
  const long size = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}


// ---- the exports --------------------------------------------------------------------------------

struct line {
  std::string name;   // empty: a comment
  std::string value;  // the variable's value, or the comment's text
};

line comment(std::string text) { return {"", std::move(text)}; }
line variable(std::string name, std::string value) { return {std::move(name), std::move(value)}; }

// RFC 3986 userinfo: everything but the unreserved characters is percent-encoded, so a secret
// holding ':' '@' or '/' still parses as one.
std::string percent_encode(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                            c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
  return out;
}

// Where a local client reaches the proxy: a wildcard listen address is reached over loopback.
std::string client_authority(const config::endpoint& listen) {
  std::string host = listen.host;
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return host + ":" + std::to_string(listen.port);
}

fs::path absolute_path(const fs::path& p) { return fs::absolute(p).lexically_normal(); }

// NO_PROXY's usual readings (curl, Python, Go, undici): `*` is every host; `d`, `.d` and `*.d`
// are d and the names below it; `d:port` (Go, undici) is d on that port, taken as d.
bool bypasses(std::string_view entry, std::string_view host) {
  const std::string e = util::lowercase(entry), h = util::lowercase(host);
  if (e == "*") return true;
  std::string_view domain = e;
  if (const auto colon = domain.rfind(':'); colon != std::string_view::npos && domain.find(':') == colon &&
                                            colon + 1 < domain.size() &&
                                            domain.find_first_not_of("0123456789", colon + 1) == std::string_view::npos)
    domain = domain.substr(0, colon);  // one colon and digits after it: a port (an IPv6 address has several)
  if (domain.starts_with("*.")) domain.remove_prefix(1);
  if (domain.starts_with('.')) domain.remove_prefix(1);
  return h == domain || (h.size() > domain.size() && h.ends_with(domain) && h[h.size() - domain.size() - 1] == '.');
}

const char* env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::vector<line> client_exports(const config::settings& cfg, const fs::path& ca_cert, const fs::path& bundle) {
  const auto listen = cfg.address("proxy.listen");
  if (listen.port == 0)
    throw std::runtime_error("proxy.listen = " + cfg.text("proxy.listen") +
                             ": a client needs a fixed port (set proxy.listen or pass --listen HOST:PORT)");
  const std::string authority = client_authority(listen);

  std::vector<line> out;
  out.push_back(comment("openrouter-proxy: proxy and CA trust for clients"));

  std::string credentials;
  const auto clients = cfg.list("proxy.clients");
  if (!clients.empty()) {
    const auto& first = clients.front();
    const auto colon = first.find(':');
    if (colon == std::string::npos || colon == 0)
      throw std::runtime_error("proxy.clients: expected name:secret, got an entry without one");
    const std::string name = first.substr(0, colon);
    credentials = percent_encode(name) + ":" + percent_encode(first.substr(colon + 1)) + "@";
    out.push_back(comment("the proxy URL carries the credentials of client '" + name +
                          "', the first in proxy.clients"));
    out.push_back(comment("base-URL mode (http://" + authority + "/api/v1) takes a client's secret alone as the key:"));
    out.push_back(comment("  Authorization: Bearer <secret> (not name:secret)"));
  }
  const std::string http_url = "http://" + credentials + authority;
  const std::string socks_url = "socks5h://" + credentials + authority;

  std::string intercepted;
  for (const auto& host : cfg.list("proxy.intercept_hosts")) intercepted += (intercepted.empty() ? "" : ", ") + host;
  out.push_back(comment("HTTP CONNECT for https:// URLs; intercepted: " + (intercepted.empty() ? "none" : intercepted) +
                        "; other hosts are tunnelled"));
  for (const char* name : {"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"})
    out.push_back(variable(name, http_url));
  const auto no_proxy = merged_no_proxy(env_or_empty("NO_PROXY"), env_or_empty("no_proxy"),
                                        cfg.list("proxy.intercept_hosts"));
  if (!no_proxy.left_out.empty()) {
    std::string dropped;
    for (const auto& e : no_proxy.left_out) dropped += (dropped.empty() ? "" : ",") + e;
    out.push_back(comment("left out of your NO_PROXY (they would take intercepted hosts around the proxy): " + dropped));
  }
  out.push_back(variable("NO_PROXY", no_proxy.value));
  out.push_back(variable("no_proxy", no_proxy.value));
  // httpx (and so the openai Python SDK) refuses a socks5h:// ALL_PROXY at client construction
  // ("Unknown scheme", or an ImportError without socksio) even for https URLs that HTTPS_PROXY
  // already covers; exporting it would break them, so it is offered, not exported.
  out.push_back(comment("the same port speaks SOCKS5 too, for clients that only take ALL_PROXY (not exported:"));
  out.push_back(comment("httpx and the openai Python SDK refuse a socks5h:// ALL_PROXY):"));
  out.push_back(comment("  ALL_PROXY=" + socks_url + "  all_proxy=" + socks_url));

  const std::string bundle_text = absolute_path(bundle).string();
  out.push_back(comment("CA trust: " + bundle_text + " = the system roots + the local CA"));
  out.push_back(comment("curl, OpenSSL, Python requests/httpx/openai SDK, pip, git, npm:"));
  for (const char* name :
       {"CURL_CA_BUNDLE", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT", "GIT_SSL_CAINFO", "NPM_CONFIG_CAFILE"})
    out.push_back(variable(name, bundle_text));
  out.push_back(comment("Node adds NODE_EXTRA_CA_CERTS to its built-in roots, so it gets the local CA alone"));
  out.push_back(variable("NODE_EXTRA_CA_CERTS", absolute_path(ca_cert).string()));
  out.push_back(comment("Node >= 22.21 or 24.5 honours HTTPS_PROXY with NODE_USE_ENV_PROXY=1; older Node needs"));
  out.push_back(comment("undici's EnvHttpProxyAgent as the dispatcher (see docs/clients.md)"));
  out.push_back(variable("NODE_USE_ENV_PROXY", "1"));
  return out;
}

// POSIX sh: nothing is special inside '...', and a ' is written as '\''.
std::string sh_quote(std::string_view v) {
  std::string out = "'";
  for (char c : v) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// fish: inside '...' only \' and \\ are escapes.
std::string fish_quote(std::string_view v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

// PowerShell: inside '...' a ' is doubled; the typographic single quotes count as quotes too.
std::string powershell_quote(std::string_view v) {
  std::string out = "'";
  for (std::size_t i = 0; i < v.size(); ++i) {
    out += v[i];
    if (v[i] == '\'') out += '\'';
    // U+2018..U+201B (E2 80 98..9B) end a PowerShell single-quoted string as well.
    if (static_cast<unsigned char>(v[i]) == 0xE2 && i + 2 < v.size() && static_cast<unsigned char>(v[i + 1]) == 0x80 &&
        static_cast<unsigned char>(v[i + 2]) >= 0x98 && static_cast<unsigned char>(v[i + 2]) <= 0x9B) {
      out.append(v.substr(i + 1, 2));
      out.append(v.substr(i, 3));
      i += 2;
    }
  }
  return out + "'";
}

std::string render(const std::vector<line>& lines, const std::string& shell) {
  std::string out;
  for (const auto& l : lines) {
    if (l.name.empty()) {
      out += "# " + l.value + "\n";
    } else if (shell == "fish") {
      out += "set -gx " + l.name + " " + fish_quote(l.value) + "\n";
    } else if (shell == "powershell") {
      out += "$env:" + l.name + " = " + powershell_quote(l.value) + "\n";
    } else {
      out += "export " + l.name + "=" + sh_quote(l.value) + "\n";
    }
  }
  return out;
}

}  // namespace

no_proxy_list merged_no_proxy(std::string_view user_upper, std::string_view user_lower,
                              const std::vector<std::string>& intercept_hosts) {
  no_proxy_list out;
  std::vector<std::string> seen;  // lowercase
  const auto add = [&](const std::string& entry, bool ours) {
    const std::string key = util::lowercase(entry);
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) return;
    seen.push_back(key);
    const bool around = std::any_of(intercept_hosts.begin(), intercept_hosts.end(),
                                    [&](const std::string& host) { return bypasses(entry, host); });
    if (!ours && around) {
      out.left_out.push_back(entry);
      return;
    }
    out.value += (out.value.empty() ? "" : ",") + entry;
  };
  for (const char* ours : {"localhost", "127.0.0.1", "::1"}) add(ours, true);
  for (auto user : {user_upper, user_lower})
    for (const auto& entry : config::split_list(user)) add(entry, false);
  return out;
}

fs::path system_ca_bundle() {
  std::vector<fs::path> candidates;
  if (const char* openssl_default = X509_get_default_cert_file()) candidates.emplace_back(openssl_default);
  for (const char* p : {"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"})
    candidates.emplace_back(p);
  for (const auto& c : candidates) {
    std::error_code ec;
    if (fs::is_regular_file(c, ec) && fs::file_size(c, ec) > 0 && !ec) return c;
  }
  return {};
}

void write_ca_bundle(const fs::path& ca_cert, const fs::path& bundle) {
  const fs::path system = system_ca_bundle();
  if (system.empty())
    throw std::runtime_error(
        "no system CA bundle found (looked at OpenSSL's default, /etc/ssl/certs/ca-certificates.crt, "
        "/etc/pki/tls/certs/ca-bundle.crt, /etc/ssl/cert.pem); install the ca-certificates package");
  std::error_code ec;
  if (fs::equivalent(system, bundle, ec))
    throw std::runtime_error(bundle.string() + ": is the system CA bundle itself; choose another tls.ca_cert folder");

  std::string text = read_file(system);
  if (text.find(kPemBegin) == std::string::npos)
    throw std::runtime_error(system.string() + ": the system CA bundle holds no PEM certificate");
  if (!text.empty() && text.back() != '\n') text += '\n';
  text += certificate_pem(ca_cert);
  util::write_file_atomically(bundle, text, 0644);
}

int print_env(const config::settings& cfg, const std::string& shell) {
  try {
    check_distinct_files(cfg);
    const fs::path ca_cert = cfg.path("tls.ca_cert");
    const fs::path ca_key = cfg.path("tls.ca_key");
    std::error_code ec;
    if (fs::exists(ca_cert, ec) && !fs::exists(ca_key, ec)) {
      // A runner that trusts a shared proxy holds a copy of its certificate only (docs/fleet.md):
      // the exports need nothing more, and no CA is made here.
      std::cerr << "openrouter-proxy: env: using the CA certificate " << ca_cert.string()
                << " without its key (a copy of a proxy's CA)\n";
    } else {
      // `env` may come before the first `run`: the CA must exist for the bundle to hold it.
      auto outcome = tls::ensure_ca(ca_cert, ca_key, cfg.list("proxy.intercept_hosts"), false,
                                    std::chrono::system_clock::now());
      for (const auto& warning : outcome.warnings) std::cerr << "openrouter-proxy: env: warning: " << warning << "\n";
      if (outcome.status == tls::ca_status::created)
        std::cerr << "openrouter-proxy: env: created the local CA at " << ca_cert.string()
                  << " (a proxy started with another configuration uses its own)\n";
    }
    const fs::path bundle = ca_cert.parent_path() / "bundle.pem";
    write_ca_bundle(ca_cert, bundle);
    std::cout << render(client_exports(cfg, ca_cert, bundle), shell) << std::flush;
    return std::cout ? 0 : 2;
  } catch (const std::exception& e) {
    std::cerr << "openrouter-proxy: env: " << e.what() << "\n";
    return 2;
  }
}

}  // namespace orp::app
