#include "support/scratch_dir.hpp"
#include "tls/ca.hpp"

#include <gtest/gtest.h>

#include <openssl/pem.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <tuple>
#include <utility>

#include <sys/stat.h>

namespace orp::tls {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono;

const system_clock::time_point test_now = sys_days{2030y / January / 15} + 12h;

using test::scratch_dir;

mode_t mode_of(const fs::path& path) {
    struct stat st {};
    ::stat(path.c_str(), &st);
    return st.st_mode & 07777;
}

void write_text(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

X509_EXTENSION* extension(X509* cert, int nid) {
    const int index = X509_get_ext_by_NID(cert, nid, -1);
    return index < 0 ? nullptr : X509_get_ext(cert, index);
}

bool is_critical(X509* cert, int nid) {
    X509_EXTENSION* ext = extension(cert, nid);
    return ext && X509_EXTENSION_get_critical(ext) == 1;
}

std::string text_of(const ASN1_STRING* s) {
    return {reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), static_cast<std::size_t>(ASN1_STRING_length(s))};
}

// X509_V_OK or the verification error, checking `leaf` against a store holding only the CA.
int verify(const certificate_authority& ca, X509* leaf, const char* host, system_clock::time_point at) {
    x509_store_ptr store(X509_STORE_new());
    X509_STORE_add_cert(store.get(), ca.cert());
    x509_store_ctx_ptr ctx(X509_STORE_CTX_new());
    X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr);
    X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
    X509_VERIFY_PARAM_set1_host(param, host, 0);
    X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
    X509_STORE_CTX_set_time(ctx.get(), 0, system_clock::to_time_t(at));
    const int result = X509_verify_cert(ctx.get()) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return result;
}

bignum_ptr serial_of(X509* cert) { return bignum_ptr(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr)); }

std::string der_of(X509* cert) {
    unsigned char* der = nullptr;
    const int length = i2d_X509(cert, &der);
    std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(length));
    OPENSSL_free(der);
    return out;
}

TEST(CertificateAuthority, HasSubjectValiditySignatureAndKey) {
    const auto ca = certificate_authority::create({"openrouter.ai"}, test_now);
    X509_NAME* subject = X509_get_subject_name(ca.cert());
    char cn[128]{}, org[128]{};
    X509_NAME_get_text_by_NID(subject, NID_commonName, cn, sizeof cn);
    X509_NAME_get_text_by_NID(subject, NID_organizationName, org, sizeof org);
    EXPECT_STREQ(cn, "openrouter-proxy local CA");
    EXPECT_STREQ(org, "openrouter-proxy");
    EXPECT_EQ(X509_NAME_cmp(subject, X509_get_issuer_name(ca.cert())), 0);
    EXPECT_EQ(X509_get_version(ca.cert()), X509_VERSION_3);
    EXPECT_EQ(X509_verify(ca.cert(), ca.key()), 1);
    EXPECT_EQ(X509_get_signature_nid(ca.cert()), NID_ecdsa_with_SHA256);
    EXPECT_TRUE(EVP_PKEY_is_a(ca.key(), "EC"));
    EXPECT_EQ(EVP_PKEY_get_bits(ca.key()), 256);

    int days = 0, seconds = 0;
    ASN1_TIME_diff(&days, &seconds, X509_get0_notBefore(ca.cert()), X509_get0_notAfter(ca.cert()));
    EXPECT_GE(days, 3650);
    EXPECT_LE(days, 3660);
    EXPECT_NE(ca.cert_pem().find("-----BEGIN CERTIFICATE-----"), std::string::npos);
}

TEST(CertificateAuthority, BasicConstraintsCriticalCaWithPathLenZero) {
    const auto ca = certificate_authority::create({"openrouter.ai"}, test_now);
    ASSERT_TRUE(is_critical(ca.cert(), NID_basic_constraints));
    basic_constraints_ptr bc(
        static_cast<BASIC_CONSTRAINTS*>(X509_get_ext_d2i(ca.cert(), NID_basic_constraints, nullptr, nullptr)));
    ASSERT_TRUE(bc);
    EXPECT_TRUE(bc->ca);
    ASSERT_NE(bc->pathlen, nullptr);
    EXPECT_EQ(ASN1_INTEGER_get(bc->pathlen), 0);
}

