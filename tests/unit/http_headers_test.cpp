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

TEST(HttpHeaders, ConnectionOptionsSplitOnCommasAndTrim) {
  connection_options listed(header_list{{"Connection", "keep-alive, Upgrade"}, {"Host", "x-not-listed"}, {"connection", "a,\tb ,c,,"}});
  for (auto name : {"upgrade", "UPGRADE", "Keep-Alive", "a", "B", "c"}) EXPECT_TRUE(listed.lists(name)) << name;
  for (auto name : {"alive", "keep", "x-not-listed", "", "ab", "upgrades"}) EXPECT_FALSE(listed.lists(name)) << name;
}

TEST(HttpHeaders, ConnectionOptionsEmptyWithoutNames) {
  EXPECT_TRUE(connection_options(header_list{}).empty());
  EXPECT_TRUE(connection_options(header_list{{"Connection", " , ,"}, {"Host", "a"}}).empty());
  EXPECT_FALSE(connection_options(header_list{{"Connection", " , ,"}}).lists(""));
}

// A head of thousands of fields with thousands of listed names is answered by one sorted list,
// not by walking the Connection value for every field (seconds of a worker's time before).
TEST(HttpHeaders, ConnectionOptionsManyNamesEachLookupFindsItsOwn) {
  std::string value;
  header_list h;
  for (int i = 0; i < 5000; ++i) {
    value += "X-Name-" + std::to_string(i) + ",";
    h.push_back({"x-name-" + std::to_string(i), "v"});
  }
  value += "x-name-7";  // a duplicate
  h.push_back({"X-Kept", "k"});
  h.insert(h.begin(), {"Connection", value});
  connection_options listed(h);
  int found = 0;
  for (const auto& f : h) found += listed.lists(f.name) ? 1 : 0;
  EXPECT_EQ(found, 5000);
  EXPECT_FALSE(listed.lists("X-Kept"));
  EXPECT_FALSE(listed.lists("x-name-5000"));
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
