// parse_body after a response head: where the body ends, including bodies of no bytes at all,
// which complete only because parse_body feeds the parser once more after the head.
#include "forward/exchange.hpp"

#include <gtest/gtest.h>

namespace orp::forward {
namespace {

// Feeds a whole head; returns what came after it in `bytes`.
std::string_view feed_head(exchange& ex, std::string_view bytes) {
  auto r = ex.parser.feed(bytes, nullptr);
  EXPECT_EQ(r.status, http::parse_status::head_complete);
  return bytes.substr(r.consumed);
}

TEST(ForwardExchange, BodilessAnswersCompleteWithNothingMoreToRead) {
  for (std::string_view head : {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
                                "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
                                "HTTP/1.1 204 No Content\r\n\r\n", "HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n"}) {
    exchange ex;
    auto rest = feed_head(ex, head);
    EXPECT_TRUE(rest.empty());
    auto used = parse_body(ex, rest, nullptr);
    ASSERT_TRUE(used) << head;
    EXPECT_EQ(*used, 0u);
    EXPECT_TRUE(ex.complete) << head;
    EXPECT_TRUE(ex.reusable) << head;
  }
}

TEST(ForwardExchange, TheAnswerToHeadHasNoBodyWhateverItsLength) {
  exchange ex;
  ex.parser.set_no_body(true);
  auto rest = feed_head(ex, "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n");
  ASSERT_TRUE(parse_body(ex, rest, nullptr));
  EXPECT_TRUE(ex.complete);
}

TEST(ForwardExchange, AnEmptyFeedDoesNotEndABodyStillToCome) {
  exchange ex;
  auto rest = feed_head(ex, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
  ASSERT_TRUE(parse_body(ex, rest, nullptr));
  EXPECT_FALSE(ex.complete);
  auto used = parse_body(ex, "hel", nullptr);
  ASSERT_TRUE(used);
  EXPECT_EQ(*used, 3u);
  EXPECT_FALSE(ex.complete);
  used = parse_body(ex, "loHTTP/1.1", nullptr);  // bytes after the end: not this response's
  ASSERT_TRUE(used);
  EXPECT_EQ(*used, 2u);
  EXPECT_TRUE(ex.complete);
  EXPECT_FALSE(ex.reusable);
}

TEST(ForwardExchange, FeedingACompleteAnswerAgainTakesNothing) {
  exchange ex;
  auto rest = feed_head(ex, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(parse_body(ex, rest, nullptr));
  ASSERT_TRUE(ex.complete);
  auto used = parse_body(ex, "", nullptr);
  ASSERT_TRUE(used);
  EXPECT_EQ(*used, 0u);
  EXPECT_TRUE(ex.reusable);
}

}  // namespace
}  // namespace orp::forward