TEST(CertificateAuthority, KeyUsageCriticalCertSignAndCrlSignOnly) {
    const auto ca = certificate_authority::create({"openrouter.ai"}, test_now);
    EXPECT_TRUE(is_critical(ca.cert(), NID_key_usage));
    EXPECT_EQ(X509_get_key_usage(ca.cert()), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
}

TEST(CertificateAuthority, HasMatchingKeyIdentifiers) {
    const auto ca = certificate_authority::create({"openrouter.ai"}, test_now);
    ASSERT_NE(extension(ca.cert(), NID_subject_key_identifier), nullptr);
    ASSERT_NE(extension(ca.cert(), NID_authority_key_identifier), nullptr);
    ASSERT_NE(X509_get0_subject_key_id(ca.cert()), nullptr);
    ASSERT_NE(X509_get0_authority_key_id(ca.cert()), nullptr);
    EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_subject_key_id(ca.cert()), X509_get0_authority_key_id(ca.cert())), 0);
}

TEST(CertificateAuthority, NameConstraintsCriticalPermitHostsExcludeEveryIp) {
    const auto ca = certificate_authority::create({"openrouter.ai", "Example.org"}, test_now);
    ASSERT_TRUE(is_critical(ca.cert(), NID_name_constraints));
    name_constraints_ptr nc(
        static_cast<NAME_CONSTRAINTS*>(X509_get_ext_d2i(ca.cert(), NID_name_constraints, nullptr, nullptr)));
    ASSERT_TRUE(nc);
    ASSERT_EQ(sk_GENERAL_SUBTREE_num(nc->permittedSubtrees), 2);
    std::set<std::string> permitted;
    for (int i = 0; i < 2; ++i) {
        const GENERAL_NAME* base = sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, i)->base;
        ASSERT_EQ(base->type, GEN_DNS);
        permitted.insert(text_of(base->d.dNSName));
    }
    EXPECT_EQ(permitted, (std::set<std::string>{"openrouter.ai", "example.org"}));

    ASSERT_EQ(sk_GENERAL_SUBTREE_num(nc->excludedSubtrees), 2);
    std::set<std::string> excluded;
    for (int i = 0; i < 2; ++i) {
        const GENERAL_NAME* base = sk_GENERAL_SUBTREE_value(nc->excludedSubtrees, i)->base;
        ASSERT_EQ(base->type, GEN_IPADD);
        excluded.insert(text_of(base->d.iPAddress));
    }
    EXPECT_EQ(excluded, (std::set<std::string>{std::string(8, '\0'), std::string(32, '\0')}));
}

TEST(CertificateAuthority, PermitsHostAndSubdomainsOnly) {
    const auto ca = certificate_authority::create({"openrouter.ai"}, test_now);
    EXPECT_TRUE(ca.permits("openrouter.ai"));
    EXPECT_TRUE(ca.permits("OpenRouter.AI"));
    EXPECT_TRUE(ca.permits("api.openrouter.ai"));
    EXPECT_FALSE(ca.permits("evilopenrouter.ai"));
    EXPECT_FALSE(ca.permits("openrouter.ai.evil.example"));
    EXPECT_FALSE(ca.permits("example.com"));
    EXPECT_FALSE(ca.permits(""));
    EXPECT_FALSE(ca.permits("openrouter.ai,DNS:example.com"));
    EXPECT_EQ(ca.permitted_hosts(), std::vector<std::string>{"openrouter.ai"});
}

TEST(CertificateAuthority, CreateRefusesNoHostsAndMalformedHosts) {
    EXPECT_THROW(certificate_authority::create({}, test_now), tls_error);
    EXPECT_THROW(certificate_authority::create({"openrouter.ai,DNS:example.com"}, test_now), tls_error);
    EXPECT_THROW(certificate_authority::create({"bad host"}, test_now), tls_error);
}

