#include "proxy/proxy_auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstdint>
#include <stdexcept>

namespace orp::proxy {
namespace {

using digest = std::array<unsigned char, 32>;

digest sha256(std::string_view data) {
  digest out{};
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &length, EVP_sha256(), nullptr) != 1 || length != out.size()) {
    // Without a digest nothing can match; an all-zero digest is not one of a real input.
    out.fill(0);
  }
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool all_visible(std::string_view text) {
  for (const char c : text) {
    if (c <= 0x20 || c == 0x7f) return false;
  }
  return true;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// RFC 9110 section 11.4: credentials = auth-scheme [ 1*SP token68 ]. Returns the token68 when the
// scheme is `scheme` (case-insensitive), else nullopt.
std::optional<std::string_view> credentials_for(std::string_view value, std::string_view scheme) {
  value = trim(value);
  const std::size_t space = value.find(' ');
  if (space == std::string_view::npos || !iequals(value.substr(0, space), scheme)) return std::nullopt;
  std::string_view token = value.substr(space);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  if (token.empty() || !all_visible(token)) return std::nullopt;
  return token;
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

[[noreturn]] void bad_entry(std::size_t position, std::string_view what) {
  throw std::invalid_argument("proxy.clients entry " + std::to_string(position) + " " + std::string(what) +
                              " (expected name:secret,name2:secret2)");
}

}  // namespace

std::optional<std::string> decode_base64(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::size_t padding = 0;
  if (!text.empty() && text.back() == '=') padding = text.size() >= 2 && text[text.size() - 2] == '=' ? 2 : 1;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    std::uint32_t group = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      const bool is_padding = last && j >= 4 - padding;
      const int value = is_padding ? 0 : base64_value(text[i + j]);
      if (value < 0) return std::nullopt;
      group = group << 6 | static_cast<std::uint32_t>(value);
    }
    // RFC 4648 section 3.5: the bits under the padding must be zero (a canonical encoding).
    if (last && padding == 1 && (group & 0xff) != 0) return std::nullopt;
    if (last && padding == 2 && (group & 0xffff) != 0) return std::nullopt;
    out += static_cast<char>(group >> 16);
    if (!(last && padding == 2)) out += static_cast<char>(group >> 8 & 0xff);
    if (!(last && padding >= 1)) out += static_cast<char>(group & 0xff);
  }
  return out;
}

client_credentials::client_credentials(std::string_view setting) {
  std::size_t position = 0;
  while (!setting.empty()) {
    const std::size_t comma = setting.find(',');
    const std::string_view entry = trim(setting.substr(0, comma));
    setting = comma == std::string_view::npos ? std::string_view{} : setting.substr(comma + 1);
    if (entry.empty()) continue;
    ++position;
    const std::size_t colon = entry.find(':');
    if (colon == std::string_view::npos) bad_entry(position, "has no ':'");
    const std::string_view name = entry.substr(0, colon);
    const std::string_view secret = entry.substr(colon + 1);
    if (name.empty()) bad_entry(position, "has an empty name");
    std::string label = "(";  // appended, not "(" + std::string: GCC 12 warns on that falsely
    label.append(name).append(")");
    if (!all_visible(name)) bad_entry(position, "has whitespace or control characters in its name");
    if (secret.empty()) bad_entry(position, label + " has an empty secret");
    if (!all_visible(secret)) bad_entry(position, label + " has whitespace or control characters in its secret");
    client entry_client{std::string(name), sha256(name), sha256(secret)};
    for (const client& other : clients_) {
      if (other.name == entry_client.name) bad_entry(position, label + " repeats a name");
      if (other.secret_digest == entry_client.secret_digest) {
        bad_entry(position, label + " has the same secret as " + other.name);
      }
    }
    clients_.push_back(std::move(entry_client));
  }
}

std::vector<std::string> client_credentials::names() const {
  std::vector<std::string> out;
  for (const client& c : clients_) out.push_back(c.name);
  return out;
}

std::optional<std::string> client_credentials::check_basic(std::string_view proxy_authorization) const {
  const auto token = credentials_for(proxy_authorization, "basic");
  if (!token) return std::nullopt;
  auto decoded = decode_base64(*token);
  if (!decoded) return std::nullopt;
  // RFC 7617 section 2: the user-id cannot hold ':', the password can.
  const std::size_t colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  const std::string_view pair = *decoded;
  auto result = check_pair(pair.substr(0, colon), pair.substr(colon + 1));
  OPENSSL_cleanse(decoded->data(), decoded->size());
  return result;
}

std::optional<std::string> client_credentials::check_pair(std::string_view name, std::string_view secret) const {
  const digest name_digest = sha256(name);
  return match(&name_digest, sha256(secret));
}

std::optional<std::string> client_credentials::check_bearer(std::string_view authorization) const {
  const auto token = credentials_for(authorization, "bearer");
  if (!token) return std::nullopt;
  return match(nullptr, sha256(*token));
}

std::optional<std::string> client_credentials::match(const digest* name, const digest& secret) const {
  // Every client is compared, with no early exit, so the time does not depend on which one matched.
  std::size_t found = clients_.size();
  for (std::size_t i = 0; i < clients_.size(); ++i) {
    const bool name_ok =
        name == nullptr || CRYPTO_memcmp(name->data(), clients_[i].name_digest.data(), name->size()) == 0;
    const bool secret_ok = CRYPTO_memcmp(secret.data(), clients_[i].secret_digest.data(), secret.size()) == 0;
    if (name_ok & secret_ok) found = i;
  }
  if (found == clients_.size()) return std::nullopt;
  return clients_[found].name;
}

}  // namespace orp::proxy
