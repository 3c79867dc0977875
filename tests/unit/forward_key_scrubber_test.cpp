// The request's key blotted out of what goes back to the client, however the bytes are split.
#include "forward/key_scrubber.hpp"

#include <gtest/gtest.h>

namespace orp::forward {
namespace {

constexpr std::string_view kKey = "sk-or-v1-0123456789abcdef0123456789abcdef3f9a";
constexpr std::string_view kBlotted = "sk-or-v1-********************************3f9a";

std::string scrub_in_pieces(std::string_view text, std::size_t piece, std::string_view secret = kKey) {
  key_scrubber s(secret);
  std::string out;
  for (std::size_t at = 0; at < text.size(); at += piece) out += s.scrub(text.substr(at, piece));
  out += s.flush();
  return out;
}

TEST(KeyScrubber, TheKeyIsBlottedOutSameLengthAtEverySplit) {
  const std::string text = "data: {\"error\":{\"message\":\"key " + std::string(kKey) + " was refused\"}}\n\n" +
                           "0\r\nX-Trailer: " + std::string(kKey) + "\r\n\r\n";
  std::string want = text;
  for (auto at = want.find(kKey); at != std::string::npos; at = want.find(kKey)) want.replace(at, kKey.size(), kBlotted);
  ASSERT_EQ(want.size(), text.size());
  for (std::size_t piece = 1; piece <= text.size(); ++piece) ASSERT_EQ(scrub_in_pieces(text, piece), want) << piece;
}

TEST(KeyScrubber, BytesThatOnlyLookLikeTheStartOfTheKeyComeOutUnchanged) {
  const std::string text = "ask sk-or-v1-0123 and sk-or- then s";
  for (std::size_t piece = 1; piece <= text.size(); ++piece) ASSERT_EQ(scrub_in_pieces(text, piece), text) << piece;
}

TEST(KeyScrubber, CleanPiecesPassThroughWithoutACopy) {
  key_scrubber s(kKey);
  const std::string_view event = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n";
  EXPECT_EQ(s.scrub(event).data(), event.data());
  EXPECT_EQ(s.flush(), "");
}

TEST(KeyScrubber, KeysOfOtherFormsKeepOnlyTheirLastFour) {
  const std::string_view plain = "plainkey0123456789abcdefXYZ";
  EXPECT_EQ(scrub_in_pieces("x plainkey0123456789abcdefXYZ y", 5, plain), "x ***********************fXYZ y");
  std::string head = "HTTP/1.1 400 Bad Request\r\nX-Debug-Key: " + std::string(kKey) + "\r\n\r\n";
  key_scrubber(kKey).scrub_in_place(head);
  EXPECT_EQ(head, "HTTP/1.1 400 Bad Request\r\nX-Debug-Key: " + std::string(kBlotted) + "\r\n\r\n");
}

TEST(KeyScrubber, TheSecretPartQuotedAloneIsBlottedToo) {
  // "sk-or-v1-" + the hex is the key: the hex alone must not reach the client either.
  const std::string_view part = kKey.substr(9);
  const std::string text = "key " + std::string(part) + " refused; full " + std::string(kKey) + "\n";
  const std::string want = "key ********************************3f9a refused; full " + std::string(kBlotted) + "\n";
  for (std::size_t piece = 1; piece <= text.size(); ++piece) {
    key_scrubber s(kKey, part);
    std::string out;
    for (std::size_t at = 0; at < text.size(); at += piece) out += s.scrub(std::string_view(text).substr(at, piece));
    out += s.flush();
    ASSERT_EQ(out, want) << piece;
  }
  std::string head = "HTTP/1.1 403 Forbidden\r\nX-Debug: " + std::string(part) + "\r\n\r\n";
  key_scrubber(kKey, part).scrub_in_place(head);
  EXPECT_EQ(head, "HTTP/1.1 403 Forbidden\r\nX-Debug: ********************************3f9a\r\n\r\n");
}

}  // namespace
}  // namespace orp::forward