TEST(CertificateAuthority, LeafHasServerExtensionsAndValidity) {
    const auto ca = certificate_authority::create({"openrouter.ai"}, test_now);
    const auto minted = ca.mint_leaf("openrouter.ai", test_now, hours(48));
    X509* cert = minted.cert.get();

    char cn[128]{};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    EXPECT_STREQ(cn, "openrouter.ai");
    EXPECT_EQ(X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(ca.cert())), 0);
    EXPECT_EQ(X509_verify(cert, ca.key()), 1);
    EXPECT_EQ(X509_get_signature_nid(cert), NID_ecdsa_with_SHA256);
    EXPECT_EQ(EVP_PKEY_get_bits(minted.key.get()), 256);
    EXPECT_EQ(X509_check_private_key(cert, minted.key.get()), 1);

    general_names_ptr san(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
    ASSERT_TRUE(san);
    ASSERT_EQ(sk_GENERAL_NAME_num(san.get()), 1);
    EXPECT_EQ(sk_GENERAL_NAME_value(san.get(), 0)->type, GEN_DNS);
    EXPECT_EQ(text_of(sk_GENERAL_NAME_value(san.get(), 0)->d.dNSName), "openrouter.ai");

    EXPECT_EQ(X509_get_extended_key_usage(cert), static_cast<uint32_t>(XKU_SSL_SERVER));
    EXPECT_TRUE(is_critical(cert, NID_key_usage));
    EXPECT_EQ(X509_get_key_usage(cert), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
    EXPECT_EQ(X509_check_ca(cert), 0);
    ASSERT_NE(X509_get0_authority_key_id(cert), nullptr);
    EXPECT_NE(X509_get0_subject_key_id(cert), nullptr);
    EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(cert), X509_get0_subject_key_id(ca.cert())), 0);

    EXPECT_EQ(ASN1_TIME_cmp_time_t(X509_get0_notBefore(cert), system_clock::to_time_t(test_now - 1h)), 0);
    EXPECT_EQ(ASN1_TIME_cmp_time_t(X509_get0_notAfter(cert), system_clock::to_time_t(test_now + 48h)), 0);
    EXPECT_EQ(minted.not_after, test_now + 48h);
}

TEST(CertificateAuthority, LeafVerifiesForItsHostAgainstOnlyTheCa) {
    const auto ca = certificate_authority::create({"openrouter.ai"}, test_now);
    const auto minted = ca.mint_leaf("openrouter.ai", test_now);
    EXPECT_EQ(verify(ca, minted.cert.get(), "openrouter.ai", test_now), X509_V_OK);
    const auto sub = ca.mint_leaf("api.openrouter.ai", test_now);
    EXPECT_EQ(verify(ca, sub.cert.get(), "api.openrouter.ai", test_now), X509_V_OK);
}

TEST(CertificateAuthority, LeafFailsForAnotherHost) {
    const auto ca = certificate_authority::create({"openrouter.ai"}, test_now);
    const auto minted = ca.mint_leaf("openrouter.ai", test_now);
    EXPECT_EQ(verify(ca, minted.cert.get(), "example.com", test_now), X509_V_ERR_HOSTNAME_MISMATCH);
}

TEST(CertificateAuthority, LeafOutsideNameConstraintsFailsEvenForItsHost) {
    const auto ca = certificate_authority::create({"openrouter.ai"}, test_now);
    const auto minted = ca.mint_leaf("evil.example", test_now);
    EXPECT_EQ(verify(ca, minted.cert.get(), "evil.example", test_now), X509_V_ERR_PERMITTED_VIOLATION);
}

TEST(CertificateAuthority, LeafFailsAfterItExpires) {
    const auto ca = certificate_authority::create({"openrouter.ai"}, test_now);
    const auto minted = ca.mint_leaf("openrouter.ai", test_now, hours(24));
    EXPECT_EQ(verify(ca, minted.cert.get(), "openrouter.ai", test_now + 25h), X509_V_ERR_CERT_HAS_EXPIRED);
}

