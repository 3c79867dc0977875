#include "support/scratch_dir.hpp"
#include "tls/leaf_cache.hpp"

#include "tls/contexts.hpp"

#include <gtest/gtest.h>

#include <latch>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace orp::tls {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono;

const system_clock::time_point test_now = sys_days{2030y / January / 15} + 12h;

using test::scratch_dir;

TEST(LeafCache, ReturnsTheSameIdentityForTheSameHost) {
    const auto ca = certificate_authority::create({"openrouter.ai"}, test_now);
    leaf_cache cache(ca);
    const auto first = cache.get("openrouter.ai", test_now);
    ASSERT_TRUE(first);
    ASSERT_TRUE(first->context);
    EXPECT_EQ(cache.get("openrouter.ai", test_now + 1h), first);
    EXPECT_EQ(cache.get("OpenRouter.AI", test_now), first);
}

TEST(LeafCache, MintsOnePerHost) {
    const auto ca = certificate_authority::create({"openrouter.ai"}, test_now);
    leaf_cache cache(ca);
    const auto apex = cache.get("openrouter.ai", test_now);
    const auto api = cache.get("api.openrouter.ai", test_now);
    ASSERT_TRUE(apex && api);
    EXPECT_NE(apex, api);
    EXPECT_EQ(X509_check_host(api->certificate.cert.get(), "api.openrouter.ai", 0, 0, nullptr), 1);
}

TEST(LeafCache, RemintsWithinRenewWindow) {
    const auto ca = certificate_authority::create({"openrouter.ai"}, test_now);
    leaf_cache cache(ca, hours(24 * 7), hours(24));
    const auto first = cache.get("openrouter.ai", test_now);
    ASSERT_TRUE(first);
    EXPECT_EQ(first->certificate.not_after, test_now + hours(24 * 7));
    EXPECT_EQ(cache.get("openrouter.ai", test_now + hours(24 * 6) - 1s), first);

    const auto renewed = cache.get("openrouter.ai", test_now + hours(24 * 6));
    ASSERT_TRUE(renewed);
    EXPECT_NE(renewed, first);
    EXPECT_EQ(renewed->certificate.not_after, test_now + hours(24 * 13));
    EXPECT_EQ(cache.get("openrouter.ai", test_now + hours(24 * 6) + 1h), renewed);
    EXPECT_TRUE(first->context) << "a connection holding the old identity keeps it";
}

TEST(LeafCache, LeavesEndWithACaEndingSoonerAndAreNotRemintedThen) {
    const auto ca = certificate_authority::create({"openrouter.ai"}, test_now);
    const auto late = ca.not_after() - hours(36);
    leaf_cache cache(ca, hours(24 * 7), hours(24));
    const auto last = cache.get("openrouter.ai", late);
    ASSERT_TRUE(last);
    EXPECT_EQ(last->certificate.not_after, ca.not_after()) << "a 7-day leaf would outlive its CA";
    EXPECT_EQ(cache.get("openrouter.ai", late + hours(24)), last) << "within the renew window, but no better leaf";
}

TEST(LeafCache, ConcurrentCallersShareOneMint) {
    const auto ca = certificate_authority::create({"openrouter.ai"}, test_now);
    // Released together, over and over with a fresh cache: a second mint would hand out another identity.
    for (int round = 0; round < 20; ++round) {
        leaf_cache fresh(ca);
        std::vector<std::shared_ptr<const server_identity>> seen(8);
        {
            std::latch start(static_cast<std::ptrdiff_t>(seen.size()));
            std::vector<std::jthread> threads;
            for (auto& slot : seen)
                threads.emplace_back([&] {
                    start.arrive_and_wait();
                    slot = fresh.get("openrouter.ai", test_now);
                });
        }
        for (const auto& identity : seen) ASSERT_EQ(identity, seen.front()) << "round " << round;
    }
}

TEST(LeafCache, RefusesHostOutsideNameConstraints) {
    const auto ca = certificate_authority::create({"openrouter.ai"}, test_now);
    leaf_cache cache(ca);
    EXPECT_EQ(cache.get("example.com", test_now), nullptr);
    EXPECT_EQ(cache.get("evilopenrouter.ai", test_now), nullptr);
}

struct handshake_result {
    bool client_ok = false;
    bool server_ok = false;
    long verify_result = X509_V_OK;
    std::string alpn;
};

// Both ends in memory over a BIO pair, stepped alternately until both finish or one fails.
handshake_result handshake(SSL_CTX* server_ctx, SSL_CTX* client_ctx, const std::string& host,
                           const std::string& client_alpn = "\x08http/1.1") {
    ssl_ptr server(SSL_new(server_ctx));
    ssl_ptr client(SSL_new(client_ctx));
    EXPECT_TRUE(configure_client_ssl(client.get(), host));
    SSL_set_alpn_protos(client.get(), reinterpret_cast<const unsigned char*>(client_alpn.data()),
                        static_cast<unsigned>(client_alpn.size()));
    BIO* client_bio = nullptr;
    BIO* server_bio = nullptr;
    BIO_new_bio_pair(&client_bio, 0, &server_bio, 0);
    SSL_set_bio(client.get(), client_bio, client_bio);
    SSL_set_bio(server.get(), server_bio, server_bio);
    SSL_set_connect_state(client.get());
    SSL_set_accept_state(server.get());

    handshake_result result;
    bool failed = false;
    auto step = [&](SSL* ssl, bool& done) {
        if (done || failed) return;
        const int rc = SSL_do_handshake(ssl);
        if (rc == 1) {
            done = true;
            return;
        }
        const int error = SSL_get_error(ssl, rc);
        failed = error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE;
    };
    for (int i = 0; i < 50 && !failed && !(result.client_ok && result.server_ok); ++i) {
        step(client.get(), result.client_ok);
        step(server.get(), result.server_ok);
    }
    result.verify_result = SSL_get_verify_result(client.get());
    const unsigned char* alpn = nullptr;
    unsigned alpn_length = 0;
    SSL_get0_alpn_selected(client.get(), &alpn, &alpn_length);
    if (alpn) result.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_length);
    ERR_clear_error();
    return result;
}

