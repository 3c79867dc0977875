#include <gtest/gtest.h>

#include "state/redis_url.hpp"

namespace {

using orp::state::parse_redis_url;

TEST(StateRedisUrl, DefaultsFromTheSettingsTable) {
  auto ep = parse_redis_url("redis://127.0.0.1:6379/0");
  EXPECT_EQ(ep.host, "127.0.0.1");
  EXPECT_EQ(ep.port, 6379);
  EXPECT_EQ(ep.db, 0);
  EXPECT_TRUE(ep.password.empty());
  EXPECT_TRUE(ep.username.empty());
}

TEST(StateRedisUrl, PortAndDatabaseAreOptional) {
  auto ep = parse_redis_url("redis://cache.internal");
  EXPECT_EQ(ep.host, "cache.internal");
  EXPECT_EQ(ep.port, 6379);
  EXPECT_EQ(ep.db, 0);
  EXPECT_EQ(parse_redis_url("redis://h:7000/").db, 0);
  EXPECT_EQ(parse_redis_url("redis://h/15").db, 15);
}

TEST(StateRedisUrl, PasswordWithoutUserIsPlainAuth) {
  auto ep = parse_redis_url("redis://:s3cret@10.0.0.5:6380/2");
  EXPECT_EQ(ep.host, "10.0.0.5");
  EXPECT_EQ(ep.port, 6380);
  EXPECT_EQ(ep.db, 2);
  EXPECT_EQ(ep.password, "s3cret");
  EXPECT_TRUE(ep.username.empty());
}

TEST(StateRedisUrl, UserAndPasswordAreAclAuth) {
  auto ep = parse_redis_url("redis://proxy:pw@h:1/3");
  EXPECT_EQ(ep.username, "proxy");
  EXPECT_EQ(ep.password, "pw");
}

TEST(StateRedisUrl, LoneUserinfoIsThePassword) {
  auto ep = parse_redis_url("redis://onlysecret@h");
  EXPECT_EQ(ep.password, "onlysecret");
  EXPECT_TRUE(ep.username.empty());
}

TEST(StateRedisUrl, PasswordIsPercentDecoded) {
  EXPECT_EQ(parse_redis_url("redis://:p%40ss%3Aw@h/0").password, "p@ss:w");
}

TEST(StateRedisUrl, Ipv6Host) {
  auto ep = parse_redis_url("redis://[::1]:6390/1");
  EXPECT_EQ(ep.host, "::1");
  EXPECT_EQ(ep.port, 6390);
  EXPECT_EQ(ep.display(), "[::1]:6390/1");
}

TEST(StateRedisUrl, DisplayNeverShowsThePassword) {
  auto ep = parse_redis_url("redis://:topsecret@h:6379/4");
  EXPECT_EQ(ep.display(), "h:6379/4");
  EXPECT_EQ(ep.display().find("topsecret"), std::string::npos);
}

TEST(StateRedisUrl, RefusesWhatItCannotUse) {
  for (const char* bad : {"", "127.0.0.1:6379", "http://h:6379/0", "rediss://h:6379/0", "redis://", "redis://h:0/0",
                          "redis://h:70000/0", "redis://h:port/0", "redis://h/db", "redis://h/-1", "redis://h/1/2",
                          "redis://h/0?timeout=1", "redis://h/0#x"}) {
    EXPECT_THROW(parse_redis_url(bad), std::invalid_argument) << bad;
  }
}

TEST(StateRedisUrl, TlsSchemeGetsItsOwnMessage) {
  try {
    parse_redis_url("rediss://h:6379/0");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("TLS"), std::string::npos);
  }
}

}  // namespace