TEST(CertificateAuthority, SerialsArePositive128BitAndDistinct) {
    const auto ca = certificate_authority::create({"openrouter.ai"}, test_now);
    std::set<std::string> seen;
    auto check_serial = [&](X509* cert) {
        bignum_ptr serial = serial_of(cert);
        ASSERT_TRUE(serial);
        EXPECT_FALSE(BN_is_negative(serial.get()));
        EXPECT_EQ(BN_num_bytes(serial.get()), 16);
        char* hex = BN_bn2hex(serial.get());
        EXPECT_TRUE(seen.insert(hex).second) << "duplicate serial " << hex;
        OPENSSL_free(hex);
    };
    check_serial(ca.cert());
    for (int i = 0; i < 20; ++i) check_serial(ca.mint_leaf("openrouter.ai", test_now).cert.get());
}

TEST(CertificateAuthority, SaveThenLoadRoundTrips) {
    scratch_dir dir;
    const fs::path cert = dir.path() / "certs" / "ca.pem";
    const fs::path key = dir.path() / "certs" / "ca.key";
    const auto ca = certificate_authority::create({"openrouter.ai"}, test_now);
    ca.save(cert, key);

    EXPECT_EQ(mode_of(dir.path() / "certs"), 0700u);
    EXPECT_EQ(mode_of(key), 0600u);
    EXPECT_EQ(mode_of(cert), 0644u);
    EXPECT_EQ(std::distance(fs::directory_iterator(dir.path() / "certs"), fs::directory_iterator()), 2)
        << "a temporary file was left behind";

    const auto loaded = certificate_authority::load(cert, key);
    EXPECT_EQ(der_of(loaded.cert()), der_of(ca.cert()));
    EXPECT_EQ(EVP_PKEY_eq(loaded.key(), ca.key()), 1);
    EXPECT_EQ(loaded.permitted_hosts(), std::vector<std::string>{"openrouter.ai"});
}

TEST(CertificateAuthority, SaveTightensAnExistingLooseKeyFile) {
    scratch_dir dir;
    const fs::path cert = dir.path() / "ca.pem";
    const fs::path key = dir.path() / "ca.key";
    write_text(key, "old");
    ::chmod(key.c_str(), 0644);
    certificate_authority::create({"openrouter.ai"}, test_now).save(cert, key);
    EXPECT_EQ(mode_of(key), 0600u);
    EXPECT_NO_THROW(certificate_authority::load(cert, key));
}

TEST(CertificateAuthority, LoadMissingFileNamesIt) {
    scratch_dir dir;
    const fs::path cert = dir.path() / "ca.pem";
    const fs::path key = dir.path() / "ca.key";
    try {
        certificate_authority::load(cert, key);
        FAIL() << "expected tls_error";
    } catch (const tls_error& e) {
        EXPECT_NE(std::string(e.what()).find(cert.string()), std::string::npos) << e.what();
    }
    certificate_authority::create({"openrouter.ai"}, test_now).save(cert, key);
    fs::remove(key);
    try {
        certificate_authority::load(cert, key);
        FAIL() << "expected tls_error";
    } catch (const tls_error& e) {
        EXPECT_NE(std::string(e.what()).find(key.string()), std::string::npos) << e.what();
    }
}

TEST(CertificateAuthority, LoadGarbageNamesTheFile) {
    scratch_dir dir;
    const fs::path cert = dir.path() / "ca.pem";
    const fs::path key = dir.path() / "ca.key";
    certificate_authority::create({"openrouter.ai"}, test_now).save(cert, key);
    const fs::path garbage = dir.path() / "garbage.pem";
    write_text(garbage, "this is not PEM\n");

    for (const auto& [c, k, named] : {std::tuple{garbage, key, garbage}, std::tuple{cert, garbage, garbage}}) {
        try {
            certificate_authority::load(c, k);
            ADD_FAILURE() << "expected tls_error";
        } catch (const tls_error& e) {
            EXPECT_NE(std::string(e.what()).find(named.string()), std::string::npos) << e.what();
        }
    }
}

