#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <type_traits>

#include "keys/api_key.hpp"

namespace {

using orp::keys::api_key;
using orp::keys::mask_secret;
using orp::keys::mask_secrets;

template <class T>
concept streamable = requires(std::ostream& out, const T& value) { out << value; };

static_assert(!streamable<api_key>, "a key must not be printable by accident");
static_assert(!std::is_convertible_v<api_key, std::string>);
static_assert(!std::is_convertible_v<api_key, std::string_view>);
static_assert(!std::is_convertible_v<std::string, api_key>, "construction is explicit");

constexpr const char* secret = "sk-or-v1-test-alpha-0000-3f9a";

TEST(KeysApiKey, DisplayIsTheLabelWhenThereIsOne) {
  const api_key key(secret, "team-a");
  EXPECT_EQ(key.display(), "team-a");
  EXPECT_EQ(key.label(), "team-a");
}

TEST(KeysApiKey, DisplayIsTheMaskWithoutLabel) {
  const api_key key(secret);
  EXPECT_EQ(key.display(), "sk-or-v1-\u2026" "3f9a");
  EXPECT_EQ(key.display().find("test-alpha"), std::string::npos);
}

TEST(KeysApiKey, RevealGivesTheSecretForTheHeader) {
  const api_key key(secret, "team-a");
  EXPECT_EQ(key.reveal(), secret);
}

TEST(KeysApiKey, OnlyOpenRoutersPublicPrefixIsShown) {
  EXPECT_EQ(mask_secret("sk-or-v1-0123456789abcdef3f9a"), "sk-or-v1-\u2026" "3f9a");
  EXPECT_EQ(mask_secret("sk-or-0123456789abcdef3f9a"), "sk-or-\u2026" "3f9a");  // no version part
  EXPECT_EQ(mask_secret("plainkey0123456789abcdefXYZ"), "\u2026" "fXYZ");    // nothing of its front
}

TEST(KeysApiKey, ShortSecretsRevealLess) {
  EXPECT_EQ(mask_secret("sk-or-v1-test-abcd"), "\u2026" "cd");  // 18 chars
  EXPECT_EQ(mask_secret("12345678"), "\u2026" "78");
  EXPECT_EQ(mask_secret("1234567"), "***");
  EXPECT_EQ(mask_secret(""), "***");
}

TEST(KeysApiKey, FingerprintIsSha256Prefix) {
  // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223...
  EXPECT_EQ(api_key("abc").fingerprint(), "ba7816bf8f01cfea");
  const api_key a(secret), b(secret, "other label"), c("sk-or-v1-test-beta-0000-0001");
  EXPECT_EQ(a.fingerprint().size(), 16u);
  EXPECT_EQ(a.fingerprint(), b.fingerprint());
  EXPECT_NE(a.fingerprint(), c.fingerprint());
  EXPECT_EQ(a.fingerprint().find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(KeysApiKey, CopiesAndMovesKeepIdentity) {
  api_key a(secret, "x");
  api_key copy = a;
  api_key moved = std::move(a);
  EXPECT_EQ(copy, moved);
  EXPECT_EQ(moved.reveal(), secret);
}

TEST(KeysApiKey, MaskSecretsReplacesKeysInText) {
  const std::string text = std::string("Invalid key ") + secret + ", expected sk-or-v1-test-beta-0000-0001.";
  const std::string masked = mask_secrets(text);
  EXPECT_EQ(masked, "Invalid key sk-or-v1-\u2026" "3f9a, expected sk-or-v1-\u2026" "0001.");
}

TEST(KeysApiKey, MaskSecretsKeepsOrdinaryText) {
  EXPECT_EQ(mask_secrets("no key here"), "no key here");
  EXPECT_EQ(mask_secrets("prefix sk-or-abc only"), "prefix sk-or-abc only");  // too short to be a key
  EXPECT_EQ(mask_secrets(""), "");
  EXPECT_EQ(mask_secrets("sk-or-"), "sk-or-");
}

TEST(KeysApiKey, MaskSecretsHandlesKeysAtEdgesAndInJson) {
  EXPECT_EQ(mask_secrets(secret), "sk-or-v1-\u2026" "3f9a");
  const std::string json = std::string(R"({"message":"key )") + secret + R"( revoked"})";
  const std::string masked = mask_secrets(json);
  EXPECT_EQ(masked.find("test-alpha"), std::string::npos);
  EXPECT_NE(masked.find("revoked"), std::string::npos);
}

TEST(KeysApiKey, TheSecretPartIsTheLongestRunOfLettersAndDigits) {
  using orp::keys::secret_part;
  const std::string hex(64, 'a');
  EXPECT_EQ(secret_part("sk-or-v1-" + hex), hex);  // the public prefix added back gives the key
  EXPECT_EQ(secret_part("sk_live_0123456789abcdefghij_x"), "0123456789abcdefghij");
  EXPECT_EQ(secret_part("short-key-1234"), "short-key-1234");  // no run of 16: the whole key
  EXPECT_EQ(secret_part(""), "");
  const api_key key("sk-or-v1-" + hex);
  EXPECT_EQ(key.secret_part(), hex);
  EXPECT_EQ(key.secret_part().data(), key.reveal().data() + 9);  // a view into the key itself
  const api_key copy = key;
  EXPECT_EQ(copy.secret_part().data(), copy.reveal().data() + 9);
}

}  // namespace
