#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "proxy/proxy_auth.hpp"

namespace {

using orp::proxy::client_credentials;
using orp::proxy::decode_base64;

// base64("alice:s3cret") and base64("bob:pa:ss").
constexpr const char* alice_basic = "YWxpY2U6czNjcmV0";
constexpr const char* bob_basic = "Ym9iOnBhOnNz";

std::string error_of(std::string_view setting) {
  try {
    client_credentials parsed(setting);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no error";
}

TEST(ProxyAuth, ParsesClients) {
  const client_credentials clients(" alice:s3cret , bob:pa:ss,, ");
  EXPECT_FALSE(clients.empty());
  EXPECT_EQ(clients.names(), (std::vector<std::string>{"alice", "bob"}));
  EXPECT_TRUE(client_credentials("").empty());
  EXPECT_TRUE(client_credentials(" , ").empty());
  EXPECT_TRUE(client_credentials().empty());
}

TEST(ProxyAuth, MalformedEntriesNameThePositionNotTheSecret) {
  EXPECT_EQ(error_of("alice:s3cret,bob"),
            "proxy.clients entry 2 has no ':' (expected name:secret,name2:secret2)");
  EXPECT_NE(error_of(":hunter2").find("entry 1 has an empty name"), std::string::npos);
  EXPECT_NE(error_of("alice:").find("entry 1 (alice) has an empty secret"), std::string::npos);
  EXPECT_NE(error_of("al ice:hunter2").find("whitespace"), std::string::npos);
  EXPECT_NE(error_of("alice:hun ter2").find("whitespace"), std::string::npos);
  EXPECT_NE(error_of("alice:hunter2,alice:other").find("repeats a name"), std::string::npos);
  EXPECT_NE(error_of("alice:hunter2,bob:hunter2").find("same secret as alice"), std::string::npos);
  for (const char* setting : {"alice:hun ter2", "alice:hunter2,bob:hunter2", "alice:hunter2,alice:other"}) {
    EXPECT_EQ(error_of(setting).find("hunter2"), std::string::npos) << setting;
  }
}

TEST(ProxyAuth, BasicMatches) {
  const client_credentials clients("alice:s3cret,bob:pa:ss");
  EXPECT_EQ(clients.check_basic(std::string("Basic ") + alice_basic), "alice");
  EXPECT_EQ(clients.check_basic(std::string("basic ") + alice_basic), "alice");
  EXPECT_EQ(clients.check_basic(std::string("BASIC   ") + alice_basic + " "), "alice");
  EXPECT_EQ(clients.check_basic(std::string("bAsIc ") + bob_basic), "bob");
}

TEST(ProxyAuth, BasicRejects) {
  const client_credentials clients("alice:s3cret,bob:pa:ss");
  EXPECT_EQ(clients.check_basic("Basic YWxpY2U6d3Jvbmc="), std::nullopt);  // alice:wrong
  EXPECT_EQ(clients.check_basic("Basic Ym9iOnMzY3JldA=="), std::nullopt);  // bob:s3cret
  EXPECT_EQ(clients.check_basic("Basic YWxpY2U="), std::nullopt);          // alice, no colon
  EXPECT_EQ(clients.check_basic("Basic !!!!"), std::nullopt);
  EXPECT_EQ(clients.check_basic("Basic YWxpY2U6czNjcmV"), std::nullopt);  // not a multiple of 4
  EXPECT_EQ(clients.check_basic("Basic YWxpY2U6 czNjcmV0"), std::nullopt);
  EXPECT_EQ(clients.check_basic(std::string("Bearer ") + alice_basic), std::nullopt);
  EXPECT_EQ(clients.check_basic(std::string("Basic") + alice_basic), std::nullopt);
  EXPECT_EQ(clients.check_basic("Basic "), std::nullopt);
  EXPECT_EQ(clients.check_basic(""), std::nullopt);
}

TEST(ProxyAuth, PairAndBearer) {
  const client_credentials clients("alice:s3cret,bob:pa:ss");
  EXPECT_EQ(clients.check_pair("alice", "s3cret"), "alice");
  EXPECT_EQ(clients.check_pair("bob", "pa:ss"), "bob");
  EXPECT_EQ(clients.check_pair("alice", "pa:ss"), std::nullopt);
  EXPECT_EQ(clients.check_pair("alice", "s3cre"), std::nullopt);
  EXPECT_EQ(clients.check_pair("", ""), std::nullopt);
  EXPECT_EQ(clients.check_bearer("Bearer pa:ss"), "bob");
  EXPECT_EQ(clients.check_bearer("bearer s3cret"), "alice");
  EXPECT_EQ(clients.check_bearer("Bearer alice"), std::nullopt);
  EXPECT_EQ(clients.check_bearer("Bearer alice:s3cret"), std::nullopt);  // the secret alone, never name:secret
  EXPECT_EQ(clients.check_bearer("Bearer "), std::nullopt);
  EXPECT_EQ(clients.check_bearer("Basic s3cret"), std::nullopt);
  EXPECT_EQ(clients.check_bearer("Bearer s3cret extra"), std::nullopt);
}

TEST(ProxyAuth, EmptyConfigMatchesNothing) {
  const client_credentials clients;
  EXPECT_EQ(clients.check_basic(std::string("Basic ") + alice_basic), std::nullopt);
  EXPECT_EQ(clients.check_pair("alice", "s3cret"), std::nullopt);
  EXPECT_EQ(clients.check_bearer("Bearer s3cret"), std::nullopt);
}

TEST(ProxyAuth, StrictBase64) {
  // RFC 4648 section 10.
  EXPECT_EQ(decode_base64(""), "");
  EXPECT_EQ(decode_base64("Zg=="), "f");
  EXPECT_EQ(decode_base64("Zm8="), "fo");
  EXPECT_EQ(decode_base64("Zm9v"), "foo");
  EXPECT_EQ(decode_base64("Zm9vYg=="), "foob");
  EXPECT_EQ(decode_base64("Zm9vYmE="), "fooba");
  EXPECT_EQ(decode_base64("Zm9vYmFy"), "foobar");
  EXPECT_EQ(decode_base64("+/+/"), std::string("\xfb\xff\xbf"));
  EXPECT_EQ(decode_base64("Zg="), std::nullopt);
  EXPECT_EQ(decode_base64("Zg"), std::nullopt);
  EXPECT_EQ(decode_base64("Zh=="), std::nullopt);  // non-zero bits under the padding
  EXPECT_EQ(decode_base64("Z==="), std::nullopt);
  EXPECT_EQ(decode_base64("Zg==Zg=="), std::nullopt);
  EXPECT_EQ(decode_base64("Zm9v\n"), std::nullopt);
  EXPECT_EQ(decode_base64("Zm-_"), std::nullopt);  // base64url is not accepted
}

}  // namespace