TEST(CertificateAuthority, LoadMismatchedKeyNamesBothFiles) {
    scratch_dir dir;
    const fs::path cert = dir.path() / "ca.pem";
    const fs::path key = dir.path() / "ca.key";
    certificate_authority::create({"openrouter.ai"}, test_now).save(cert, key);
    certificate_authority::create({"openrouter.ai"}, test_now).save(dir.path() / "other.pem", key);
    try {
        certificate_authority::load(cert, key);
        FAIL() << "expected tls_error";
    } catch (const tls_error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("does not match"), std::string::npos) << what;
        EXPECT_NE(what.find(cert.string()), std::string::npos) << what;
        EXPECT_NE(what.find(key.string()), std::string::npos) << what;
    }
}

TEST(EnsureCa, CreatesOnceThenLeavesItAlone) {
    scratch_dir dir;
    const fs::path cert = dir.path() / "certs" / "ca.pem";
    const fs::path key = dir.path() / "certs" / "ca.key";
    EXPECT_EQ(ensure_ca(cert, key, {"openrouter.ai"}, false, test_now).status, ca_status::created);
    const std::string first = certificate_authority::load(cert, key).cert_pem();
    EXPECT_EQ(ensure_ca(cert, key, {"openrouter.ai"}, false, test_now).status, ca_status::existed);
    EXPECT_EQ(certificate_authority::load(cert, key).cert_pem(), first);
}

TEST(EnsureCa, ForceReplacesTheCa) {
    scratch_dir dir;
    const fs::path cert = dir.path() / "ca.pem";
    const fs::path key = dir.path() / "ca.key";
    ensure_ca(cert, key, {"openrouter.ai"}, false, test_now);
    const std::string first = certificate_authority::load(cert, key).cert_pem();
    EXPECT_EQ(ensure_ca(cert, key, {"openrouter.ai"}, true, test_now).status, ca_status::created);
    EXPECT_NE(certificate_authority::load(cert, key).cert_pem(), first);
}

TEST(EnsureCa, HostNotPermittedThrowsWithTheFix) {
    scratch_dir dir;
    const fs::path cert = dir.path() / "ca.pem";
    const fs::path key = dir.path() / "ca.key";
    ensure_ca(cert, key, {"openrouter.ai"}, false, test_now);
    try {
        ensure_ca(cert, key, {"openrouter.ai", "example.com"}, false, test_now);
        FAIL() << "expected tls_error";
    } catch (const tls_error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("ca init --force"), std::string::npos) << what;
        EXPECT_NE(what.find("example.com"), std::string::npos) << what;
    }
    EXPECT_EQ(ensure_ca(cert, key, {"openrouter.ai", "example.com"}, true, test_now).status, ca_status::created);
    EXPECT_TRUE(certificate_authority::load(cert, key).permits("example.com"));
}


