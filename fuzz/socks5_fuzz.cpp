// The SOCKS5 handshake fed whole, split in two, and byte by byte must give the same transcript.
// The first byte picks the caller's answers: bit 0 require_auth, bit 1 auth ok, bits 2-5 the reply
// code; the second picks the split position.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/socks5.hpp"

namespace {

namespace socks5 = orp::proxy::socks5;

struct transcript {
  std::vector<std::string> events;
  std::string written;
  std::string tunnelled;
  bool closed = false;
  bool operator==(const transcript&) const = default;
};

transcript run(const std::vector<std::string_view>& pieces, std::uint8_t choices) {
  const bool require_auth = choices & 1;
  const bool auth_ok = choices & 2;
  const auto code = static_cast<socks5::reply_code>((choices >> 2) % 9);
  socks5::server_handshake handshake(require_auth);
  transcript t;
  bool tunnelling = false;
  for (const std::string_view piece : pieces) {
    if (t.closed) break;
    if (tunnelling) {
      t.tunnelled += piece;
      continue;
    }
    socks5::step s = handshake.feed(piece);
    for (int guard = 0;; ++guard) {
      if (guard > 16) __builtin_trap();  // a handshake has at most five steps
      if (std::holds_alternative<socks5::need_more>(s)) break;
      if (auto* send = std::get_if<socks5::send>(&s)) {
        t.written += send->bytes;
        s = handshake.feed({});
      } else if (auto* auth = std::get_if<socks5::authenticate>(&s)) {
        if (!require_auth) __builtin_trap();
        t.events.push_back("auth " + auth->username + "\n" + auth->password);
        s = handshake.auth_result(auth_ok);
      } else if (auto* connect = std::get_if<socks5::connect_request>(&s)) {
        if (connect->host.empty() || connect->host.size() > 255) __builtin_trap();
        t.events.push_back("connect " + connect->host + " " + std::to_string(connect->port));
        t.written += handshake.reply(code, "127.0.0.1", 1080);
        if (code == socks5::reply_code::succeeded) {
          tunnelling = true;
          t.tunnelled = handshake.take_leftover();
        } else {
          t.closed = true;
        }
        break;
      } else {
        const auto& failure = std::get<socks5::fail>(s);
        if (failure.reason.empty()) __builtin_trap();
        t.events.push_back("fail " + failure.reason);
        t.written += failure.bytes;
        t.closed = true;
        break;
      }
    }
  }
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t choices = data[0];
  const std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);
  const std::size_t cut = data[1] % (input.size() + 1);
  const transcript whole = run({input}, choices);
  if (!(run({input.substr(0, cut), input.substr(cut)}, choices) == whole)) __builtin_trap();
  if (input.size() <= 4096) {
    std::vector<std::string_view> singles;
    for (std::size_t i = 0; i < input.size(); ++i) singles.push_back(input.substr(i, 1));
    if (!(run(singles, choices) == whole)) __builtin_trap();
  }
  return 0;
}
