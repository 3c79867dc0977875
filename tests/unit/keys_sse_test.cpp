#include <gtest/gtest.h>

#include "keys/sse.hpp"

namespace {

using orp::keys::sse_first_event;

const std::string error_stream =
    ": OPENROUTER PROCESSING\n\n: OPENROUTER PROCESSING\n\n"
    "data: {\"error\":{\"code\":429,\"message\":\"Rate limit exceeded\"}}\n\n";

TEST(KeysSse, CommentsThenErrorEvent) {
  const auto r = sse_first_event(error_stream);
  EXPECT_TRUE(r.complete);
  EXPECT_TRUE(r.is_error);
  EXPECT_EQ(r.data, R"({"error":{"code":429,"message":"Rate limit exceeded"}})");
  EXPECT_EQ(r.event_end, error_stream.size());
  EXPECT_EQ(r.comments_end, error_stream.find("data:"));
}

TEST(KeysSse, NormalFirstChunkIsNotAnError) {
  const std::string stream = "data: {\"id\":\"gen-1\",\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: [DONE]\n\n";
  const auto r = sse_first_event(stream);
  EXPECT_TRUE(r.complete);
  EXPECT_FALSE(r.is_error);
  EXPECT_EQ(r.event_end, stream.find("data: [DONE]"));
  EXPECT_EQ(r.comments_end, 0u);
}

TEST(KeysSse, EveryFragmentationPoint) {
  // Feeding the stream cut at each byte: incomplete until the blank line ending the event arrives.
  for (std::size_t cut = 0; cut <= error_stream.size(); ++cut) {
    const auto r = sse_first_event(std::string_view(error_stream).substr(0, cut));
    EXPECT_EQ(r.complete, cut == error_stream.size()) << cut;
    EXPECT_LE(r.comments_end, cut);
    EXPECT_LE(r.comments_end, error_stream.find("data:"));
  }
}

TEST(KeysSse, CrlfAndCrLineEndings) {
  const std::string crlf = ": OPENROUTER PROCESSING\r\n\r\ndata: {\"error\":{\"code\":401}}\r\n\r\n";
  auto r = sse_first_event(crlf);
  EXPECT_TRUE(r.complete);
  EXPECT_TRUE(r.is_error);
  EXPECT_EQ(r.event_end, crlf.size());
  // The final LF of a CRLF still in flight: the blank line is already known.
  EXPECT_TRUE(sse_first_event(crlf.substr(0, crlf.size() - 1)).complete);
  EXPECT_FALSE(sse_first_event(crlf.substr(0, crlf.size() - 3)).complete);
  r = sse_first_event("data: {\"error\":{}}\r\r");
  EXPECT_TRUE(r.complete);
}

TEST(KeysSse, MultiLineDataAndFieldsWithoutSpace) {
  const auto r = sse_first_event("event: message\nid: 1\ndata:{\"error\":\ndata: {\"code\":500}}\n\n");
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.data, "{\"error\":\n{\"code\":500}}");
  EXPECT_TRUE(r.is_error);
}

TEST(KeysSse, EventsWithoutDataAreSkipped) {
  const auto r = sse_first_event("event: ping\n\n: keep-alive\n\ndata: {\"choices\":[]}\n\n");
  EXPECT_TRUE(r.complete);
  EXPECT_FALSE(r.is_error);
  EXPECT_EQ(r.data, "{\"choices\":[]}");
  EXPECT_EQ(r.comments_end, 0u);  // a non-comment line came first
}

TEST(KeysSse, EmptyAndCommentOnlyInput) {
  EXPECT_FALSE(sse_first_event("").complete);
  const std::string comments = ": OPENROUTER PROCESSING\n\n: OPENROUTER";
  const auto r = sse_first_event(comments);
  EXPECT_FALSE(r.complete);
  EXPECT_EQ(r.comments_end, comments.find(": OPENROUTER", 1));
}

}  // namespace