std::string file_text(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(EnsureCa, RefusesToReplaceHalfACa) {
    scratch_dir dir;
    const fs::path cert = dir.path() / "ca.pem";
    const fs::path key = dir.path() / "ca.key";
    const fs::path saved = dir.path() / "saved";
    ensure_ca(cert, key, {"openrouter.ai"}, false, test_now);
    for (const auto& [present, missing] : {std::pair{cert, key}, std::pair{key, cert}}) {
        const std::string kept = file_text(present);
        fs::rename(missing, saved);
        try {
            ensure_ca(cert, key, {"openrouter.ai"}, false, test_now);
            ADD_FAILURE() << "expected tls_error with " << missing << " missing";
        } catch (const tls_error& e) {
            const std::string what = e.what();
            EXPECT_NE(what.find(present.string() + " exists but " + missing.string() + " is missing"),
                      std::string::npos)
                << what;
            EXPECT_NE(what.find("ca init --force"), std::string::npos) << what;
            EXPECT_NE(what.find("trust again"), std::string::npos) << what;
        }
        EXPECT_EQ(file_text(present), kept) << present << " was replaced";
        EXPECT_FALSE(fs::exists(missing)) << missing << " was created";
        fs::rename(saved, missing);
    }
}

TEST(EnsureCa, ForceReplacesAnIncompleteCa) {
    scratch_dir dir;
    const fs::path cert = dir.path() / "ca.pem";
    const fs::path key = dir.path() / "ca.key";
    ensure_ca(cert, key, {"openrouter.ai"}, false, test_now);
    fs::remove(key);
    EXPECT_EQ(ensure_ca(cert, key, {"openrouter.ai"}, true, test_now).status, ca_status::created);
    EXPECT_NO_THROW(certificate_authority::load(cert, key));
}

TEST(EnsureCa, RestrictsAKeyOpenToOthersAndSaysWhatItWas) {
    scratch_dir dir;
    const fs::path cert = dir.path() / "ca.pem";
    const fs::path key = dir.path() / "ca.key";
    EXPECT_TRUE(ensure_ca(cert, key, {"openrouter.ai"}, false, test_now).warnings.empty());
    for (const mode_t loose : {0644, 0640, 0604, 0620}) {
        ::chmod(key.c_str(), loose);
        const auto outcome = ensure_ca(cert, key, {"openrouter.ai"}, false, test_now);
        EXPECT_EQ(outcome.status, ca_status::existed);
        ASSERT_EQ(outcome.warnings.size(), 1u);
        const std::string& warning = outcome.warnings.front();
        EXPECT_NE(warning.find(key.string()), std::string::npos) << warning;
        char was[8];
        std::snprintf(was, sizeof was, "%04o", static_cast<unsigned>(loose));
        EXPECT_NE(warning.find(std::string("mode ") + was), std::string::npos) << warning;
        EXPECT_EQ(mode_of(key), 0600u);
    }
    ::chmod(key.c_str(), 0400);
    EXPECT_TRUE(ensure_ca(cert, key, {"openrouter.ai"}, false, test_now).warnings.empty()) << "owner-only is fine";
    EXPECT_EQ(mode_of(key), 0400u);
}

TEST(EnsureCa, RefusesAnOpenKeyWhoseModeCannotBeChanged) {
    // procfs refuses chmod even to root: a stand-in for a key file owned by another user.
    const fs::path key = "/proc/self/stat";
    if (::chmod(key.c_str(), 0600) == 0 || (mode_of(key) & 077) == 0) GTEST_SKIP() << "no unchangeable file here";
    scratch_dir dir;
    const fs::path cert = dir.path() / "ca.pem";
    certificate_authority::create({"openrouter.ai"}, test_now).save(cert, dir.path() / "ca.key");
    try {
        ensure_ca(cert, key, {"openrouter.ai"}, false, test_now);
        FAIL() << "expected tls_error";
    } catch (const tls_error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("cannot be set to 0600"), std::string::npos) << what;
        EXPECT_NE(what.find(key.string()), std::string::npos) << what;
    }
}

// What ensure_ca() says about an existing CA at `now`: its error, else its warnings, joined.
std::string ensure_existing(const fs::path& cert, const fs::path& key, system_clock::time_point now) {
    try {
        std::string out;
        for (const auto& w : ensure_ca(cert, key, {"openrouter.ai"}, false, now).warnings) out += w + "\n";
        return out;
    } catch (const tls_error& e) {
        return std::string("refused: ") + e.what();
    }
}

TEST(EnsureCa, RefusesAnExpiredCaWithTheFix) {
    scratch_dir dir;
    const fs::path cert = dir.path() / "ca.pem", key = dir.path() / "ca.key";
    certificate_authority::create({"openrouter.ai"}, test_now - days(3651)).save(cert, key);
    const std::string said = ensure_existing(cert, key, test_now);
    EXPECT_TRUE(said.starts_with("refused: ")) << said;
    EXPECT_NE(said.find("expired on"), std::string::npos) << said;
    EXPECT_NE(said.find("ca init --force"), std::string::npos) << said;
    EXPECT_EQ(ensure_ca(cert, key, {"openrouter.ai"}, true, test_now).status, ca_status::created);
    EXPECT_EQ(ensure_existing(cert, key, test_now), "");
}

TEST(EnsureCa, RefusesACaNotValidYet) {
    scratch_dir dir;
    const fs::path cert = dir.path() / "ca.pem", key = dir.path() / "ca.key";
    certificate_authority::create({"openrouter.ai"}, test_now + days(2)).save(cert, key);
    const std::string said = ensure_existing(cert, key, test_now);
    EXPECT_NE(said.find("refused: the local CA " + cert.string() + " is not valid before"), std::string::npos) << said;
    EXPECT_NE(said.find("ca init --force"), std::string::npos) << said;
}

