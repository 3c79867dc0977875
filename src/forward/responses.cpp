#include "forward/responses.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace orp::forward {

namespace {
// Masks key-shaped words in every string below `v`; true when any changed.
bool mask_strings(boost::json::value& v, const keys::key_masker& masker, int depth = 0) {
  if (depth > 64) return false;  // error bodies are shallow; a pathological one is left alone
  bool changed = false;
  if (auto* s = v.if_string()) {
    std::string masked = masker.mask_escaped(*s);  // escaped twice: "sk\\u002dor..." in JSON
    if (masked != std::string_view(*s)) {
      *s = masked;
      changed = true;
    }
  } else if (auto* o = v.if_object()) {
    bool name_changed = false;
    for (auto& member : *o) {
      changed = mask_strings(member.value(), masker, depth + 1) || changed;
      name_changed = name_changed || masker.mask_escaped(member.key()) != std::string_view(member.key());
    }
    if (name_changed) {  // member names are text too: {"metadata":{"<key>":1}}
      boost::json::object renamed;
      for (auto& member : *o) renamed[masker.mask_escaped(member.key())] = std::move(member.value());
      *o = std::move(renamed);
      changed = true;
    }
  } else if (auto* a = v.if_array()) {
    for (auto& element : *a) changed = mask_strings(element, masker, depth + 1) || changed;
  }
  return changed;
}

}  // namespace

std::optional<std::string> mask_error_body(std::string_view body, const keys::key_masker& masker) {
  boost::system::error_code ec;
  auto doc = boost::json::parse(body, ec);
  if (!ec) {
    if (!mask_strings(doc, masker)) return std::nullopt;
    return boost::json::serialize(doc);
  }
  // Not JSON as a whole, but a key may still be there behind JSON escapes ("sk\u002dor...").
  std::string masked = masker.mask_escaped(body);
  if (masked == body) return std::nullopt;
  return masked;
}

std::string_view reason_phrase(unsigned status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Error";
  }
}

std::string error_response(unsigned status, std::string_view message, bool keep_alive,
                           std::optional<std::chrono::seconds> retry_after, std::string_view extra_headers) {
  boost::json::value body = {{"error", {{"code", status}, {"message", message}}}};
  std::string text = boost::json::serialize(body);
  text += '\n';
  std::string out;
  out.reserve(256 + text.size());
  out += "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason_phrase(status)) + "\r\n";
  out += "Content-Type: application/json\r\nContent-Length: " + std::to_string(text.size()) + "\r\n";
  if (retry_after) out += "Retry-After: " + std::to_string(retry_after->count()) + "\r\n";
  out += extra_headers;
  out += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  out += text;
  return out;
}

}  // namespace orp::forward
