#pragma once

#include "tls/openssl_ptr.hpp"

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace orp::tls {

// A server certificate minted for one host, with its private key.
struct leaf {
    x509_ptr cert;
    evp_pkey_ptr key;
    std::chrono::system_clock::time_point not_after;
};

// The local CA that signs the certificates presented to intercepted clients.
// Its nameConstraints limit it to the intercepted hosts, so a stolen ca.key cannot
// impersonate anything else to a client that trusts it.
class certificate_authority {
public:
    static certificate_authority create(const std::vector<std::string>& permitted_hosts,
                                        std::chrono::system_clock::time_point now);
    static certificate_authority load(const std::filesystem::path& cert,
                                      const std::filesystem::path& key);

    void save(const std::filesystem::path& cert, const std::filesystem::path& key) const;

    // RFC 5280 4.2.1.10 dNSName matching; true when the CA has no nameConstraints.
    bool permits(std::string_view host) const;
    std::vector<std::string> permitted_hosts() const;

    std::chrono::system_clock::time_point not_before() const;
    std::chrono::system_clock::time_point not_after() const;
    X509* cert() const { return cert_.get(); }
    EVP_PKEY* key() const { return key_.get(); }
    std::string cert_pem() const;

    // Does not check permits(): a leaf for another host is minted but no client will accept it.
    // The leaf ends with the CA if that comes first: a client refuses a chain past its CA's end.
    leaf mint_leaf(std::string_view host, std::chrono::system_clock::time_point now,
                   std::chrono::hours validity = std::chrono::hours(24 * 7)) const;

private:
    certificate_authority(x509_ptr cert, evp_pkey_ptr key);

    x509_ptr cert_;
    evp_pkey_ptr key_;
};

enum class ca_status { created, existed };

struct ca_outcome {
    ca_status status;
    // The existing key file was open to group or others and has been set to 0600; the CA expires
    // within 30 days.
    std::vector<std::string> warnings;
};

// Creates the CA when neither file exists or `force` is set. Otherwise throws tls_error when only
// one of the two exists (a CA clients trust must not be silently replaced), restricts a key file
// open to group or others to 0600 (tls_error when it cannot), loads the pair and throws tls_error
// unless it is valid at `now`, permits every host in `hosts` and can sign a leaf for them. Each
// error about an existing CA says how to replace it (`ca init --force`).
ca_outcome ensure_ca(const std::filesystem::path& cert, const std::filesystem::path& key,
                     const std::vector<std::string>& hosts, bool force,
                     std::chrono::system_clock::time_point now);

}  // namespace orp::tls
