#include "proxy/sni.hpp"

#include <cstdint>
#include <optional>
#include <utility>

namespace orp::proxy {
namespace {

constexpr std::uint8_t content_handshake = 0x16;
constexpr std::uint8_t handshake_client_hello = 0x01;
constexpr std::size_t record_header_bytes = 5;
constexpr std::size_t max_record_bytes = 1 << 14;  // RFC 8446 section 5.1: 2^14 plaintext
constexpr std::uint16_t extension_server_name = 0x0000;
constexpr std::uint8_t name_type_host_name = 0x00;

// Reads big-endian fields; any read past the end leaves it failed and yields zeros.
class reader {
 public:
  explicit reader(std::string_view data) : data_(data) {}

  bool ok() const { return ok_; }
  bool empty() const { return data_.empty(); }
  std::uint32_t number(std::size_t width) {
    if (!ok_ || data_.size() < width) return fail();
    std::uint32_t value = 0;
    for (std::size_t i = 0; i < width; ++i) value = value << 8 | static_cast<std::uint8_t>(data_[i]);
    data_.remove_prefix(width);
    return value;
  }
  std::string_view bytes(std::size_t count) {
    if (!ok_ || data_.size() < count) {
      fail();
      return {};
    }
    const std::string_view out = data_.substr(0, count);
    data_.remove_prefix(count);
    return out;
  }
  // A length-prefixed vector (RFC 8446 section 3.4) as a reader of its own.
  reader vector(std::size_t length_width) {
    const std::string_view content = bytes(number(length_width));
    return reader(content, ok_);
  }
  std::string_view rest() const { return data_; }

 private:
  reader(std::string_view data, bool ok) : data_(data), ok_(ok) {}
  std::uint32_t fail() {
    ok_ = false;
    data_ = {};
    return 0;
  }
  std::string_view data_;
  bool ok_ = true;
};

std::uint8_t byte_at(std::string_view data, std::size_t i) { return static_cast<std::uint8_t>(data[i]); }

// The bytes present of a record header [type, major, minor, length(2)] could start a ClientHello.
bool plausible_record_header(std::string_view header) {
  if (header.size() > 0 && byte_at(header, 0) != content_handshake) return false;
  if (header.size() > 1 && byte_at(header, 1) != 0x03) return false;
  if (header.size() > 2 && byte_at(header, 2) > 0x04) return false;
  return true;
}

// RFC 6066 section 3: an ASCII host name, no trailing dot; compared case-insensitively.
std::optional<std::string> normalise_host_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return std::nullopt;
  std::string out;
  for (const char c : name) {
    const bool allowed = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
    if (c >= 'A' && c <= 'Z') {
      out += static_cast<char>(c - 'A' + 'a');
    } else if (allowed) {
      out += c;
    } else {
      return std::nullopt;
    }
  }
  return out;
}

// RFC 8446 section 4.1.2 (and RFC 5246 section 7.4.1.2, the same layout).
sni_result parse_client_hello(std::string_view body) {
  reader hello(body);
  hello.number(2);  // legacy_version
  hello.bytes(32);  // random
  const reader session_id = hello.vector(1);
  const reader cipher_suites = hello.vector(2);
  const reader compression = hello.vector(1);
  if (!hello.ok() || !session_id.ok() || !cipher_suites.ok() || !compression.ok()) return {sni_status::not_tls, {}};
  if (hello.empty()) return {sni_status::absent, {}};  // no extensions at all (SSL 3.0 style)
  reader extensions = hello.vector(2);
  if (!hello.ok()) return {sni_status::not_tls, {}};
  while (extensions.ok() && !extensions.empty()) {
    const std::uint32_t type = extensions.number(2);
    reader data = extensions.vector(2);
    if (!extensions.ok()) break;
    if (type != extension_server_name) continue;
    reader names = data.vector(2);  // ServerNameList
    while (names.ok() && !names.empty()) {
      const std::uint32_t name_type = names.number(1);
      const reader name = names.vector(2);
      if (!names.ok()) break;
      if (name_type != name_type_host_name) continue;
      auto host = normalise_host_name(name.rest());
      if (!host) return {sni_status::absent, {}};
      return {sni_status::found, std::move(*host)};
    }
    return {names.ok() ? sni_status::absent : sni_status::not_tls, {}};
  }
  return {extensions.ok() ? sni_status::absent : sni_status::not_tls, {}};
}

}  // namespace

sni_result peek_sni(std::string_view bytes) {
  std::string hello;  // handshake bytes reassembled from the records' fragments
  std::size_t at = 0;
  for (;;) {
    const std::string_view header = bytes.substr(at, record_header_bytes);
    if (!plausible_record_header(header)) return {sni_status::not_tls, {}};
    if (header.size() < record_header_bytes) return {sni_status::need_more, {}};
    const std::size_t length = std::size_t{byte_at(header, 3)} << 8 | byte_at(header, 4);
    // RFC 8446 section 5.1: no empty handshake fragments, none above 2^14.
    if (length == 0 || length > max_record_bytes) return {sni_status::not_tls, {}};
    const std::string_view fragment = bytes.substr(at + record_header_bytes, length);
    if (hello.empty() && !fragment.empty() && byte_at(fragment, 0) != handshake_client_hello) {
      return {sni_status::not_tls, {}};
    }
    if (fragment.size() < length) return {sni_status::need_more, {}};
    hello.append(fragment);
    at += record_header_bytes + length;
    if (hello.size() < 4) continue;
    if (byte_at(hello, 0) != handshake_client_hello) return {sni_status::not_tls, {}};
    const std::size_t hello_length =
        std::size_t{byte_at(hello, 1)} << 16 | std::size_t{byte_at(hello, 2)} << 8 | byte_at(hello, 3);
    if (hello_length > max_client_hello_bytes) return {sni_status::not_tls, {}};
    if (hello.size() >= 4 + hello_length) return parse_client_hello(std::string_view(hello).substr(4, hello_length));
  }
}

}  // namespace orp::proxy
