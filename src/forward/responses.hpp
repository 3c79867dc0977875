#pragma once
// Responses the proxy makes itself, in OpenRouter's error shape.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace orp::forward {

std::string_view reason_phrase(unsigned status);

// {"error":{"code":N,"message":"..."}} with status line and headers, ready to write.
// extra_headers: whole lines, each ending in CRLF (proxy_headers() for an intercepted request).
std::string error_response(unsigned status, std::string_view message, bool keep_alive,
                           std::optional<std::chrono::seconds> retry_after = std::nullopt,
                           std::string_view extra_headers = {});

}  // namespace orp::forward
