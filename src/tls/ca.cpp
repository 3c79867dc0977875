#include "tls/ca.hpp"

#include "util/atomic_file.hpp"
#include "util/ascii.hpp"
#include "util/file_mode.hpp"

#include <openssl/pem.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace orp::tls {
namespace {

namespace fs = std::filesystem;
using std::chrono::system_clock;

constexpr auto ca_validity = std::chrono::days(3650);
// How long before the CA's end a start warns: time to make a new one and roll it out to clients.
constexpr auto ca_expiry_warning = std::chrono::days(30);
constexpr const char* replace_hint =
    "run `openrouter-proxy ca init --force` to replace it, then trust the new CA in your clients";
// Leaves and the CA start an hour early so a client whose clock lags still accepts them.
constexpr auto clock_skew = std::chrono::hours(1);

[[noreturn]] void fail(const std::string& what) {
    throw tls_error(what + ": " + openssl_error_string());
}

void check(long result, const char* what) {
    if (result <= 0) fail(what);
}

bool is_dns_name(std::string_view host) {
    if (host.empty() || host.size() > 253 || host.front() == '.' || host.back() == '.') return false;
    return std::ranges::all_of(host, [](unsigned char c) {
        return std::isalnum(c) || c == '-' || c == '.' || c == '_';
    });
}

std::string checked_host(std::string_view host) {
    if (!is_dns_name(host)) throw tls_error("not a DNS host name: '" + std::string(host) + "'");
    return util::lowercase(host);
}

evp_pkey_ptr generate_p256_key() {
    evp_pkey_ptr key(EVP_EC_gen("P-256"));
    if (!key) fail("cannot generate an ECDSA P-256 key");
    return key;
}

// A certificate built in memory has no saved encoding, so OpenSSL encodes it afresh each time it
// is written: twice per handshake for the Certificate message. Parsed from DER it keeps the bytes
// it was read from and writing it is a copy.
x509_ptr reparsed(X509* cert) {
    unsigned char* der = nullptr;
    const int length = i2d_X509(cert, &der);
    if (length <= 0) fail("cannot encode the leaf certificate");
    const unsigned char* cursor = der;
    x509_ptr parsed(d2i_X509(nullptr, &cursor, length));
    OPENSSL_free(der);
    if (!parsed) fail("cannot read back the leaf certificate");
    return parsed;
}

// RFC 5280 4.1.2.2: positive, at most 20 octets. Bit 127 clear keeps it positive, bit 126 set
// keeps it exactly 16 octets long.
void set_random_serial(X509* cert) {
    std::array<unsigned char, 16> bytes{};
    check(RAND_bytes(bytes.data(), static_cast<int>(bytes.size())), "cannot draw a random serial");
    bytes[0] = static_cast<unsigned char>((bytes[0] & 0x7f) | 0x40);
    bignum_ptr serial(BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr));
    if (!serial || !BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert))) fail("cannot set the serial");
}

void set_validity(X509* cert, system_clock::time_point from, system_clock::time_point to) {
    if (!ASN1_TIME_set(X509_getm_notBefore(cert), system_clock::to_time_t(from)) ||
        !ASN1_TIME_set(X509_getm_notAfter(cert), system_clock::to_time_t(to)))
        fail("cannot set the validity period");
}

system_clock::time_point time_of(const ASN1_TIME* t) {
    std::tm tm{};
    if (!ASN1_TIME_to_tm(t, &tm)) fail("cannot read a validity date");
    return system_clock::from_time_t(::timegm(&tm));
}

std::string date_text(system_clock::time_point t) {
    const std::time_t seconds = system_clock::to_time_t(t);
    std::tm tm{};
    char text[32] = "?";
    if (::gmtime_r(&seconds, &tm)) std::strftime(text, sizeof text, "%Y-%m-%d %H:%M UTC", &tm);
    return text;
}

void set_subject(X509* cert, const std::string& common_name, const char* organization) {
    X509_NAME* name = X509_get_subject_name(cert);
    auto add = [&](const char* field, const std::string& value) {
        check(X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                         reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1, 0),
              "cannot build the subject name");
    };
    if (organization) add("O", organization);
    add("CN", common_name);
}

