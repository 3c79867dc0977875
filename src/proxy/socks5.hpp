#pragma once
// Server side of a SOCKS5 handshake (RFC 1928, RFC 1929 username/password), sans I/O: bytes go in,
// steps come out. Input may be split anywhere; each message is parsed as soon as it is complete,
// so the parser never holds more than one incomplete message (at most 513 bytes).
//
// Driving it (each step is reported once):
//   step s = hs.feed(first_read);
//   loop:
//     need_more        -> s = hs.feed(next_read)
//     send             -> write s.bytes; s = hs.feed({})   // the buffer may already hold more
//     authenticate     -> s = hs.auth_result(credentials_ok(s.username, s.password))
//     connect_request  -> decide; write hs.reply(code, bound_host, bound_port);
//                         on succeeded: tunnel, starting with hs.take_leftover(); else close
//     fail             -> write s.bytes (may be empty), then close
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace orp::proxy::socks5 {

inline constexpr std::uint8_t version = 0x05;  // the first byte of a SOCKS5 greeting

// RFC 1928 section 6.
enum class reply_code : std::uint8_t {
  succeeded = 0x00,
  general_failure = 0x01,
  not_allowed = 0x02,
  network_unreachable = 0x03,
  host_unreachable = 0x04,
  connection_refused = 0x05,
  ttl_expired = 0x06,
  command_not_supported = 0x07,
  address_type_not_supported = 0x08,
};

enum class address_type : std::uint8_t { ipv4 = 0x01, domain = 0x03, ipv6 = 0x04 };

struct need_more {};
struct send {
  std::string bytes;
};
// Only when the server requires authentication. Never log the password.
struct authenticate {
  std::string username;
  std::string password;
};
// host: dotted IPv4, RFC 5952 IPv6 text (no brackets) or the domain name as sent (socks5h).
struct connect_request {
  std::string host;
  std::uint16_t port = 0;
  address_type type = address_type::domain;
};
// bytes: the reply to write before closing (empty when the protocol allows none).
// reason: for the log; never holds credentials.
struct fail {
  std::string bytes;
  std::string reason;
};
using step = std::variant<need_more, send, authenticate, connect_request, fail>;

// VER REP RSV ATYP BND.ADDR BND.PORT. bound_host is an IPv4 or IPv6 literal, a domain name, or
// empty for 0.0.0.0.
std::string encode_reply(reply_code code, std::string_view bound_host = {}, std::uint16_t bound_port = 0);

class server_handshake {
 public:
  // With require_auth, only method 0x02 (RFC 1929) is acceptable. Without it, 0x00 is preferred;
  // a client that offers only 0x02 gets it, and its credentials are accepted without asking.
  explicit server_handshake(bool require_auth);

  // Appends data and advances. While a decision is pending (after authenticate or
  // connect_request) bytes are only kept (need_more), at most max_pending_bytes of them. Once the
  // reply succeeded, fed bytes only add to the leftover.
  step feed(std::string_view data);
  // Answer to an authenticate step: send{01 00} and continue with feed({}), or fail{01 01}.
  step auth_result(bool ok);
  // Answer to a connect_request step; anything but succeeded ends the handshake (close after
  // writing). Out of order: general failure.
  std::string reply(reply_code code, std::string_view bound_host = {}, std::uint16_t bound_port = 0);
  // Bytes the client sent after its CONNECT request (an early ClientHello); moved out.
  std::string take_leftover();

  static constexpr std::size_t max_pending_bytes = 64 * 1024;

 private:
  enum class state { greeting, auth, auth_pending, request, reply_pending, done, failed };
  step parse_greeting();
  step parse_auth();
  step parse_request();
  step failure(std::string bytes, std::string reason);

  bool require_auth_;
  state state_ = state::greeting;
  std::string buffer_;
};

}  // namespace orp::proxy::socks5
