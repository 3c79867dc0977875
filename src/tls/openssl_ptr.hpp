#pragma once

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "util/free_with.hpp"

namespace orp::tls {

using util::free_with;

using x509_ptr = std::unique_ptr<X509, free_with<X509_free>>;
using x509_name_ptr = std::unique_ptr<X509_NAME, free_with<X509_NAME_free>>;
using x509_store_ptr = std::unique_ptr<X509_STORE, free_with<X509_STORE_free>>;
using x509_store_ctx_ptr = std::unique_ptr<X509_STORE_CTX, free_with<X509_STORE_CTX_free>>;
using evp_pkey_ptr = std::unique_ptr<EVP_PKEY, free_with<EVP_PKEY_free>>;
using ssl_ctx_ptr = std::unique_ptr<SSL_CTX, free_with<SSL_CTX_free>>;
using ssl_ptr = std::unique_ptr<SSL, free_with<SSL_free>>;
using bio_ptr = std::unique_ptr<BIO, free_with<BIO_free_all>>;
using bignum_ptr = std::unique_ptr<BIGNUM, free_with<BN_free>>;
using asn1_octet_string_ptr = std::unique_ptr<ASN1_OCTET_STRING, free_with<ASN1_OCTET_STRING_free>>;
using general_name_ptr = std::unique_ptr<GENERAL_NAME, free_with<GENERAL_NAME_free>>;
using general_names_ptr = std::unique_ptr<GENERAL_NAMES, free_with<GENERAL_NAMES_free>>;
using general_subtree_ptr = std::unique_ptr<GENERAL_SUBTREE, free_with<GENERAL_SUBTREE_free>>;
using name_constraints_ptr = std::unique_ptr<NAME_CONSTRAINTS, free_with<NAME_CONSTRAINTS_free>>;
using basic_constraints_ptr = std::unique_ptr<BASIC_CONSTRAINTS, free_with<BASIC_CONSTRAINTS_free>>;
using x509_extension_ptr = std::unique_ptr<X509_EXTENSION, free_with<X509_EXTENSION_free>>;

// Configuration and start-up failures of this module (files, keys, contexts).
class tls_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Drains the thread's OpenSSL error queue, oldest first, as "reason; reason".
inline std::string openssl_error_string() {
    std::string text;
    while (unsigned long code = ERR_get_error()) {
        char buffer[256];
        ERR_error_string_n(code, buffer, sizeof buffer);
        if (!text.empty()) text += "; ";
        text += buffer;
    }
    return text.empty() ? "no OpenSSL error reported" : text;
}

}  // namespace orp::tls
