#include "proxy/socks5.hpp"

#include <arpa/inet.h>

#include <array>
#include <utility>

namespace orp::proxy::socks5 {
namespace {

constexpr std::uint8_t method_no_auth = 0x00;
constexpr std::uint8_t method_user_pass = 0x02;
constexpr std::uint8_t method_none_acceptable = 0xff;
constexpr std::uint8_t user_pass_version = 0x01;  // RFC 1929 section 2
constexpr std::uint8_t command_connect = 0x01;
constexpr std::uint8_t command_bind = 0x02;
constexpr std::uint8_t command_udp_associate = 0x03;

std::uint8_t byte_at(const std::string& buffer, std::size_t i) { return static_cast<std::uint8_t>(buffer[i]); }

std::string two_bytes(std::uint8_t a, std::uint8_t b) {
  return std::string{static_cast<char>(a), static_cast<char>(b)};
}

std::string hex_byte(std::uint8_t b) {
  static constexpr char hex[] = "0123456789abcdef";
  return std::string("0x") + hex[b >> 4] + hex[b & 0x0f];
}

std::string format_ipv4(const std::string& buffer, std::size_t at) {
  std::string out;
  for (std::size_t i = 0; i < 4; ++i) {
    if (i != 0) out += '.';
    out += std::to_string(byte_at(buffer, at + i));
  }
  return out;
}

std::string format_ipv6(const std::string& buffer, std::size_t at) {
  std::array<unsigned char, 16> raw{};
  for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = byte_at(buffer, at + i);
  std::array<char, INET6_ADDRSTRLEN> text{};
  if (inet_ntop(AF_INET6, raw.data(), text.data(), text.size()) == nullptr) return {};
  return text.data();
}

// The name is handed to DNS and to the interception decision: printable ASCII only.
bool is_plausible_domain(std::string_view name) {
  for (const char c : name) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

}  // namespace

std::string encode_reply(reply_code code, std::string_view bound_host, std::uint16_t bound_port) {
  std::string out{static_cast<char>(version), static_cast<char>(code), '\x00'};
  std::array<unsigned char, 16> raw{};
  const std::string host(bound_host);
  if (!host.empty() && inet_pton(AF_INET, host.c_str(), raw.data()) == 1) {
    out += static_cast<char>(address_type::ipv4);
    out.append(reinterpret_cast<const char*>(raw.data()), 4);
  } else if (!host.empty() && inet_pton(AF_INET6, host.c_str(), raw.data()) == 1) {
    out += static_cast<char>(address_type::ipv6);
    out.append(reinterpret_cast<const char*>(raw.data()), 16);
  } else if (!host.empty() && host.size() <= 255) {
    out += static_cast<char>(address_type::domain);
    out += static_cast<char>(host.size());
    out += host;
  } else {
    out += static_cast<char>(address_type::ipv4);
    out.append(4, '\0');
  }
  out += static_cast<char>(bound_port >> 8);
  out += static_cast<char>(bound_port & 0xff);
  return out;
}

server_handshake::server_handshake(bool require_auth) : require_auth_(require_auth) {}

step server_handshake::feed(std::string_view data) {
  if (state_ == state::failed) return fail{{}, "SOCKS5 handshake already failed"};
  const bool pending = state_ == state::auth_pending || state_ == state::reply_pending;
  if (pending && buffer_.size() + data.size() > max_pending_bytes) {
    return failure({}, "too many bytes before the SOCKS5 handshake completed");
  }
  buffer_.append(data);
  switch (state_) {
    case state::greeting:
      return parse_greeting();
    case state::auth:
      return parse_auth();
    case state::request:
      return parse_request();
    default:
      return need_more{};  // a decision is pending, or the rest is leftover
  }
}

step server_handshake::auth_result(bool ok) {
  if (state_ != state::auth_pending) return failure({}, "SOCKS5 auth_result out of order");
  if (!ok) return failure(two_bytes(user_pass_version, 0x01), "wrong SOCKS5 username or password");
  state_ = state::request;
  return send{two_bytes(user_pass_version, 0x00)};
}

std::string server_handshake::reply(reply_code code, std::string_view bound_host, std::uint16_t bound_port) {
  if (state_ != state::reply_pending) code = reply_code::general_failure;
  state_ = code == reply_code::succeeded ? state::done : state::failed;
  if (state_ == state::failed) buffer_.clear();
  return encode_reply(code, bound_host, bound_port);
}

std::string server_handshake::take_leftover() {
  if (state_ != state::done && state_ != state::reply_pending) return {};
  return std::exchange(buffer_, {});
}

step server_handshake::failure(std::string bytes, std::string reason) {
  state_ = state::failed;
  buffer_.clear();
  return fail{std::move(bytes), std::move(reason)};
}

// RFC 1928 section 3: VER NMETHODS METHODS[NMETHODS].
step server_handshake::parse_greeting() {
  if (buffer_.empty()) return need_more{};
  // No reply is defined for a foreign version; an HTTP request lands here only by mistake.
  if (byte_at(buffer_, 0) != version) return failure({}, "not SOCKS5: version byte " + hex_byte(byte_at(buffer_, 0)));
  if (buffer_.size() < 2) return need_more{};
  const std::size_t count = byte_at(buffer_, 1);
  if (count == 0) return failure(two_bytes(version, method_none_acceptable), "SOCKS5 greeting offers no methods");
  if (buffer_.size() < 2 + count) return need_more{};
  bool no_auth = false;
  bool user_pass = false;
  for (std::size_t i = 0; i < count; ++i) {
    no_auth = no_auth || byte_at(buffer_, 2 + i) == method_no_auth;
    user_pass = user_pass || byte_at(buffer_, 2 + i) == method_user_pass;
  }
  buffer_.erase(0, 2 + count);
  if (!require_auth_ && no_auth) {
    state_ = state::request;
    return send{two_bytes(version, method_no_auth)};
  }
  if (user_pass) {
    state_ = state::auth;
    return send{two_bytes(version, method_user_pass)};
  }
  return failure(two_bytes(version, method_none_acceptable),
                 require_auth_ ? "SOCKS5 client does not offer username/password authentication"
                               : "SOCKS5 client offers no acceptable method");
}

// RFC 1929 section 2: VER ULEN UNAME PLEN PASSWD.
step server_handshake::parse_auth() {
  if (buffer_.empty()) return need_more{};
  if (byte_at(buffer_, 0) != user_pass_version) {
    return failure(two_bytes(user_pass_version, 0x01), "bad RFC 1929 version " + hex_byte(byte_at(buffer_, 0)));
  }
  if (buffer_.size() < 2) return need_more{};
  const std::size_t user_length = byte_at(buffer_, 1);
  if (buffer_.size() < 3 + user_length) return need_more{};
  const std::size_t password_length = byte_at(buffer_, 2 + user_length);
  const std::size_t total = 3 + user_length + password_length;
  if (buffer_.size() < total) return need_more{};
  authenticate credentials{buffer_.substr(2, user_length), buffer_.substr(3 + user_length, password_length)};
  buffer_.erase(0, total);
  if (!require_auth_) {
    state_ = state::request;
    return send{two_bytes(user_pass_version, 0x00)};
  }
  state_ = state::auth_pending;
  return credentials;
}

// RFC 1928 section 4: VER CMD RSV ATYP DST.ADDR DST.PORT. RSV is not checked, as the RFC gives it
// no meaning.
step server_handshake::parse_request() {
  if (buffer_.empty()) return need_more{};
  if (byte_at(buffer_, 0) != version) {
    return failure(encode_reply(reply_code::general_failure),
                   "bad SOCKS5 request version " + hex_byte(byte_at(buffer_, 0)));
  }
  if (buffer_.size() < 2) return need_more{};
  const std::uint8_t command = byte_at(buffer_, 1);
  if (command != command_connect) {
    const std::string name = command == command_bind            ? "BIND"
                             : command == command_udp_associate ? "UDP ASSOCIATE"
                                                                : "command " + hex_byte(command);
    return failure(encode_reply(reply_code::command_not_supported), "SOCKS5 " + name + " is not supported");
  }
  if (buffer_.size() < 4) return need_more{};
  const std::uint8_t type = byte_at(buffer_, 3);
  std::size_t address_length = 0;
  std::size_t address_at = 4;
  switch (static_cast<address_type>(type)) {
    case address_type::ipv4:
      address_length = 4;
      break;
    case address_type::ipv6:
      address_length = 16;
      break;
    case address_type::domain:
      if (buffer_.size() < 5) return need_more{};
      address_length = byte_at(buffer_, 4);
      address_at = 5;
      if (address_length == 0) return failure(encode_reply(reply_code::general_failure), "empty SOCKS5 domain name");
      break;
    default:
      return failure(encode_reply(reply_code::address_type_not_supported),
                     "SOCKS5 address type " + hex_byte(type) + " is not supported");
  }
  const std::size_t total = address_at + address_length + 2;
  if (buffer_.size() < total) return need_more{};
  connect_request request;
  request.type = static_cast<address_type>(type);
  if (request.type == address_type::ipv4) {
    request.host = format_ipv4(buffer_, address_at);
  } else if (request.type == address_type::ipv6) {
    request.host = format_ipv6(buffer_, address_at);
  } else {
    request.host = buffer_.substr(address_at, address_length);
    if (!is_plausible_domain(request.host)) {
      return failure(encode_reply(reply_code::general_failure), "SOCKS5 domain name has non-printable bytes");
    }
  }
  const std::size_t port_at = address_at + address_length;
  request.port = static_cast<std::uint16_t>(byte_at(buffer_, port_at) << 8 | byte_at(buffer_, port_at + 1));
  buffer_.erase(0, total);
  state_ = state::reply_pending;
  return request;
}

}  // namespace orp::proxy::socks5
