#include "forward/heads.hpp"

#include "forward/responses.hpp"
#include "http/headers.hpp"

namespace orp::forward {

namespace {
bool is_body_method(std::string_view m) { return m == "POST" || m == "PUT" || m == "PATCH"; }

}  // namespace

bool forwards_request_header(std::string_view name, const http::connection_options& connection) {
  return !(http::is_hop_by_hop(name) || http::iequals(name, "Host") || http::iequals(name, "Authorization") ||
           http::iequals(name, "Content-Length") || http::iequals(name, "Expect") ||
           http::iequals(name, "Accept-Encoding") || connection.lists(name));
}

std::string build_upstream_head(const http::request_head& head, std::size_t body_size, const upstream::target& t,
                                std::string_view secret) {
  std::string out;
  out.reserve(512 + head.target.size());
  out += head.method;
  out += ' ';
  out += upstream::map_request_target(t, head.target);
  out += " HTTP/1.1\r\nHost: ";
  out += t.host_header();
  out += "\r\n";
  const http::connection_options connection(head.headers);
  for (const auto& h : head.headers) {
    if (!forwards_request_header(h.name, connection)) continue;
    out += h.name;
    out += ": ";
    out += h.value;
    out += "\r\n";
  }
  out += "Authorization: Bearer ";
  out += secret;
  out += "\r\n";
  if (body_size != 0 || is_body_method(head.method)) {
    out += "Content-Length: ";
    out += std::to_string(body_size);
    out += "\r\n";
  }
  out += "\r\n";
  return out;
}

std::string build_client_head(const http::response_head& h, std::string_view key_display, unsigned attempts,
                              bool keep_alive, std::optional<std::size_t> new_length, bool close_delimited) {
  std::string out;
  out.reserve(512);
  out += "HTTP/1.1 ";
  out += std::to_string(h.status);
  out += ' ';
  out += h.reason.empty() ? reason_phrase(h.status) : std::string_view(h.reason);
  out += "\r\n";
  // A 204 or 304 has no body to frame (RFC 9112 6.3): a 204 carries no Content-Length at all
  // (RFC 9110 8.6), a 304 keeps the upstream's, which describes the 200 it stands for.
  const bool framed = !http::ends_at_head(h.status);
  for (const auto& f : h.headers) {
    if (http::is_hop_by_hop(f.name) || http::iequals(f.name, "X-Proxy-Key") ||
        http::iequals(f.name, "X-Proxy-Attempts") ||
        ((h.status == 204 || (framed && new_length)) && http::iequals(f.name, "Content-Length")))
      continue;
    out += f.name;
    out += ": ";
    out += f.value;
    out += "\r\n";
  }
  // The body is relayed as it arrives on the wire, so its framing goes with it: the upstream's
  // Transfer-Encoding as it came, codings before chunked included ("gzip, chunked" relabelled
  // "chunked" would hand the client gzip data with no sign of it; RFC 9112 6.1).
  if (framed && new_length) {
    out.append("Content-Length: ").append(std::to_string(*new_length)).append("\r\n");
  } else if (framed && !close_delimited) {
    for (const auto& f : h.headers) {
      if (http::iequals(f.name, "Transfer-Encoding")) out.append("Transfer-Encoding: ").append(f.value).append("\r\n");
    }
  }
  out += proxy_headers(key_display, attempts);
  out += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  return out;
}

std::string proxy_headers(std::string_view key_display, unsigned attempts) {
  static constexpr std::string_view ellipsis = "\xe2\x80\xa6";  // U+2026, as masks write it
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out = "X-Proxy-Key: ";
  if (key_display.empty()) out += "none";
  for (std::size_t i = 0; i < key_display.size(); ++i) {
    if (key_display[i] == ellipsis.front() && key_display.substr(i).starts_with(ellipsis)) {
      out += "...";
      i += ellipsis.size() - 1;
      continue;
    }
    const auto c = static_cast<unsigned char>(key_display[i]);
    if (c > 0x20 && c < 0x7f && c != '%') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xf];
    }
  }
  out += "\r\nX-Proxy-Attempts: ";
  out += std::to_string(attempts);
  out += "\r\n";
  return out;
}


}  // namespace orp::forward
