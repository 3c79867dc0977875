#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proxy/socks5.hpp"

namespace {

namespace socks5 = orp::proxy::socks5;
using socks5::reply_code;

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (const int v : values) out += static_cast<char>(v);
  return out;
}

// What a caller decides when asked.
struct policy {
  bool require_auth = false;
  bool auth_ok = true;
  reply_code code = reply_code::succeeded;
};

// Everything a caller observes over a whole conversation; equal however the input was split.
struct transcript {
  std::vector<std::string> events;
  std::string written;
  std::string tunnelled;  // leftover after a successful CONNECT, then everything after it
  bool closed = false;
  friend bool operator==(const transcript&, const transcript&) = default;
};

std::ostream& operator<<(std::ostream& os, const transcript& t) {
  os << "events:";
  for (const auto& e : t.events) os << " [" << e << "]";
  return os << " written=" << testing::PrintToString(t.written) << " tunnelled=" << testing::PrintToString(t.tunnelled)
            << " closed=" << t.closed;
}

const char* type_name(socks5::address_type type) {
  switch (type) {
    case socks5::address_type::ipv4:
      return "ipv4";
    case socks5::address_type::ipv6:
      return "ipv6";
    case socks5::address_type::domain:
      return "domain";
  }
  return "?";
}

transcript run(const std::vector<std::string>& chunks, const policy& p) {
  socks5::server_handshake handshake(p.require_auth);
  transcript t;
  bool tunnelling = false;
  for (const std::string& chunk : chunks) {
    if (t.closed) break;
    if (tunnelling) {
      t.tunnelled += chunk;
      continue;
    }
    socks5::step s = handshake.feed(chunk);
    // A handshake step ends in need_more, a reply or a failure within a few turns.
    int turns = 0;
    for (bool more = true; more;) {
      if (++turns > 16) {
        ADD_FAILURE() << "the handshake keeps asking to send without reading";
        t.closed = true;
        break;
      }
      if (std::holds_alternative<socks5::need_more>(s)) {
        more = false;
      } else if (auto* send = std::get_if<socks5::send>(&s)) {
        t.written += send->bytes;
        s = handshake.feed({});
      } else if (auto* auth = std::get_if<socks5::authenticate>(&s)) {
        t.events.push_back("auth " + auth->username + ":" + auth->password);
        s = handshake.auth_result(p.auth_ok);
      } else if (auto* connect = std::get_if<socks5::connect_request>(&s)) {
        t.events.push_back("connect " + connect->host + " " + std::to_string(connect->port) + " " +
                           type_name(connect->type));
        t.written += handshake.reply(p.code, "10.0.0.1", 4242);
        if (p.code == reply_code::succeeded) {
          tunnelling = true;
          t.tunnelled = handshake.take_leftover();
        } else {
          t.closed = true;
        }
        more = false;
      } else {
        const auto& failure = std::get<socks5::fail>(s);
        t.events.push_back("fail " + failure.reason);
        t.written += failure.bytes;
        t.closed = true;
        more = false;
      }
    }
  }
  return t;
}

// Runs the input whole, split in two at every position, and byte by byte; all must agree.
transcript run_every_way(const std::string& input, const policy& p) {
  const transcript whole = run({input}, p);
  for (std::size_t cut = 0; cut <= input.size(); ++cut) {
    EXPECT_EQ(run({input.substr(0, cut), input.substr(cut)}, p), whole) << "split at " << cut;
  }
  std::vector<std::string> singles;
  for (const char c : input) singles.emplace_back(1, c);
  EXPECT_EQ(run(singles, p), whole) << "byte by byte";
  return whole;
}

const std::string reply_ok = bytes({5, 0, 0, 1, 10, 0, 0, 1, 0x10, 0x92});
const std::string connect_domain = bytes({5, 1, 0, 3, 13}) + "openrouter.ai" + bytes({1, 0xbb});
const std::string early_hello = bytes({0x16, 3, 1, 0, 5, 1, 0, 0, 1, 0});

std::string error_reply(int code) { return bytes({5, code, 0, 1, 0, 0, 0, 0, 0, 0}); }

