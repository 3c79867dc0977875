#pragma once
// Responses the proxy makes itself, in OpenRouter's error shape.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace orp::forward {

std::string_view reason_phrase(unsigned status);

// {"error":{"code":N,"message":"..."}} with status line and headers, ready to write.
std::string error_response(unsigned status, std::string_view message, bool keep_alive, unsigned attempts = 0,
                           std::optional<std::chrono::seconds> retry_after = std::nullopt,
                           std::string_view extra_headers = {});

}  // namespace orp::forward
