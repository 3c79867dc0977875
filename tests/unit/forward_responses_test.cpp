// Upstream error bodies on their way to the client: a quoted key is masked, however it is written.
#include "forward/responses.hpp"

#include <gtest/gtest.h>

#include <cctype>

namespace orp::forward {
namespace {

constexpr std::string_view kKey = "sk-or-v1-0123456789abcdef0123456789abcdef";
const keys::key_masker no_pool;

TEST(ForwardResponses, AKeyQuotedInAJsonErrorIsMasked) {
  const std::string body = R"({"error":{"code":400,"message":"bad request for key )" + std::string(kKey) +
                           R"(","metadata":{"raw":["x",")" + std::string(kKey) + R"("]}}})";
  auto masked = mask_error_body(body, no_pool);
  ASSERT_TRUE(masked);
  EXPECT_EQ(masked->find("0123456789abcdef0123"), std::string::npos) << *masked;
  EXPECT_NE(masked->find("\"code\":400"), std::string::npos) << *masked;
  EXPECT_NE(masked->find("bad request for key sk-or-v1-"), std::string::npos) << *masked;
}

TEST(ForwardResponses, JsonEscapesDoNotHideAKey) {
  // "sk\u002dor\u002dv1\u002d..." is the same string to any JSON reader.
  const std::string body = R"({"error":{"message":"key sk\u002dor\u002dv1\u002d0123456789abcdef0123456789abcdef"}})";
  auto masked = mask_error_body(body, no_pool);
  ASSERT_TRUE(masked);
  EXPECT_EQ(masked->find("0123456789abcdef0123"), std::string::npos) << *masked;
}

TEST(ForwardResponses, JsonEscapesInABodyThatIsNotJsonDoNotHideAKey) {
  // JSON cut short, or quoted inside text: not parseable, but a JSON reader downstream (or a
  // person) still sees the key in it.
  const keys::key_masker pool({std::make_shared<const keys::api_key>("plainkey0123456789abcdefXYZ", "p")});
  for (const std::string body : {
           std::string(R"({"error":{"message":"key sk\u002dor\u002dv1\u002d0123456789abcdef0123456789abcdef)"),
           std::string(R"(upstream: "\u0073k-or-v1-0123456789abcdef0123456789abcdef" refused)"),
           std::string(R"(log {"k":"plain\u006bey0123456789abcdefXYZ\ud83d\ude00\n"} then)"),
       }) {
    auto masked = mask_error_body(body, pool);
    ASSERT_TRUE(masked) << body;
    EXPECT_EQ(masked->find("0123456789abcdef"), std::string::npos) << *masked;
  }
  // A key written plainly does not hide another one written with escapes, nor itself twice.
  const std::string mixed = "keys " + std::string(kKey) + " and sk\\u002dor\\u002dv1\\u002dfedcba9876543210fedcba9876543210 and plain\\u006bey0123456789abcdefXYZ";
  auto both = mask_error_body(mixed, pool);
  ASSERT_TRUE(both);
  EXPECT_EQ(both->find("0123456789abcdef0123"), std::string::npos) << *both;
  EXPECT_EQ(both->find("fedcba9876543210fedc"), std::string::npos) << *both;
  EXPECT_EQ(both->find("0123456789abcdefXYZ"), std::string::npos) << *both;
  // Escaped twice, inside a JSON string: the JSON reader undoes one level, the masker the other.
  auto twice = mask_error_body(R"({"error":{"metadata":{"raw":"sk\\u002dor\\u002dv1\\u002d0123456789abcdef0123456789abcdef"}}})", pool);
  ASSERT_TRUE(twice);
  EXPECT_EQ(twice->find("0123456789abcdef0123"), std::string::npos) << *twice;
  // The escapes are decoded only when that shows a key: other escaped text goes out as it came.
  EXPECT_FALSE(mask_error_body(R"(truncated {"message":"caf\u00e9 \ud83d\ude00 \"q\" \x)", pool));
  auto decoded = mask_error_body(R"(cut {"m":"\u00e9\ud83d\ude00\ud800 sk\u002dor-v1-0123456789abcdef0123456789abcdef)", pool);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->rfind("cut {\"m\":\"\xC3\xA9\xF0\x9F\x98\x80\xEF\xBF\xBD sk-or-v1-", 0), 0u) << *decoded;
}

TEST(ForwardResponses, TextBodiesAreMaskedAndCleanBodiesLeftAlone) {
  auto text = mask_error_body("upstream said: " + std::string(kKey) + " is invalid\n", no_pool);
  ASSERT_TRUE(text);
  EXPECT_EQ(text->find("0123456789abcdef0123"), std::string::npos) << *text;
  EXPECT_FALSE(mask_error_body(R"({"error":{"code":404,"message":"No endpoints found"}})", no_pool));
  EXPECT_FALSE(mask_error_body("", no_pool));
  EXPECT_FALSE(mask_error_body("<html>Bad Gateway</html>", no_pool));
}

// A pool key of any shape is masked, not only sk-or- ones.
TEST(ForwardResponses, PoolKeysOfAnyShapeAreMasked) {
  const keys::key_masker pool({std::make_shared<const keys::api_key>("plainkey0123456789abcdefXYZ", "p")});
  auto masked = mask_error_body(R"({"error":{"message":"key plainkey0123456789abcdefXYZ not found"}})", pool);
  ASSERT_TRUE(masked);
  EXPECT_EQ(masked->find("0123456789abcdef"), std::string::npos) << *masked;
}

TEST(ForwardResponses, MemberNamesAreMaskedToo) {
  const std::string body = R"({"error":{"code":400,"metadata":{")" + std::string(kKey) + R"(":1}}})";
  auto masked = mask_error_body(body, no_pool);
  ASSERT_TRUE(masked);
  EXPECT_EQ(masked->find("0123456789abcdef0123"), std::string::npos) << *masked;
  EXPECT_NE(masked->find(":1}"), std::string::npos) << *masked;
}

TEST(ForwardResponses, APoolKeysHexPartOrUpperCaseFormIsMasked) {
  const std::string key = "sk-or-v1-" + std::string(64, 'c') + "9f3a";
  const keys::key_masker pool({std::make_shared<const keys::api_key>(key, "p")});
  const std::string hex = key.substr(9);
  std::string upper = key;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const std::string& quoted : {hex, upper, upper.substr(9)}) {
    auto masked = mask_error_body(R"({"error":{"code":403,"message":"key )" + quoted + R"( is not allowed"}})", pool);
    ASSERT_TRUE(masked) << quoted.size();
    EXPECT_EQ(masked->find("cccccccccccccccc"), std::string::npos) << *masked;
    EXPECT_EQ(masked->find("CCCCCCCCCCCCCCCC"), std::string::npos) << *masked;
  }
}

}  // namespace
}  // namespace orp::forward