class TlsContexts : public ::testing::Test {
protected:
    void SetUp() override {
        ca_file_ = dir_.path() / "ca.pem";
        std::ofstream(ca_file_) << ca_.cert_pem();
        identity_ = cache_.get("openrouter.ai", system_clock::now());
        ASSERT_TRUE(identity_);
    }

    scratch_dir dir_;
    fs::path ca_file_;
    certificate_authority ca_ = certificate_authority::create({"openrouter.ai"}, system_clock::now());
    leaf_cache cache_{ca_};
    std::shared_ptr<const server_identity> identity_;
};

TEST_F(TlsContexts, HandshakeNegotiatesHttp11AndVerifiesTheHost) {
    const auto client = make_client_context(ca_file_);
    const auto result = handshake(identity_->context.get(), client.get(), "openrouter.ai");
    EXPECT_TRUE(result.client_ok);
    EXPECT_TRUE(result.server_ok);
    EXPECT_EQ(result.verify_result, X509_V_OK) << X509_verify_cert_error_string(result.verify_result);
    EXPECT_EQ(result.alpn, "http/1.1");
}

TEST_F(TlsContexts, HandshakeFailsForAWrongHost) {
    const auto client = make_client_context(ca_file_);
    const auto result = handshake(identity_->context.get(), client.get(), "example.com");
    EXPECT_FALSE(result.client_ok);
    EXPECT_EQ(result.verify_result, X509_V_ERR_HOSTNAME_MISMATCH);
}

TEST_F(TlsContexts, HandshakeFailsWhenTheCaIsNotTrusted) {
    const auto client = make_client_context({});
    const auto result = handshake(identity_->context.get(), client.get(), "openrouter.ai");
    EXPECT_FALSE(result.client_ok);
    EXPECT_NE(result.verify_result, X509_V_OK);
}

TEST_F(TlsContexts, ServerRefusesAClientOfferingOnlyH2) {
    const auto client = make_client_context(ca_file_);
    const auto result = handshake(identity_->context.get(), client.get(), "openrouter.ai", "\x02h2");
    EXPECT_FALSE(result.client_ok);
    EXPECT_FALSE(result.server_ok);
}

TEST_F(TlsContexts, ServerPrefersHttp11AndServesAnHttp10Client) {
    const auto client = make_client_context(ca_file_);
    EXPECT_EQ(handshake(identity_->context.get(), client.get(), "openrouter.ai", std::string("\x08http/1.0", 9)).alpn,
              "http/1.0");
    const auto both = handshake(identity_->context.get(), client.get(), "openrouter.ai",
                                std::string("\x02h2\x08http/1.0\x08http/1.1", 21));
    EXPECT_TRUE(both.server_ok);
    EXPECT_EQ(both.alpn, "http/1.1");
}

TEST_F(TlsContexts, ServerAcceptsAClientWithoutAlpn) {
    const auto client = make_client_context(ca_file_);
    const auto result = handshake(identity_->context.get(), client.get(), "openrouter.ai", "");
    EXPECT_TRUE(result.client_ok);
    EXPECT_TRUE(result.server_ok);
    EXPECT_EQ(result.alpn, "");
}

TEST_F(TlsContexts, ServerRefusesTls11) {
    const auto client = make_client_context(ca_file_);
    SSL_CTX_set_min_proto_version(client.get(), TLS1_VERSION);
    SSL_CTX_set_max_proto_version(client.get(), TLS1_1_VERSION);
    // OpenSSL's default security level refuses TLS 1.1 by itself: the floor must be our own setting.
    EXPECT_EQ(SSL_CTX_get_min_proto_version(identity_->context.get()), TLS1_2_VERSION);
    const auto result = handshake(identity_->context.get(), client.get(), "openrouter.ai");
    EXPECT_FALSE(result.client_ok);
    EXPECT_FALSE(result.server_ok);
}

TEST_F(TlsContexts, ClientContextNamesAMissingOrBadCaFile) {
    for (const fs::path& bad : {dir_.path() / "missing.pem", dir_.path() / "garbage.pem"}) {
        if (bad.filename() == "garbage.pem") std::ofstream(bad) << "not a certificate\n";
        try {
            make_client_context(bad);
            ADD_FAILURE() << "expected tls_error for " << bad;
        } catch (const tls_error& e) {
            EXPECT_NE(std::string(e.what()).find(bad.string()), std::string::npos) << e.what();
        }
    }
}

TEST(ConfigureClientSsl, AcceptsNamesAndIpLiterals) {
    const auto ctx = make_client_context({});
    ssl_ptr by_name(SSL_new(ctx.get()));
    EXPECT_TRUE(configure_client_ssl(by_name.get(), "openrouter.ai"));
    EXPECT_STREQ(SSL_get_servername(by_name.get(), TLSEXT_NAMETYPE_host_name), "openrouter.ai");
    ssl_ptr by_ip(SSL_new(ctx.get()));
    EXPECT_TRUE(configure_client_ssl(by_ip.get(), "127.0.0.1"));
    EXPECT_EQ(SSL_get_servername(by_ip.get(), TLSEXT_NAMETYPE_host_name), nullptr) << "RFC 6066: no IP in SNI";
}

}  // namespace
}  // namespace orp::tls
