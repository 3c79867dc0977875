#pragma once

#include "tls/ca.hpp"
#include "tls/openssl_ptr.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace orp::tls {

// What an intercepted connection needs to terminate TLS for one host.
struct server_identity {
    leaf certificate;
    ssl_ctx_ptr context;  // from make_server_context; create one SSL per connection from it
};

// Mints a leaf (and its server context) once per host and re-mints it `renew_before` its
// expiry. Identities are shared: a connection keeps its own alive after a re-mint. A leaf cut
// short by the CA's own end is kept to the end: a new one could not last longer.
class leaf_cache {
public:
    explicit leaf_cache(const certificate_authority& ca, std::chrono::hours validity = std::chrono::hours(24 * 7),
                        std::chrono::hours renew_before = std::chrono::hours(24));

    // Null when the CA's nameConstraints exclude `host`: no client would accept such a leaf.
    // Throws tls_error only when OpenSSL cannot mint (out of memory, broken RNG).
    std::shared_ptr<const server_identity> get(std::string_view host, std::chrono::system_clock::time_point now);

private:
    bool fresh(const server_identity& identity, std::chrono::system_clock::time_point now) const;

    const certificate_authority& ca_;
    const std::chrono::system_clock::time_point ca_not_after_;
    const std::chrono::hours validity_;
    const std::chrono::hours renew_before_;
    std::mutex mutex_;
    std::map<std::string, std::shared_ptr<const server_identity>, std::less<>> identities_;
};

}  // namespace orp::tls