void add_extension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
    x509_extension_ptr ext(X509V3_EXT_nconf_nid(nullptr, ctx, nid, value));
    if (!ext) fail(std::string("cannot build extension ") + OBJ_nid2sn(nid));
    check(X509_add_ext(cert, ext.get(), -1), "cannot add an extension");
}

general_name_ptr dns_name(std::string_view host) {
    general_name_ptr name(GENERAL_NAME_new());
    ASN1_IA5STRING* text = ASN1_IA5STRING_new();
    if (!name || !text || !ASN1_STRING_set(text, host.data(), static_cast<int>(host.size()))) {
        ASN1_IA5STRING_free(text);
        fail("cannot build a dNSName");
    }
    GENERAL_NAME_set0_value(name.get(), GEN_DNS, text);
    return name;
}

// RFC 5280 4.2.1.10: an iPAddress constraint is address then mask; all zeros is "every address".
general_name_ptr every_ip_address(std::size_t address_bytes) {
    const std::string zeros(2 * address_bytes, '\0');
    general_name_ptr name(GENERAL_NAME_new());
    asn1_octet_string_ptr range(ASN1_OCTET_STRING_new());
    if (!name || !range || !ASN1_OCTET_STRING_set(range.get(), reinterpret_cast<const unsigned char*>(zeros.data()),
                                                  static_cast<int>(zeros.size())))
        fail("cannot build an iPAddress range");
    GENERAL_NAME_set0_value(name.get(), GEN_IPADD, range.release());
    return name;
}

void push_subtree(STACK_OF(GENERAL_SUBTREE) * &subtrees, general_name_ptr base) {
    if (!subtrees && !(subtrees = sk_GENERAL_SUBTREE_new_null())) fail("cannot build name constraints");
    general_subtree_ptr subtree(GENERAL_SUBTREE_new());
    if (!subtree) fail("cannot build name constraints");
    // GENERAL_SUBTREE_new already allocates an empty base; replace it, don't leak it.
    GENERAL_NAME_free(subtree->base);
    subtree->base = base.release();
    if (!sk_GENERAL_SUBTREE_push(subtrees, subtree.get())) fail("cannot build name constraints");
    subtree.release();
}

void add_name_constraints(X509* cert, const std::vector<std::string>& hosts) {
    name_constraints_ptr constraints(NAME_CONSTRAINTS_new());
    if (!constraints) fail("cannot build name constraints");
    for (const auto& host : hosts) push_subtree(constraints->permittedSubtrees, dns_name(host));
    push_subtree(constraints->excludedSubtrees, every_ip_address(4));
    push_subtree(constraints->excludedSubtrees, every_ip_address(16));
    check(X509_add1_ext_i2d(cert, NID_name_constraints, constraints.get(), 1, X509V3_ADD_DEFAULT),
          "cannot add name constraints");
}

// X509_get_ext_d2i cannot tell "absent" from "malformed" by its result alone; `state` can.
struct parsed_constraints {
    name_constraints_ptr constraints;
    bool present = false;
};

parsed_constraints read_name_constraints(const X509* cert) {
    int state = -1;
    name_constraints_ptr constraints(
        static_cast<NAME_CONSTRAINTS*>(X509_get_ext_d2i(cert, NID_name_constraints, &state, nullptr)));
    return {std::move(constraints), state != -1};
}

std::vector<std::string> dns_bases(const STACK_OF(GENERAL_SUBTREE) * subtrees) {
    std::vector<std::string> bases;
    for (int i = 0; i < sk_GENERAL_SUBTREE_num(subtrees); ++i) {
        const GENERAL_NAME* base = sk_GENERAL_SUBTREE_value(subtrees, i)->base;
        if (base->type != GEN_DNS) continue;
        const auto* data = reinterpret_cast<const char*>(ASN1_STRING_get0_data(base->d.dNSName));
        bases.push_back(util::lowercase({data, static_cast<std::size_t>(ASN1_STRING_length(base->d.dNSName))}));
    }
    return bases;
}

// RFC 5280 4.2.1.10: "host.example.com" matches itself and any name with labels added on the
// left; a leading dot (an OpenSSL and common-practice extension) means subdomains only.
bool dns_subtree_matches(std::string_view base, std::string_view host) {
    if (base.empty()) return true;
    if (host.size() < base.size() || !host.ends_with(base)) return false;
    if (host.size() == base.size() || base.front() == '.') return true;
    return host[host.size() - base.size() - 1] == '.';
}

