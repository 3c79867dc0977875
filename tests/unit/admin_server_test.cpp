// Without a token, the admin endpoint refuses what a web page could aim at it: a Host that is not
// loopback (DNS rebinding) and an Origin of another site (cross-site request forgery).
#include "admin/admin_server.hpp"

#include <gtest/gtest.h>

namespace orp::admin {
namespace {

TEST(AdminCrossSite, LoopbackHostsAndNoHostAreServed) {
  for (auto host : {"127.0.0.1:9090", "127.0.0.1", "127.8.9.10:1", "localhost:9090", "LOCALHOST", "[::1]:9090", "[::1]"})
    EXPECT_EQ(cross_site_refusal(std::string_view(host), std::nullopt), "") << host;
  EXPECT_EQ(cross_site_refusal(std::nullopt, std::nullopt), "");  // HTTP/1.0 sends no Host
}

TEST(AdminCrossSite, OtherHostsAreRefused) {
  for (auto host : {"rebind.evil.example:9090", "evil.example", "10.0.0.1:9090", "[::2]:9090", "[::1", "[::1]x",
                    "localhost.evil.example", "127.0.0.1.nip.io:9090", "", ":9090"})
    EXPECT_NE(cross_site_refusal(std::string_view(host), std::nullopt), "") << host;
}

TEST(AdminCrossSite, OnlyLoopbackOriginsAreServed) {
  for (auto origin : {"http://127.0.0.1:9090", "http://localhost:9090", "https://localhost", "http://[::1]:9090"})
    EXPECT_EQ(cross_site_refusal(std::string_view("127.0.0.1:9090"), std::string_view(origin)), "") << origin;
  for (auto origin : {"http://evil.example", "https://evil.example:9090", "null", "file://", "http://127.0.0.1.evil.example",
                      ""})
    EXPECT_NE(cross_site_refusal(std::string_view("127.0.0.1:9090"), std::string_view(origin)), "") << origin;
}

}  // namespace
}  // namespace orp::admin
