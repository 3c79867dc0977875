#include "tls/contexts.hpp"

#include <system_error>

namespace orp::tls {
namespace {

// ALPN wire format: length-prefixed protocol names.
constexpr unsigned char http_1_1_alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

// The leaf is ECDSA, so only ECDHE-ECDSA AEAD suites can be chosen under TLS 1.2.
constexpr const char* tls12_server_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305";
// TLS 1.3: the same three suites OpenSSL enables by default, AES-128-GCM first (OpenSSL puts
// AES-256-GCM-SHA384 first). Both are sound; the SHA-256 key schedule costs about half of the
// SHA-384 one where the CPU has SHA extensions, and AES-128 records need 10 rounds, not 14. The
// proxy prefers it on its client leg (server preference) and offers it first upstream.
constexpr const char* tls13_suites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr const char* key_exchange_groups = "X25519:P-256:P-384";

constexpr long server_session_cache_size = 4096;

// A session id context is required for server-side session resumption to be attempted at all.
constexpr unsigned char session_id_context[] = "openrouter-proxy";

[[noreturn]] void fail(const std::string& what) {
    throw tls_error(what + ": " + openssl_error_string());
}

void check(long result, const char* what) {
    if (result <= 0) fail(what);
}

// What the client leg accepts, in order of preference. An HTTP/1.0 client (curl --http1.0) is
// served as any HTTP/1.1 server serves one: its requests parse the same, and its connection
// closes after each answer unless it asks for keep-alive.
constexpr unsigned char http_1_x_alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1',
                                           8, 'h', 't', 't', 'p', '/', '1', '.', '0'};

// Called only when the client sends ALPN. Refusing a client that offers only h2 (or anything
// else) is deliberate: the proxy speaks HTTP/1.x to it, and a silent fallback would desync.
int select_http_1_x(SSL*, const unsigned char** out, unsigned char* out_length, const unsigned char* offered,
                    unsigned int offered_length, void*) {
    unsigned char* selected = nullptr;
    if (SSL_select_next_proto(&selected, out_length, http_1_x_alpn, sizeof http_1_x_alpn, offered,
                              offered_length) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
}

ssl_ctx_ptr new_context(const SSL_METHOD* method) {
    ssl_ctx_ptr ctx(SSL_CTX_new(method));
    if (!ctx) fail("cannot create a TLS context");
    check(SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION), "cannot require TLS 1.2");
    check(SSL_CTX_set1_groups_list(ctx.get(), key_exchange_groups), "cannot set the ECDHE groups");
    check(SSL_CTX_set_ciphersuites(ctx.get(), tls13_suites), "cannot set the TLS 1.3 cipher suites");
    return ctx;
}

}  // namespace

ssl_ctx_ptr make_server_context(const leaf& minted, X509* ca_cert) {
    ssl_ctx_ptr ctx = new_context(TLS_server_method());
    // Stateful resumption: sessions stay in this context's cache and a TLS 1.3 ticket carries only
    // a session's id (SSL_OP_NO_TICKET), so resuming is a look-up instead of decrypting the session
    // from the ticket and encrypting a new one (7 % of a resumed connection's instructions, 4 % of a
    // full one's; docs/benchmarks.md). A TLS 1.2 client resumes by session id from the same cache.
    // A client that closes without close_notify (Python's ssl, Node, many more) would otherwise lose
    // its cached session to the "unexpected EOF" error; HTTP's framing already tells a cut message
    // from a finished one (a request is forwarded only once complete), so such an EOF counts as a
    // close. Sessions, like stateless tickets before, die with the process.
    SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET |
                                       SSL_OP_IGNORE_UNEXPECTED_EOF);
    check(SSL_CTX_set_cipher_list(ctx.get(), tls12_server_ciphers), "cannot set the TLS 1.2 ciphers");
    check(SSL_CTX_use_certificate(ctx.get(), minted.cert.get()), "cannot use the leaf certificate");
    check(SSL_CTX_use_PrivateKey(ctx.get(), minted.key.get()), "cannot use the leaf key");
    check(SSL_CTX_check_private_key(ctx.get()), "the leaf key does not match its certificate");
    check(SSL_CTX_add1_chain_cert(ctx.get(), ca_cert), "cannot add the CA to the chain");
    SSL_CTX_set_alpn_select_cb(ctx.get(), select_http_1_x, nullptr);
    SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_SERVER);
    // One cached session per recently seen client connection (~1 KiB each, oldest evicted first):
    // 4,096 clients resume without a full handshake. One ticket per handshake, not OpenSSL's two:
    // clients keep the latest, and a resumed handshake issues the next.
    SSL_CTX_sess_set_cache_size(ctx.get(), server_session_cache_size);
    SSL_CTX_set_num_tickets(ctx.get(), 1);
    check(SSL_CTX_set_session_id_context(ctx.get(), session_id_context, sizeof session_id_context - 1),
          "cannot set the session id context");
    return ctx;
}

ssl_ctx_ptr make_client_context(const std::filesystem::path& extra_ca_file) {
    ssl_ctx_ptr ctx = new_context(TLS_client_method());
    check(SSL_CTX_set_default_verify_paths(ctx.get()), "cannot load the system trust store");
    if (!extra_ca_file.empty()) {
        std::error_code ec;
        if (!std::filesystem::is_regular_file(extra_ca_file, ec))
            throw tls_error("upstream CA file not found: " + extra_ca_file.string());
        if (SSL_CTX_load_verify_file(ctx.get(), extra_ca_file.c_str()) != 1)
            fail("cannot load upstream CA file " + extra_ca_file.string());
    }
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    // Unlike almost every other OpenSSL call, set_alpn_protos returns 0 on success.
    if (SSL_CTX_set_alpn_protos(ctx.get(), http_1_1_alpn, sizeof http_1_1_alpn) != 0)
        fail("cannot set ALPN");
    // Upstream connections live long in the pool and are never resumed: a client session cache
    // would only pile up sessions (each holding the server's chain) for every connection made.
    SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
    return ctx;
}

bool configure_client_ssl(SSL* ssl, const std::string& host) {
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (asn1_octet_string_ptr ip{a2i_IPADDRESS(host.c_str())})
        return X509_VERIFY_PARAM_set1_ip(SSL_get0_param(ssl), ip->data, static_cast<std::size_t>(ip->length)) == 1;
    return SSL_set_tlsext_host_name(ssl, host.c_str()) == 1 && SSL_set1_host(ssl, host.c_str()) == 1;
}

}  // namespace orp::tls