template <typename Write>
std::string to_pem(Write write, const char* what) {
    bio_ptr bio(BIO_new(BIO_s_mem()));
    if (!bio || !write(bio.get())) fail(std::string("cannot encode ") + what);
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio.get(), &data);
    std::string pem(data, static_cast<std::size_t>(size));
    OPENSSL_cleanse(data, static_cast<std::size_t>(size));
    return pem;
}

std::string read_file(const fs::path& path, const char* what) {
    std::error_code ec;
    if (!fs::exists(path, ec)) throw tls_error(std::string(what) + " not found: " + path.string());
    if (!fs::is_regular_file(path, ec)) throw tls_error(std::string(what) + " is not a file: " + path.string());
    std::ifstream in(path, std::ios::binary);
    if (!in) throw tls_error(std::string("cannot read ") + what + " " + path.string() + ": " + std::strerror(errno));
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Without a callback PEM_read_* prompts for a passphrase on the terminal; refuse instead.
int no_passphrase(char*, int, int, void*) { return 0; }

// A dangling symlink or an unreadable directory still counts: only "no such file" is missing.
bool path_exists(const fs::path& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0 || errno != ENOENT;
}

// SPEC: the CA key is mode 0600. A key file open to group or others is tightened rather than
// refused, so that an unpacked backup or a careless cp does not stop the proxy; the caller warns.
std::string restrict_key_mode(const fs::path& key) {
    const auto mode = util::mode_open_to_others(key);
    if (!mode) return {};
    if (::chmod(key.c_str(), 0600) != 0)
        throw tls_error("CA key " + key.string() + " is open to group or others (mode " + util::octal_mode(*mode) +
                        ") and cannot be set to 0600: " + std::strerror(errno) + "; run chmod 600 " + key.string());
    return "CA key " + key.string() + " was open to group or others (mode " + util::octal_mode(*mode) +
           "); set it to 0600";
}

// A CA outside its validity makes every client fail with "certificate has expired" (or "not yet
// valid"), one connection at a time: refused at start instead, with the fix.
void check_validity(const certificate_authority& ca, const fs::path& cert, system_clock::time_point now,
                    std::vector<std::string>& warnings) {
    if (now < ca.not_before())
        throw tls_error("the local CA " + cert.string() + " is not valid before " + date_text(ca.not_before()) +
                        " (is this machine's clock right?); " + replace_hint);
    if (now >= ca.not_after())
        throw tls_error("the local CA " + cert.string() + " expired on " + date_text(ca.not_after()) +
                        ": clients refuse every certificate it signs; " + replace_hint);
    if (ca.not_after() - now < ca_expiry_warning) {
        const auto days = std::chrono::floor<std::chrono::days>(ca.not_after() - now).count();
        const std::string in = days == 0 ? "less than a day" : days == 1 ? "1 day" : std::to_string(days) + " days";
        warnings.push_back("the local CA " + cert.string() + " expires on " + date_text(ca.not_after()) + " (in " + in +
                           "), and intercepted clients fail from then on: " + replace_hint + ", before then");
    }
}

// Leaves carry an authorityKeyIdentifier copied from the CA's subjectKeyIdentifier, and strict
// clients (Python 3.13's default context) require both; without it no leaf could be signed.
void check_can_sign(const certificate_authority& ca, const fs::path& cert, const std::vector<std::string>& hosts,
                    system_clock::time_point now) {
    if (!X509_get0_subject_key_id(ca.cert()))
        throw tls_error("the local CA " + cert.string() + " has no subjectKeyIdentifier extension, which the "
                        "certificates it signs need; " + replace_hint + " (or re-issue it with "
                        "subjectKeyIdentifier = hash)");
    try {
        if (!hosts.empty()) ca.mint_leaf(hosts.front(), now);
    } catch (const tls_error& e) {
        throw tls_error("the local CA " + cert.string() + " cannot sign a certificate for " + hosts.front() + " (" +
                        e.what() + "); " + replace_hint);
    }
}

void check_permits(const certificate_authority& ca, const fs::path& cert, const std::vector<std::string>& hosts) {
    for (const auto& host : hosts) {
        if (ca.permits(host)) continue;
        std::string permitted;
        for (const auto& base : ca.permitted_hosts()) permitted += (permitted.empty() ? "" : ", ") + base;
        throw tls_error("the local CA " + cert.string() + " does not permit '" + host + "' (it permits: " +
                        permitted + "); run `openrouter-proxy ca init --force` to replace it, then trust "
                        "the new CA in your clients");
    }
}

}  // namespace

