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

std::string error_of(std::string_view url) {
  try {
    parse_redis_url(url);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no error";
}

TEST(StateRedisUrl, AnUnencodedAtOrSlashInThePasswordIsNamedAndNoPartOfItQuoted) {
  // Unencoded, the password's '/' ends the authority, and the rest was read as a database index:
  // "bad database index 'pw@127.0.0.1:62423/0'", quoting the password.
  for (const char* url : {"redis://:se@cr/et@127.0.0.1:62423/0", "redis://:se/cr/pw@127.0.0.1:62423/0",
                          "redis://user:p@ss@127.0.0.1:62423/0", "redis://:s?cr@127.0.0.1/0", "redis://:s#cr@127.0.0.1/0"}) {
    const std::string error = error_of(url);
    EXPECT_NE(error.find("percent-encode '@' (%40), '/' (%2F), ':' (%3A)"), std::string::npos) << url << ": " << error;
    // No three characters of the userinfo in a row.
    const std::string_view u(url);
    const std::size_t from = u.find("//") + 2;
    const std::string_view userinfo = u.substr(from, u.rfind('@') - from);
    for (std::size_t at = 0; at + 3 <= userinfo.size(); ++at)
      EXPECT_EQ(error.find(userinfo.substr(at, 3)), std::string::npos) << url << ": " << error;
  }
  EXPECT_NE(error_of("redis://:se@cr/et@127.0.0.1:62423/0").find("more than one '@'"), std::string::npos);
  // Encoded, the same password works.
  const auto ep = parse_redis_url("redis://:se%40cr%2Fet@127.0.0.1:62423/0");
  EXPECT_EQ(ep.password, "se@cr/et");
  EXPECT_EQ(ep.port, 62423);
}

}  // namespace
