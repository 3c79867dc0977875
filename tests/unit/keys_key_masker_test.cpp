#include <gtest/gtest.h>

#include <cctype>

#include "keys/classify.hpp"
#include "keys/key_masker.hpp"

namespace {

using orp::keys::api_key;
using orp::keys::key_masker;

constexpr std::string_view plain_key = "plainkey0123456789abcdefXYZ";

key_masker masker_of(std::initializer_list<std::string_view> secrets) {
  std::vector<std::shared_ptr<const api_key>> keys;
  for (auto s : secrets) keys.push_back(std::make_shared<const api_key>(std::string(s), "label"));
  return key_masker(std::move(keys));
}

TEST(KeysKeyMasker, MasksAPoolKeyOfAnyShapeEverywhere) {
  const auto masker = masker_of({plain_key, "sk-or-v1-test-masker-0001"});
  EXPECT_EQ(masker.mask("key plainkey0123456789abcdefXYZ not found; again:plainkey0123456789abcdefXYZ."),
            "key \u2026fXYZ not found; again:\u2026fXYZ.");
  // The sk-or- pattern is still applied, to pool keys and to keys of no pool alike.
  EXPECT_EQ(masker.mask("sk-or-v1-test-masker-0001 / sk-or-v1-someone-elses-9999"),
            "sk-or-v1-\u20260001 / sk-or-v1-\u20269999");
  EXPECT_EQ(masker.mask("nothing secret"), "nothing secret");
}

TEST(KeysKeyMasker, AKeyInsideALongerOneIsMaskedWithIt) {
  const auto masker = masker_of({"shortkey-1234", "prefix-shortkey-1234-suffix"});
  const std::string out = masker.mask("[prefix-shortkey-1234-suffix] [shortkey-1234]");
  EXPECT_EQ(out.find("shortkey-1234"), std::string::npos) << out;
  EXPECT_EQ(out.find("suffix"), std::string::npos) << out;
}

TEST(KeysKeyMasker, OneKeyForAProbe) {
  const api_key key{std::string(plain_key), "p"};
  EXPECT_EQ(key_masker::mask("no such key plainkey0123456789abcdefXYZ", key), "no such key \u2026fXYZ");
}

TEST(KeysKeyMasker, ClassifyMasksAPlainPoolKeyInTheReason) {
  const auto masker = masker_of({plain_key});
  const auto o = orp::keys::classify(
      401, {}, R"({"error":{"code":401,"message":"key plainkey0123456789abcdefXYZ not found"}})",
      std::chrono::system_clock::now(), masker);
  EXPECT_EQ(o.kind, orp::keys::outcome_kind::key_invalid);
  EXPECT_EQ(o.reason, "401 invalid key: key \u2026fXYZ not found");
}

TEST(KeysKeyMasker, ClassifyMasksBeforeCuttingSoNoPartOfAKeyIsLeft) {
  const auto masker = masker_of({plain_key});
  // The key straddles the 200-byte cut of the reason, in a JSON message and in a non-JSON body.
  for (std::size_t pad = 170; pad < 200; ++pad) {
    const std::string text = std::string(pad, 'x') + std::string(plain_key) + " trailing text";
    for (const std::string& body : {R"({"error":{"code":401,"message":")" + text + "\"}}", text}) {
      const auto o = orp::keys::classify(401, {}, body, std::chrono::system_clock::now(), masker);
      EXPECT_EQ(o.reason.find("0123456789"), std::string::npos) << pad << ": " << o.reason;
    }
  }
  const auto sse = orp::keys::classify_sse_first_event(
      R"({"error":{"code":402,"message":"plainkey0123456789abcdefXYZ has no credit"}})",
      std::chrono::system_clock::now(), masker);
  ASSERT_TRUE(sse);
  EXPECT_EQ(sse->reason.find(plain_key), std::string::npos) << sse->reason;
}

// Obviously a test key; its secret part is the long run after "sk-or-v1-test-", as the hex is
// in a real "sk-or-v1-<hex>".
constexpr std::string_view hex_key = "sk-or-v1-test-0123456789abcdef0123456789abcdef89ab";

TEST(KeysKeyMasker, TheSecretPartOfAPoolKeyQuotedAloneIsMasked) {
  // Without its public prefix the secret part still is the key: "sk-or-v1-test-" + it.
  const auto masker = masker_of({hex_key});
  const std::string hex(hex_key.substr(14));
  ASSERT_EQ(api_key{std::string(hex_key)}.secret_part(), hex);
  EXPECT_EQ(masker.mask("key " + hex + " is not allowed"), "key \u202689ab is not allowed");
  EXPECT_EQ(masker.mask("key " + std::string(hex_key) + "."), "key sk-or-v1-\u202689ab.");
  EXPECT_EQ(key_masker::mask("probe of " + hex, api_key{std::string(hex_key)}), "probe of \u202689ab");
}

TEST(KeysKeyMasker, APoolKeyQuotedInAnotherCaseIsMasked) {
  std::string upper(hex_key);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const auto masker = masker_of({hex_key, plain_key});
  for (const std::string& text : {"402 key " + upper + " has no credit", "402 key " + upper.substr(14) + " has no credit",
                                  std::string("key PLAINKEY0123456789ABCDEFxyz")}) {
    const std::string out = masker.mask(text);
    EXPECT_EQ(out.find("0123456789ABCDEF"), std::string::npos) << out;
  }
  const auto o = orp::keys::classify(402, {}, R"({"error":{"code":402,"message":"key )" + upper + R"( has no credit"}})",
                                     std::chrono::system_clock::now(), masker);
  EXPECT_EQ(o.reason.find("0123456789ABCDEF"), std::string::npos) << o.reason;
}

}  // namespace
