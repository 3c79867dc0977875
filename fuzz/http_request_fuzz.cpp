// Feeds request_parser the input whole and split in two at a position taken from the first byte;
// both runs must see the same heads, bodies and outcome.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "http/parser.hpp"

namespace {

using orp::http::parse_status;
using orp::http::request_head;
using orp::http::request_parser;

struct transcript {
  std::vector<request_head> heads;
  std::vector<std::string> bodies;
  unsigned error_status = 0;
  bool stopped = false;
  bool operator==(const transcript&) const = default;
};

// One read's worth of bytes, driven the way a session does; false once the connection would end.
bool drive(request_parser& parser, std::string_view data, std::string& body, transcript& t) {
  for (;;) {
    const auto result = parser.feed(data, &body);
    if (result.consumed > data.size()) __builtin_trap();
    data.remove_prefix(result.consumed);
    switch (result.status) {
      case parse_status::need_more:
        if (!data.empty()) __builtin_trap();  // documented: need_more consumed everything
        return true;
      case parse_status::head_complete:
        t.heads.push_back(parser.head());
        continue;
      case parse_status::message_complete:
        t.bodies.push_back(body);
        body.clear();
        if (!parser.head().keep_alive) return false;
        parser.reset();
        if (data.empty()) return true;
        continue;
      case parse_status::error:
        t.error_status = parser.error_status();
        if (t.error_status == 0 || parser.error_reason().empty()) __builtin_trap();
        return false;
    }
  }
}

transcript run(const std::vector<std::string_view>& pieces) {
  request_parser parser(4096);
  parser.set_max_body_bytes(64 * 1024);
  transcript t;
  std::string body;
  for (const std::string_view piece : pieces) {
    if (!drive(parser, piece, body, t)) {
      t.stopped = true;
      break;
    }
  }
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t cut_hint = data[0];
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::size_t cut = input.empty() ? 0 : cut_hint % (input.size() + 1);
  const transcript whole = run({input});
  const transcript split = run({input.substr(0, cut), input.substr(cut)});
  if (!(whole == split)) __builtin_trap();
  return 0;
}