certificate_authority::certificate_authority(x509_ptr cert, evp_pkey_ptr key)
    : cert_(std::move(cert)), key_(std::move(key)) {}

certificate_authority certificate_authority::create(const std::vector<std::string>& permitted_hosts,
                                                    system_clock::time_point now) {
    if (permitted_hosts.empty()) throw tls_error("the local CA needs at least one host to permit");
    std::vector<std::string> hosts;
    for (const auto& host : permitted_hosts) hosts.push_back(checked_host(host));

    evp_pkey_ptr key = generate_p256_key();
    x509_ptr cert(X509_new());
    if (!cert) fail("cannot allocate a certificate");
    check(X509_set_version(cert.get(), X509_VERSION_3), "cannot set the version");
    set_random_serial(cert.get());
    set_subject(cert.get(), "openrouter-proxy local CA", "openrouter-proxy");
    check(X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get())), "cannot set the issuer");
    set_validity(cert.get(), now - clock_skew, now + ca_validity);
    check(X509_set_pubkey(cert.get(), key.get()), "cannot set the public key");

    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
    add_extension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
    add_extension(cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
    add_extension(cert.get(), &ctx, NID_subject_key_identifier, "hash");
    add_extension(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always");
    add_name_constraints(cert.get(), hosts);
    check(X509_sign(cert.get(), key.get(), EVP_sha256()), "cannot sign the CA certificate");
    return {std::move(cert), std::move(key)};
}

certificate_authority certificate_authority::load(const fs::path& cert_path, const fs::path& key_path) {
    const std::string cert_text = read_file(cert_path, "CA certificate");
    bio_ptr cert_bio(BIO_new_mem_buf(cert_text.data(), static_cast<int>(cert_text.size())));
    x509_ptr cert(cert_bio ? PEM_read_bio_X509(cert_bio.get(), nullptr, no_passphrase, nullptr) : nullptr);
    if (!cert) fail("not a PEM certificate: " + cert_path.string() + "; " + replace_hint);
    if (X509_check_ca(cert.get()) == 0)
        throw tls_error("not a CA certificate: " + cert_path.string() + "; " + replace_hint);

    std::string key_text = read_file(key_path, "CA key");
    bio_ptr key_bio(BIO_new_mem_buf(key_text.data(), static_cast<int>(key_text.size())));
    evp_pkey_ptr key(key_bio ? PEM_read_bio_PrivateKey(key_bio.get(), nullptr, no_passphrase, nullptr) : nullptr);
    OPENSSL_cleanse(key_text.data(), key_text.size());
    if (!key) fail("not an unencrypted PEM private key: " + key_path.string() + "; " + replace_hint);
    if (X509_check_private_key(cert.get(), key.get()) != 1) {
        ERR_clear_error();
        throw tls_error("CA key " + key_path.string() + " does not match certificate " + cert_path.string() + "; " +
                        replace_hint);
    }
    return {std::move(cert), std::move(key)};
}

void certificate_authority::save(const fs::path& cert_path, const fs::path& key_path) const {
    std::string key_pem = to_pem(
        [&](BIO* bio) { return PEM_write_bio_PrivateKey(bio, key_.get(), nullptr, nullptr, 0, nullptr, nullptr); },
        "the CA key");
    try {
        // The key goes first: a crash between the two renames leaves a pair load() reports as mismatched.
        util::write_file_atomically(key_path, key_pem, 0600);
        OPENSSL_cleanse(key_pem.data(), key_pem.size());
        util::write_file_atomically(cert_path, cert_pem(), 0644);
    } catch (const util::file_error& e) {
        OPENSSL_cleanse(key_pem.data(), key_pem.size());
        throw tls_error(e.what());
    }
}

system_clock::time_point certificate_authority::not_before() const { return time_of(X509_get0_notBefore(cert_.get())); }

system_clock::time_point certificate_authority::not_after() const { return time_of(X509_get0_notAfter(cert_.get())); }

bool certificate_authority::permits(std::string_view host) const {
    if (!is_dns_name(host)) return false;
    const auto [constraints, present] = read_name_constraints(cert_.get());
    if (!present) return true;
    if (!constraints) return false;
    const std::string name = util::lowercase(host);
    for (const auto& base : dns_bases(constraints->excludedSubtrees))
        if (dns_subtree_matches(base, name)) return false;
    const auto permitted = dns_bases(constraints->permittedSubtrees);
    return permitted.empty() ||
           std::ranges::any_of(permitted, [&](const auto& base) { return dns_subtree_matches(base, name); });
}

std::vector<std::string> certificate_authority::permitted_hosts() const {
    const auto parsed = read_name_constraints(cert_.get());
    if (!parsed.constraints) return {};
    return dns_bases(parsed.constraints->permittedSubtrees);
}

std::string certificate_authority::cert_pem() const {
    return to_pem([&](BIO* bio) { return PEM_write_bio_X509(bio, cert_.get()); }, "the CA certificate");
}

leaf certificate_authority::mint_leaf(std::string_view host, system_clock::time_point now,
                                      std::chrono::hours validity) const {
    const std::string name = checked_host(host);
    const auto not_after = std::min<system_clock::time_point>(std::chrono::floor<std::chrono::seconds>(now + validity), this->not_after());

    evp_pkey_ptr key = generate_p256_key();
    x509_ptr cert(X509_new());
    if (!cert) fail("cannot allocate a certificate");
    check(X509_set_version(cert.get(), X509_VERSION_3), "cannot set the version");
    set_random_serial(cert.get());
    set_subject(cert.get(), name, nullptr);
    check(X509_set_issuer_name(cert.get(), X509_get_subject_name(cert_.get())), "cannot set the issuer");
    set_validity(cert.get(), now - clock_skew, not_after);
    check(X509_set_pubkey(cert.get(), key.get()), "cannot set the public key");

    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, cert_.get(), cert.get(), nullptr, nullptr, 0);
    add_extension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature");
    add_extension(cert.get(), &ctx, NID_ext_key_usage, "serverAuth");
    add_extension(cert.get(), &ctx, NID_subject_key_identifier, "hash");
    add_extension(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always");

    general_names_ptr names(GENERAL_NAMES_new());
    general_name_ptr dns = dns_name(name);
    if (!names || !sk_GENERAL_NAME_push(names.get(), dns.get())) fail("cannot build the subjectAltName");
    dns.release();
    check(X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT),
          "cannot add the subjectAltName");
    check(X509_sign(cert.get(), key_.get(), EVP_sha256()), "cannot sign the leaf certificate");
    return {reparsed(cert.get()), std::move(key), not_after};
}

ca_outcome ensure_ca(const fs::path& cert, const fs::path& key, const std::vector<std::string>& hosts, bool force,
                     system_clock::time_point now) {
    if (!force) {
        const bool have_cert = path_exists(cert);
        const bool have_key = path_exists(key);
        if (have_cert != have_key) {
            const fs::path& missing = have_cert ? key : cert;
            throw tls_error("the local CA is incomplete: " + (have_cert ? cert : key).string() + " exists but " +
                            missing.string() + " is missing; restore " + missing.string() +
                            ", or run `openrouter-proxy ca init --force` to make a new CA that every client "
                            "must then trust again");
        }
        if (have_cert) {
            ca_outcome outcome{ca_status::existed, {}};
            if (auto warning = restrict_key_mode(key); !warning.empty()) outcome.warnings.push_back(warning);
            const auto ca = certificate_authority::load(cert, key);
            check_validity(ca, cert, now, outcome.warnings);
            check_permits(ca, cert, hosts);
            check_can_sign(ca, cert, hosts, now);
            return outcome;
        }
    }
    certificate_authority::create(hosts, now).save(cert, key);
    return {ca_status::created, {}};
}

}  // namespace orp::tls
