#include "http/serialize.hpp"

namespace orp::http {

namespace {

void append_fields(std::string& out, const header_list& headers) {
  for (const auto& h : headers) {
    out += h.name;
    out += ": ";
    out += h.value;
    out += "\r\n";
  }
  out += "\r\n";
}

}  // namespace

std::string serialize_request_head(const request_head& head, std::string_view target_override) {
  std::string out;
  out.reserve(256);
  out += head.method;
  out += ' ';
  out += target_override.empty() ? std::string_view(head.target) : target_override;
  out += " HTTP/1.1\r\n";
  append_fields(out, head.headers);
  return out;
}

std::string serialize_response_head(const response_head& head) {
  std::string out;
  out.reserve(256);
  out += "HTTP/1.1 ";
  out += std::to_string(head.status);
  // The space stays even with an empty reason: status-line = version SP code SP [reason] (RFC 9112 4).
  out += ' ';
  out += head.reason;
  out += "\r\n";
  append_fields(out, head.headers);
  return out;
}

}  // namespace orp::http
