#pragma once

#include "tls/ca.hpp"
#include "tls/openssl_ptr.hpp"

#include <filesystem>
#include <string>

namespace orp::tls {

// Server side of an intercepted connection: presents `minted` (chained to `ca_cert`),
// TLS 1.2+, ECDHE only, ALPN "http/1.1" only. Build once per leaf; one SSL per connection.
ssl_ctx_ptr make_server_context(const leaf& minted, X509* ca_cert);

// Client side towards the upstream: system roots plus `extra_ca_file` (may be empty),
// verify_peer, TLS 1.2+, ALPN "http/1.1". There is deliberately no way to turn verification off.
ssl_ctx_ptr make_client_context(const std::filesystem::path& extra_ca_file);

// Per connection: SNI (DNS names only, RFC 6066 3) and hostname or IP verification of the
// peer certificate, without partial wildcards. False when OpenSSL refuses either setting.
bool configure_client_ssl(SSL* ssl, const std::string& host);

}  // namespace orp::tls
