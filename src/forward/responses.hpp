#pragma once
// Responses the proxy makes itself, in OpenRouter's error shape.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "keys/key_masker.hpp"

namespace orp::forward {

std::string_view reason_phrase(unsigned status);

// An upstream error body as the client may see it: OpenRouter quotes the key it was sent in some
// error messages, and a pool key must not reach a client. Every string of a JSON body (escapes
// decoded, so "sk\u002dor..." is caught too) or the text of another body gets the pool's keys
// and other key-shaped words masked; nullopt when nothing needed masking (the body then goes
// out as it came).
std::optional<std::string> mask_error_body(std::string_view body, const keys::key_masker& masker);

// {"error":{"code":N,"message":"..."}} with status line and headers, ready to write.
// extra_headers: whole lines, each ending in CRLF (proxy_headers() for an intercepted request).
std::string error_response(unsigned status, std::string_view message, bool keep_alive,
                           std::optional<std::chrono::seconds> retry_after = std::nullopt,
                           std::string_view extra_headers = {});

}  // namespace orp::forward
