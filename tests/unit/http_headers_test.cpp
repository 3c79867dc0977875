#include "http/headers.hpp"

#include <gtest/gtest.h>

namespace orp::http {
namespace {

TEST(HttpHeaders, IequalsIgnoresAsciiCaseOnly) {
  EXPECT_TRUE(iequals("Content-Length", "content-LENGTH"));
  EXPECT_TRUE(iequals("", ""));
  EXPECT_FALSE(iequals("Content-Length", "Content-Lengt"));
  EXPECT_FALSE(iequals("a-b", "a_b"));
}

TEST(HttpHeaders, FindHeaderIsCaseInsensitiveAndTakesTheFirst) {
  header_list h = {{"Host", "a"}, {"X-Dup", "first"}, {"x-dup", "second"}};
  EXPECT_EQ(find_header(h, "HOST"), "a");
  EXPECT_EQ(find_header(h, "X-DUP"), "first");
  EXPECT_EQ(find_header(h, "Missing"), std::nullopt);
}

TEST(HttpHeaders, HasTokenSplitsOnCommasAndTrims) {
  EXPECT_TRUE(has_token("keep-alive, Upgrade", "upgrade"));
  EXPECT_TRUE(has_token(" close ", "close"));
  EXPECT_TRUE(has_token("a,\tb ,c", "b"));
  EXPECT_FALSE(has_token("keep-alive", "alive"));
  EXPECT_FALSE(has_token("", "close"));
  EXPECT_FALSE(has_token(",,", "close"));
}

TEST(HttpHeaders, HopByHopNamesInAnyCase) {
  for (auto name : {"Connection", "keep-alive", "Proxy-Authorization", "proxy-authenticate", "Proxy-Connection", "te",
                    "Trailer", "TRANSFER-ENCODING", "Upgrade"}) {
    EXPECT_TRUE(is_hop_by_hop(name)) << name;
  }
  for (auto name : {"Content-Length", "Host", "Authorization", "Connection2", "Trailers", ""}) {
    EXPECT_FALSE(is_hop_by_hop(name)) << name;
  }
}

TEST(HttpHeaders, RemoveConnectionListedDropsNamedFields) {
  header_list h = {{"Connection", "close, X-Secret"},
                   {"x-secret", "1"},
                   {"Host", "a"},
                   {"connection", "x-other"},
                   {"X-Other", "2"},
                   {"X-Kept", "3"}};
  remove_connection_listed(h);
  header_list want = {{"Connection", "close, X-Secret"}, {"Host", "a"}, {"connection", "x-other"}, {"X-Kept", "3"}};
  EXPECT_EQ(h, want);
}

TEST(HttpHeaders, RemoveConnectionListedWithoutConnectionKeepsAll) {
  header_list h = {{"Host", "a"}, {"Keep-Alive", "timeout=5"}};
  auto before = h;
  remove_connection_listed(h);
  EXPECT_EQ(h, before);
}

}  // namespace
}  // namespace orp::http
