#include <gtest/gtest.h>

#include <openssl/bio.h>
#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "tls/openssl_ptr.hpp"
#include "proxy/sni.hpp"

namespace {

using orp::proxy::peek_sni;
using orp::proxy::sni_status;

using orp::tls::ssl_ctx_ptr;
using orp::tls::ssl_ptr;

// The first flight of a real OpenSSL client: its ClientHello as written to a memory BIO.
std::string client_hello(const char* host_name) {
  const ssl_ctx_ptr context(SSL_CTX_new(TLS_client_method()));
  EXPECT_TRUE(context);
  const ssl_ptr ssl(SSL_new(context.get()));
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl.get(), in, out);  // ssl owns both now
  if (host_name != nullptr) {
    EXPECT_EQ(SSL_set_tlsext_host_name(ssl.get(), host_name), 1);
  }
  SSL_set_connect_state(ssl.get());
  EXPECT_EQ(SSL_do_handshake(ssl.get()), -1);  // waits for the ServerHello
  char* data = nullptr;
  const long size = BIO_get_mem_data(out, &data);
  return std::string(data, static_cast<std::size_t>(size));
}

// The same handshake message re-framed into records of at most `fragment` bytes.
std::string reframe(const std::string& records, std::size_t fragment) {
  const std::string message = records.substr(5);
  std::string out;
  for (std::size_t at = 0; at < message.size(); at += fragment) {
    const std::string piece = message.substr(at, fragment);
    out += records.substr(0, 3);
    out += static_cast<char>(piece.size() >> 8);
    out += static_cast<char>(piece.size() & 0xff);
    out += piece;
  }
  return out;
}

TEST(Sni, FoundInRealClientHello) {
  const std::string hello = client_hello("openrouter.ai");
  ASSERT_GT(hello.size(), 100u);
  const auto result = peek_sni(hello);
  EXPECT_EQ(result.status, sni_status::found);
  EXPECT_EQ(result.host_name, "openrouter.ai");
  EXPECT_EQ(peek_sni(hello + "trailing early data").host_name, "openrouter.ai");
}

TEST(Sni, EveryPrefixNeedsMore) {
  const std::string hello = client_hello("openrouter.ai");
  for (std::size_t cut = 0; cut < hello.size(); ++cut) {
    ASSERT_EQ(peek_sni(hello.substr(0, cut)).status, sni_status::need_more) << "prefix " << cut;
  }
  EXPECT_EQ(peek_sni(hello).status, sni_status::found);
}

TEST(Sni, SpansSeveralRecords) {
  const std::string split = reframe(client_hello("api.openrouter.ai"), 100);
  for (std::size_t cut = 0; cut < split.size(); ++cut) {
    ASSERT_EQ(peek_sni(split.substr(0, cut)).status, sni_status::need_more) << "prefix " << cut;
  }
  EXPECT_EQ(peek_sni(split).host_name, "api.openrouter.ai");
  EXPECT_EQ(peek_sni(reframe(client_hello("openrouter.ai"), 1)).host_name, "openrouter.ai");
}

TEST(Sni, HostNameIsLowerCased) {
  EXPECT_EQ(peek_sni(client_hello("OpenRouter.AI")).host_name, "openrouter.ai");
}

TEST(Sni, AbsentWithoutServerName) {
  const auto result = peek_sni(client_hello(nullptr));
  EXPECT_EQ(result.status, sni_status::absent);
  EXPECT_EQ(result.host_name, "");
}

TEST(Sni, GarbageIsNotTls) {
  EXPECT_EQ(peek_sni("GET / HTTP/1.1\r\n").status, sni_status::not_tls);
  EXPECT_EQ(peek_sni("\x05\x01\x00").status, sni_status::not_tls);
  EXPECT_EQ(peek_sni(std::string("\x16\x02", 2)).status, sni_status::not_tls);
  EXPECT_EQ(peek_sni(std::string("\x16\x03\x01\x00\x00", 5)).status, sni_status::not_tls);  // empty record
  EXPECT_EQ(peek_sni(std::string("\x16\x03\x01\x48\x01", 5)).status, sni_status::not_tls);  // > 2^14
  EXPECT_EQ(peek_sni(std::string("\x16\x03\x01\x00\x04\x02\x00\x00\x00", 9)).status, sni_status::not_tls);
  EXPECT_EQ(peek_sni(std::string("\x16\x03\x01\x00\x04\x01\x00\x00\x00", 9)).status, sni_status::not_tls);
  EXPECT_EQ(peek_sni(std::string("\x16\x03\x01\x00\x04\x01\xff\xff\xff", 9)).status, sni_status::not_tls);
  EXPECT_EQ(peek_sni("").status, sni_status::need_more);
}

TEST(Sni, CorruptedLengthsAreNotTls) {
  const std::string hello = client_hello("openrouter.ai");
  // Byte 43 is the session id length (5 record + 4 handshake + 2 version + 32 random).
  std::string bad_session = hello;
  bad_session[43] = static_cast<char>(0xff);
  EXPECT_EQ(peek_sni(bad_session).status, sni_status::not_tls);
  // Every single-byte corruption is either still parsed or refused; none may crash or misread.
  for (std::size_t i = 0; i < hello.size(); ++i) {
    std::string mutated = hello;
    mutated[i] = static_cast<char>(mutated[i] ^ 0x5a);
    const auto result = peek_sni(mutated);
    if (result.status == sni_status::found) {
      EXPECT_FALSE(result.host_name.empty());
    }
  }
}

}  // namespace
