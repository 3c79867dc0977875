// parse_body after a response head: where the body ends, including bodies of no bytes at all,
// which complete only because parse_body feeds the parser once more after the head.
#include "forward/exchange.hpp"

#include <gtest/gtest.h>

#include <cstdint>

namespace orp::forward {
namespace {

// Feeds a whole head; returns what came after it in `bytes`.
std::string_view feed_head(exchange& ex, std::string_view bytes) {
  auto r = ex.parser.feed(bytes, nullptr);
  EXPECT_EQ(r.status, http::parse_status::head_complete);
  return bytes.substr(r.consumed);
}

// parse_body's count of the bytes of `data` that belong to this response; a framing error fails.
std::size_t body_bytes(exchange& ex, std::string_view data) {
  auto used = parse_body(ex, data, nullptr);
  EXPECT_TRUE(used) << data;
  return used.value_or(SIZE_MAX);
}

TEST(ForwardExchange, BodilessAnswersCompleteWithNothingMoreToRead) {
  for (std::string_view head : {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
                                "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
                                "HTTP/1.1 204 No Content\r\n\r\n", "HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n"}) {
    exchange ex;
    auto rest = feed_head(ex, head);
    EXPECT_TRUE(rest.empty());
    EXPECT_EQ(body_bytes(ex, rest), 0u) << head;
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
  EXPECT_EQ(body_bytes(ex, "hel"), 3u);
  EXPECT_FALSE(ex.complete);
  EXPECT_EQ(body_bytes(ex, "loHTTP/1.1"), 2u);  // bytes after the end: not this response's
  EXPECT_TRUE(ex.complete);
  EXPECT_FALSE(ex.reusable);
}

TEST(ForwardExchange, FeedingACompleteAnswerAgainTakesNothing) {
  exchange ex;
  auto rest = feed_head(ex, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(parse_body(ex, rest, nullptr));
  ASSERT_TRUE(ex.complete);
  EXPECT_EQ(body_bytes(ex, ""), 0u);
  EXPECT_TRUE(ex.reusable);
}

// A refused response is named for what is wrong with it, not "Invalid argument".
TEST(ForwardExchange, AMalformedAnswerSaysWhy) {
  exchange ex;
  feed_head(ex, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_FALSE(parse_body(ex, "zz\r\nhello\r\n", nullptr));
  auto text = failure_text(ex, net::asio::error::invalid_argument);
  EXPECT_TRUE(text.starts_with("upstream sent a malformed response: ")) << text;
  EXPECT_GT(text.size(), std::string_view("upstream sent a malformed response: ").size());
  EXPECT_EQ(failure_text(ex, net::asio::error::timed_out), "timeout");
  exchange fine;
  EXPECT_EQ(failure_text(fine, net::asio::error::connection_reset),
            net::error_code(net::asio::error::connection_reset).message());
}

}  // namespace
}  // namespace orp::forward
