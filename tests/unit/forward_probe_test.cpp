#include <gtest/gtest.h>

#include "forward/probe.hpp"

namespace {

using orp::forward::parse_key_info;
using orp::forward::probe_result;

TEST(ForwardProbe, ReadsCreditUsageAndFreeTier) {
  probe_result r;
  ASSERT_TRUE(parse_key_info(R"({"data":{"limit_remaining":4.5,"usage":1.25,"is_free_tier":true}})", r));
  EXPECT_EQ(r.limit_remaining, 4.5);
  EXPECT_EQ(r.usage, 1.25);
  EXPECT_EQ(r.is_free_tier, true);
}

TEST(ForwardProbe, AbsentOrNullLimitMeansUnlimited) {
  for (const char* body : {R"({"data":{"limit_remaining":null,"usage":0}})", R"({"data":{"usage":0}})"}) {
    probe_result r;
    EXPECT_TRUE(parse_key_info(body, r)) << body;
    EXPECT_FALSE(r.limit_remaining) << body;
  }
}

TEST(ForwardProbe, NumberWrittenAsAStringIsRead) {
  probe_result r;
  ASSERT_TRUE(parse_key_info(R"({"data":{"limit_remaining":"0"}})", r));
  EXPECT_EQ(r.limit_remaining, 0.0);
}

// A 200 that is not a key description must not read as "no limit": it would bring a key back.
TEST(ForwardProbe, AnswersThatAreNotAKeyDescriptionAreRefused) {
  for (const char* body : {"<html>sign in to the wifi</html>", "", "[]", R"({"error":"x"})", R"({"data":"x"})",
                           R"({"data":{"limit_remaining":"plenty"}})", R"({"data":{"limit_remaining":"5x"}})",
                           R"({"data":{"limit_remaining":true}})", R"({"data":{"limit_remaining":"nan"}})"}) {
    probe_result r;
    EXPECT_FALSE(parse_key_info(body, r)) << body;
    EXPECT_FALSE(r.limit_remaining) << body;
  }
}

}  // namespace
