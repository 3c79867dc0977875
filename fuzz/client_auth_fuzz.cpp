// What any client on the proxy's port may send before it is known: Proxy-Authorization (Basic),
// a base-URL mode Authorization (Bearer), SOCKS5 username/password, and the request target that
// base-URL mode maps onto the upstream; also the proxy.clients setting. The first byte picks one.
// A check may only ever name a configured client, and only for its own secret.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "proxy/proxy_auth.hpp"
#include "upstream/target.hpp"

namespace {

const orp::proxy::client_credentials& clients() {
  static const orp::proxy::client_credentials c("alice:s3cret-Alice,bob:p@ss:word");
  return c;
}

// A client named only when `presented` (the secret as the client sent it, decoded) is its own.
void require_own_secret(const std::optional<std::string>& name, std::string_view presented) {
  if (!name) return;
  if (*name == "alice" && presented.find("s3cret-Alice") != std::string_view::npos) return;
  if (*name == "bob" && presented.find("p@ss:word") != std::string_view::npos) return;
  __builtin_trap();
}

std::string decoded_token(std::string_view header) {
  while (!header.empty() && (header.back() == ' ' || header.back() == '\t')) header.remove_suffix(1);  // OWS
  const auto space = header.find_last_of(" \t");
  auto token = space == std::string_view::npos ? header : header.substr(space + 1);
  auto decoded = orp::proxy::decode_base64(token);
  return decoded ? *decoded : std::string();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 6) {
    case 0:
      try {
        const orp::proxy::client_credentials parsed(input);
        (void)parsed.names();
      } catch (const std::invalid_argument& e) {
        if (std::string_view(e.what()).empty()) __builtin_trap();
      }
      break;
    case 1:
      require_own_secret(clients().check_basic(input), decoded_token(input));
      break;
    case 2:
      require_own_secret(clients().check_bearer(input), input);
      break;
    case 3: {
      const auto cut = input.find('\0');
      const auto name = input.substr(0, cut);
      const auto secret = cut == std::string_view::npos ? std::string_view() : input.substr(cut + 1);
      require_own_secret(clients().check_pair(name, secret), secret);
      break;
    }
    case 4:
      if (auto decoded = orp::proxy::decode_base64(input)) {
        // Strict base64: 4 characters for every 3 bytes, the last group padded.
        if (input.size() % 4 != 0 || decoded->size() > input.size() / 4 * 3 ||
            decoded->size() + 2 < input.size() / 4 * 3)
          __builtin_trap();
      }
      break;
    default: {
      static const auto upstream = orp::upstream::parse_api_url("https://openrouter.ai/api/v1");
      const auto mapped = orp::upstream::map_request_target(upstream, input);
      (void)mapped;
      break;
    }
  }
  return 0;
}