TEST(Socks5, NoAuthDomainConnectKeepsEarlyData) {
  const transcript t = run_every_way(bytes({5, 1, 0}) + connect_domain + early_hello, {});
  EXPECT_EQ(t.events, std::vector<std::string>{"connect openrouter.ai 443 domain"});
  EXPECT_EQ(t.written, bytes({5, 0}) + reply_ok);
  EXPECT_EQ(t.tunnelled, early_hello);
  EXPECT_FALSE(t.closed);
}

TEST(Socks5, UserPassAccepted) {
  const std::string input = bytes({5, 2, 0, 2}) + bytes({1, 5}) + "alice" + bytes({6}) + "s3:ret" +
                            bytes({5, 1, 0, 1, 1, 2, 3, 4, 0, 80});
  const transcript t = run_every_way(input, {.require_auth = true});
  EXPECT_EQ(t.events, (std::vector<std::string>{"auth alice:s3:ret", "connect 1.2.3.4 80 ipv4"}));
  EXPECT_EQ(t.written, bytes({5, 2, 1, 0}) + reply_ok);
  EXPECT_FALSE(t.closed);
}

TEST(Socks5, WrongPasswordGetsStatusFailureAndClose) {
  const std::string input = bytes({5, 1, 2}) + bytes({1, 5}) + "alice" + bytes({5}) + "wrong" + connect_domain;
  const transcript t = run_every_way(input, {.require_auth = true, .auth_ok = false});
  EXPECT_EQ(t.events, (std::vector<std::string>{"auth alice:wrong", "fail wrong SOCKS5 username or password"}));
  EXPECT_EQ(t.written, bytes({5, 2, 1, 1}));
  EXPECT_TRUE(t.closed);
}

TEST(Socks5, AuthRequiredButNotOffered) {
  const transcript t = run_every_way(bytes({5, 1, 0}) + connect_domain, {.require_auth = true});
  EXPECT_EQ(t.written, bytes({5, 0xff}));
  EXPECT_TRUE(t.closed);
}

TEST(Socks5, NoMethodsAtAll) {
  const transcript t = run_every_way(bytes({5, 0}), {});
  EXPECT_EQ(t.written, bytes({5, 0xff}));
  EXPECT_TRUE(t.closed);
}

TEST(Socks5, OnlyUserPassOfferedWithoutAuthIsAcceptedUnasked) {
  const std::string input = bytes({5, 1, 2, 1, 1}) + "u" + bytes({0}) + connect_domain;
  const transcript t = run_every_way(input, {});
  EXPECT_EQ(t.events, std::vector<std::string>{"connect openrouter.ai 443 domain"});
  EXPECT_EQ(t.written, bytes({5, 2, 1, 0}) + reply_ok);
}

TEST(Socks5, WrongGreetingVersionClosesWithoutReply) {
  const transcript t = run_every_way(bytes({4, 1, 0, 80, 1, 2, 3, 4, 0}), {});
  EXPECT_EQ(t.events, std::vector<std::string>{"fail not SOCKS5: version byte 0x04"});
  EXPECT_EQ(t.written, "");
  EXPECT_TRUE(t.closed);
  EXPECT_TRUE(run_every_way("GET / HTTP/1.1\r\n\r\n", {}).closed);
}

TEST(Socks5, WrongRequestVersionGetsGeneralFailure) {
  const transcript t = run_every_way(bytes({5, 1, 0, 4, 1, 0, 1, 1, 2, 3, 4, 0, 80}), {});
  EXPECT_EQ(t.written, bytes({5, 0}) + error_reply(1));
  EXPECT_TRUE(t.closed);
}

TEST(Socks5, WrongAuthVersionGetsStatusFailure) {
  const transcript t = run_every_way(bytes({5, 1, 2, 5, 1, 'u', 1, 'p'}), {.require_auth = true});
  EXPECT_EQ(t.written, bytes({5, 2, 1, 1}));
  EXPECT_TRUE(t.events.empty() == false && t.events.back().starts_with("fail bad RFC 1929 version"));
  EXPECT_TRUE(t.closed);
}

TEST(Socks5, BindAndUdpAssociateAreNotSupported) {
  for (const int command : {2, 3, 9}) {
    const transcript t = run_every_way(bytes({5, 1, 0, 5, command, 0, 1, 1, 2, 3, 4, 0, 80}), {});
    EXPECT_EQ(t.written, bytes({5, 0}) + error_reply(7)) << command;
    EXPECT_TRUE(t.closed);
  }
  EXPECT_EQ(run({bytes({5, 1, 0, 5, 2, 0, 1})}, {}).events.back(), "fail SOCKS5 BIND is not supported");
}

