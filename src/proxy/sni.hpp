#pragma once
// The server name a TLS client asks for, read from its ClientHello without consuming anything:
// the caller peeks at the first bytes of a tunnel whose target is an IP address and decides from
// the name whether to intercept. Pure and bounded; garbage gives not_tls, never a crash.
#include <cstddef>
#include <string>
#include <string_view>

namespace orp::proxy {

enum class sni_status {
  need_more,  // a prefix of a plausible ClientHello: read more (up to max_client_hello_bytes)
  found,      // host_name holds the RFC 6066 host_name, lower-cased, without a trailing dot
  absent,     // a whole ClientHello without a usable server_name extension
  not_tls,    // not a TLS handshake record starting with a ClientHello, or malformed
};

struct sni_result {
  sni_status status = sni_status::need_more;
  std::string host_name;
};

// ClientHellos larger than this (over all records) are reported not_tls.
inline constexpr std::size_t max_client_hello_bytes = 64 * 1024;

// bytes: everything the client has sent so far, from its first byte. The ClientHello may span
// several handshake records (RFC 8446 section 5.1); bytes after it are ignored.
sni_result peek_sni(std::string_view bytes);

}  // namespace orp::proxy