TEST(EnsureCa, WarnsOfACaEndingWithin30Days) {
    scratch_dir dir;
    const fs::path cert = dir.path() / "ca.pem", key = dir.path() / "ca.key";
    certificate_authority::create({"openrouter.ai"}, test_now - days(3650 - 10)).save(cert, key);
    const std::string said = ensure_existing(cert, key, test_now);
    EXPECT_NE(said.find("expires on"), std::string::npos) << said;
    EXPECT_NE(said.find("(in 10 days)"), std::string::npos) << said;
    EXPECT_NE(said.find("ca init --force"), std::string::npos) << said;
    EXPECT_EQ(ensure_existing(cert, key, test_now - days(21)), "") << "31 days before its end";
}

TEST(EnsureCa, RefusesACaWithoutSubjectKeyIdentifier) {
    scratch_dir dir;
    const fs::path cert = dir.path() / "ca.pem", key = dir.path() / "ca.key";
    // A CA as a user might bring one: CA:TRUE, keyCertSign, no subjectKeyIdentifier.
    evp_pkey_ptr pkey(EVP_EC_gen("P-256"));
    x509_ptr x(X509_new());
    X509_set_version(x.get(), X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x.get()), 7);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x.get()), "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("no ski"), -1, -1, 0);
    X509_set_issuer_name(x.get(), X509_get_subject_name(x.get()));
    ASN1_TIME_set(X509_getm_notBefore(x.get()), system_clock::to_time_t(test_now - days(1)));
    ASN1_TIME_set(X509_getm_notAfter(x.get()), system_clock::to_time_t(test_now + days(365)));
    X509_set_pubkey(x.get(), pkey.get());
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, x.get(), x.get(), nullptr, nullptr, 0);
    for (auto [nid, value] : {std::pair{NID_basic_constraints, "critical,CA:TRUE"},
                              std::pair{NID_key_usage, "critical,keyCertSign"}}) {
        x509_extension_ptr ext(X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value));
        X509_add_ext(x.get(), ext.get(), -1);
    }
    ASSERT_GT(X509_sign(x.get(), pkey.get(), EVP_sha256()), 0);
    {
        bio_ptr out(BIO_new_file(cert.c_str(), "w"));
        PEM_write_bio_X509(out.get(), x.get());
        bio_ptr key_out(BIO_new_file(key.c_str(), "w"));
        PEM_write_bio_PrivateKey(key_out.get(), pkey.get(), nullptr, nullptr, 0, nullptr, nullptr);
    }
    ::chmod(key.c_str(), 0600);
    const std::string said = ensure_existing(cert, key, test_now);
    EXPECT_NE(said.find("refused: the local CA " + cert.string() + " has no subjectKeyIdentifier"), std::string::npos)
        << said;
    EXPECT_NE(said.find("ca init --force"), std::string::npos) << said;
}

TEST(EnsureCa, ACorruptCertificateSaysHowToReplaceIt) {
    scratch_dir dir;
    const fs::path cert = dir.path() / "ca.pem", key = dir.path() / "ca.key";
    certificate_authority::create({"openrouter.ai"}, test_now).save(cert, key);
    write_text(cert, "-----BEGIN CERTIFICATE-----\ntruncated\n");
    const std::string said = ensure_existing(cert, key, test_now);
    EXPECT_NE(said.find("not a PEM certificate: " + cert.string()), std::string::npos) << said;
    EXPECT_NE(said.find("ca init --force"), std::string::npos) << said;
}

TEST(CertificateAuthority, LeafEndsWithACaEndingSooner) {
    const auto ca = certificate_authority::create({"openrouter.ai"}, test_now);
    const auto leaf = ca.mint_leaf("openrouter.ai", ca.not_after() - days(2));
    EXPECT_EQ(leaf.not_after, ca.not_after());
    EXPECT_EQ(ASN1_TIME_compare(X509_get0_notAfter(leaf.cert.get()), X509_get0_notAfter(ca.cert())), 0);
}

}  // namespace
}  // namespace orp::tls