TEST(Socks5, UnknownAddressTypeGets08) {
  const transcript t = run_every_way(bytes({5, 1, 0, 5, 1, 0, 2, 1, 2, 3, 4, 0, 80}), {});
  EXPECT_EQ(t.written, bytes({5, 0}) + error_reply(8));
  EXPECT_TRUE(t.closed);
}

TEST(Socks5, Ipv6Targets) {
  std::string loopback = bytes({5, 1, 0, 5, 1, 0, 4});
  loopback += std::string(15, '\0') + bytes({1, 0x01, 0xbb});
  EXPECT_EQ(run_every_way(loopback, {}).events, std::vector<std::string>{"connect ::1 443 ipv6"});
  const std::string documentation = bytes({5, 1, 0, 5, 1, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                           0, 1, 0x1f, 0x90});
  EXPECT_EQ(run_every_way(documentation, {}).events, std::vector<std::string>{"connect 2001:db8::1 8080 ipv6"});
}

TEST(Socks5, BadDomainNames) {
  EXPECT_EQ(run_every_way(bytes({5, 1, 0, 5, 1, 0, 3, 0, 1, 0xbb}), {}).written, bytes({5, 0}) + error_reply(1));
  const std::string spaced = bytes({5, 1, 0, 5, 1, 0, 3, 3}) + "a b" + bytes({1, 0xbb});
  EXPECT_EQ(run_every_way(spaced, {}).written, bytes({5, 0}) + error_reply(1));
}

TEST(Socks5, RefusedConnectCloses) {
  const transcript t = run_every_way(bytes({5, 1, 0}) + connect_domain, {.code = reply_code::not_allowed});
  EXPECT_EQ(t.written, bytes({5, 0, 5, 2, 0, 1, 10, 0, 0, 1, 0x10, 0x92}));
  EXPECT_TRUE(t.closed);
}

TEST(Socks5, LongestLegalHandshake) {
  std::string input = bytes({5, 255});
  for (int m = 0; m < 255; ++m) input += static_cast<char>(m == 200 ? 2 : 7);
  input += bytes({1, 255}) + std::string(255, 'u') + bytes({255}) + std::string(255, 'p');
  input += bytes({5, 1, 0, 3, 255}) + std::string(255, 'h') + bytes({0, 1});
  const transcript t = run({input}, {.require_auth = true});
  ASSERT_EQ(t.events.size(), 2u);
  EXPECT_EQ(t.events[1], "connect " + std::string(255, 'h') + " 1 domain");
}

TEST(Socks5, PendingBytesAreCapped) {
  socks5::server_handshake handshake(true);
  ASSERT_TRUE(std::holds_alternative<socks5::send>(handshake.feed(bytes({5, 1, 2}))));
  ASSERT_TRUE(std::holds_alternative<socks5::authenticate>(handshake.feed(bytes({1, 1, 'u', 1, 'p'}))));
  const auto s = handshake.feed(std::string(socks5::server_handshake::max_pending_bytes + 1, 'x'));
  ASSERT_TRUE(std::holds_alternative<socks5::fail>(s));
  EXPECT_TRUE(std::holds_alternative<socks5::fail>(handshake.feed("more")));
}

TEST(Socks5, OutOfOrderCallsFailSafely) {
  socks5::server_handshake handshake(false);
  EXPECT_TRUE(std::holds_alternative<socks5::fail>(handshake.auth_result(true)));
  socks5::server_handshake other(false);
  EXPECT_EQ(other.reply(reply_code::succeeded), error_reply(1));
  EXPECT_EQ(other.take_leftover(), "");
}

TEST(Socks5, EncodeReplyAddressForms) {
  EXPECT_EQ(socks5::encode_reply(reply_code::succeeded), bytes({5, 0, 0, 1, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(socks5::encode_reply(reply_code::succeeded, "::1", 443),
            bytes({5, 0, 0, 4}) + std::string(15, '\0') + bytes({1, 1, 0xbb}));
  EXPECT_EQ(socks5::encode_reply(reply_code::host_unreachable, "proxy.local", 1),
            bytes({5, 4, 0, 3, 11}) + "proxy.local" + bytes({0, 1}));
}

}  // namespace
