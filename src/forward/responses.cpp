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
    std::string masked = masker.mask(*s);
    if (masked != std::string_view(*s)) {
      *s = masked;
      changed = true;
    }
  } else if (auto* o = v.if_object()) {
    bool name_changed = false;
    for (auto& member : *o) {
      changed = mask_strings(member.value(), masker, depth + 1) || changed;
      name_changed = name_changed || masker.mask(member.key()) != std::string_view(member.key());
    }
    if (name_changed) {  // member names are text too: {"metadata":{"<key>":1}}
      boost::json::object renamed;
      for (auto& member : *o) renamed[masker.mask(member.key())] = std::move(member.value());
      *o = std::move(renamed);
      changed = true;
    }
  } else if (auto* a = v.if_array()) {
    for (auto& element : *a) changed = mask_strings(element, masker, depth + 1) || changed;
  }
  return changed;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// `text` with JSON string escapes (\uXXXX, \n, \/ ...) decoded where they are well formed;
// anything else is copied as it is. For bodies that are not JSON as a whole (cut short, or JSON
// quoted inside text) but may still carry a key in escaped form.
std::string decode_json_escapes(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  auto append_utf8 = [&out](std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  };
  auto hex4 = [&text](std::size_t at) -> int {
    if (at + 4 > text.size()) return -1;
    int v = 0;
    for (std::size_t k = at; k < at + 4; ++k) {
      int d = hex_value(text[k]);
      if (d < 0) return -1;
      v = v * 16 + d;
    }
    return v;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\' || i + 1 == text.size()) {
      out += text[i];
      continue;
    }
    char e = text[i + 1];
    const char* simple = nullptr;
    switch (e) {
      case '"': simple = "\""; break;
      case '\\': simple = "\\"; break;
      case '/': simple = "/"; break;
      case 'b': simple = "\b"; break;
      case 'f': simple = "\f"; break;
      case 'n': simple = "\n"; break;
      case 'r': simple = "\r"; break;
      case 't': simple = "\t"; break;
      default: break;
    }
    if (simple) {
      out += simple;
      ++i;
      continue;
    }
    int cp = e == 'u' ? hex4(i + 2) : -1;
    if (cp < 0) {
      out += text[i];
      continue;
    }
    std::size_t used = 6;
    std::uint32_t code = static_cast<std::uint32_t>(cp);
    if (cp >= 0xD800 && cp < 0xDC00 && i + 11 < text.size() && text[i + 6] == '\\' && text[i + 7] == 'u') {
      int low = hex4(i + 8);
      if (low >= 0xDC00 && low < 0xE000) {
        code = 0x10000 + ((static_cast<std::uint32_t>(cp) - 0xD800) << 10) + (static_cast<std::uint32_t>(low) - 0xDC00);
        used = 12;
      }
    }
    if (code >= 0xD800 && code < 0xE000) code = 0xFFFD;  // a lone surrogate
    append_utf8(code);
    i += used - 1;
  }
  return out;
}
}  // namespace

std::optional<std::string> mask_error_body(std::string_view body, const keys::key_masker& masker) {
  boost::system::error_code ec;
  auto doc = boost::json::parse(body, ec);
  if (!ec) {
    if (!mask_strings(doc, masker)) return std::nullopt;
    return boost::json::serialize(doc);
  }
  std::string masked = masker.mask(body);
  if (masked != body) return masked;
  // Not JSON as a whole, but a key may still be there behind JSON escapes ("sk\u002dor..."): the
  // body then goes out with its escapes decoded, and masked.
  if (body.find('\\') == std::string_view::npos) return std::nullopt;
  std::string decoded = decode_json_escapes(body);
  masked = masker.mask(decoded);
  if (masked == decoded) return std::nullopt;
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
