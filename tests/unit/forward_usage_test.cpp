// The usage scanner: token counts and cost from a completion's body or a stream's final event,
// whatever the read boundaries, and a stream's buffer stays small however long it runs.
#include <gtest/gtest.h>

#include "forward/usage.hpp"

namespace orp::forward {
namespace {

const std::string kCompletion =
    R"({"id":"gen-1","choices":[{"message":{"role":"assistant","content":"hi"}}],)"
    R"("usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17,"cost":0.000042}})";

std::string stream_with_events(int content_events) {
  std::string s = ": OPENROUTER PROCESSING\n\n";
  for (int i = 0; i < content_events; ++i)
    s += R"(data: {"id":"gen-2","choices":[{"delta":{"content":"word )" + std::to_string(i) + "\"}}]}\n\n";
  s += R"(data: {"id":"gen-2","choices":[{"delta":{},"finish_reason":"stop"}],)"
       R"("usage":{"prompt_tokens":30,"completion_tokens":400,"cost":0.0021}})"
       "\n\ndata: [DONE]\n\n";
  return s;
}

log::access_record scan_in_pieces(std::string_view body, bool events, std::size_t piece) {
  usage_scanner u(events);
  for (std::size_t at = 0; at < body.size(); at += piece) u.scan(body.substr(at, piece));
  log::access_record rec;
  u.apply(rec);
  return rec;
}

// Scans `body` cut into pieces of every size up to `max_piece` and checks what apply() reports.
void expect_usage_at_every_split(std::string_view body, bool events, std::size_t max_piece, std::int64_t prompt,
                                 std::int64_t completion, double cost) {
  for (std::size_t piece = 1; piece <= max_piece; ++piece) {
    auto rec = scan_in_pieces(body, events, piece);
    ASSERT_EQ(rec.prompt_tokens, prompt) << "pieces of " << piece;
    EXPECT_EQ(rec.completion_tokens, completion);
    ASSERT_TRUE(rec.cost);
    EXPECT_DOUBLE_EQ(*rec.cost, cost);
  }
}

TEST(UsageScanner, CompletionBodyAtEverySplit) {
  expect_usage_at_every_split(kCompletion, false, kCompletion.size(), 12, 5, 0.000042);
}

TEST(UsageScanner, StreamFinalEventAtEverySplit) {
  expect_usage_at_every_split(stream_with_events(20), true, 300, 30, 400, 0.0021);
}

TEST(UsageScanner, StreamWithoutUsageReportsNone) {
  std::string body = "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\ndata: [DONE]\n\n";
  auto rec = scan_in_pieces(body, true, 7);
  EXPECT_FALSE(rec.prompt_tokens);
  EXPECT_FALSE(rec.cost);
}

// Found by fuzz/upstream_response_fuzz.cpp: the same bytes gave different answers depending on
// how they were split into reads, because the completion's kept tail was longer after small reads
// (a "usage" just beyond the last 4 KiB counted only then), and a complete line over the line
// limit counted when it came in one piece but not in several. Both now depend on the bytes only.
TEST(UsageScanner, TheAnswerDoesNotDependOnTheReads) {
  const std::string early_usage = R"({"usage":{"prompt_tokens":1,"completion_tokens":2,"cost":3}})";
  const std::string completion = early_usage + std::string(4096 + 10, ' ') + "}";
  const std::string long_line = "data: " + std::string(64 * 1024, 'y') + R"({"usage":{"completion_tokens":9}})" + "\n\n";
  for (const auto& [body, events] : {std::pair{completion, false}, std::pair{long_line, true}}) {
    usage_scanner whole(events);
    whole.scan(body);
    log::access_record expected;
    whole.apply(expected);
    for (std::size_t piece : {std::size_t{1}, std::size_t{7}, std::size_t{90}, std::size_t{4095}, std::size_t{40000}}) {
      auto rec = scan_in_pieces(body, events, piece);
      EXPECT_EQ(rec.prompt_tokens, expected.prompt_tokens) << "pieces of " << piece << ", events " << events;
      EXPECT_EQ(rec.completion_tokens, expected.completion_tokens) << "pieces of " << piece << ", events " << events;
      EXPECT_EQ(rec.cost.has_value(), expected.cost.has_value()) << "pieces of " << piece << ", events " << events;
    }
  }
}

// A long stream whose events arrive whole holds no buffer between them; a line longer than the
// limit is skipped and does not stop a later usage line from being found.
TEST(UsageScanner, LongStreamHoldsAlmostNothing) {
  usage_scanner u(true);
  std::size_t most = 0;
  for (int i = 0; i < 10000; ++i) {
    u.scan(R"(data: {"choices":[{"delta":{"content":"a few words of text"}}]})" "\n\n");
    most = std::max(most, u.held());
  }
  EXPECT_LE(most, 64u);
  u.scan("data: " + std::string(100 * 1024, 'x'));  // an endless line: not kept
  u.scan("\n\n");
  EXPECT_LE(u.held(), 1024u);
  u.scan(R"(data: {"usage":{"prompt_tokens":1,"completion_tokens":2}})" "\n\n");
  log::access_record rec;
  u.apply(rec);
  EXPECT_EQ(rec.completion_tokens, 2);
}

// A stream whose later event is an error object: reported, masked, whatever the reads.
TEST(UsageScanner, AnErrorEventAfterDataIsReported) {
  std::string body = stream_with_events(2);
  body.insert(body.find("data: {\"id\":\"gen-2\",\"choices\":[{\"delta\":{},"),
              "data: {\"id\":\"gen-2\",\"error\":{\"code\":502,\"message\":\"Provider sk-or-v1-abcdef0123456789 gone\"},"
              "\"choices\":[{\"finish_reason\":\"error\"}]}\r\n\r\n");
  for (std::size_t piece : {std::size_t{1}, std::size_t{7}, std::size_t{64}, body.size()}) {
    usage_scanner u(true);
    for (std::size_t at = 0; at < body.size(); at += piece) u.scan(std::string_view(body).substr(at, piece));
    EXPECT_EQ(u.stream_error().substr(0, 13), "502 Provider ") << piece;
    EXPECT_EQ(u.stream_error().find("abcdef0123456789"), std::string::npos) << u.stream_error();
  }
}

TEST(UsageScanner, ContentThatMentionsAnErrorIsNoError) {
  usage_scanner u(true);
  u.scan("data: {\"choices\":[{\"delta\":{\"content\":\"an \\\"error\\\": 1\"}}]}\n\n");
  u.scan("data: {\"error\": \"not an object\"}\n\ndata: [DONE]\n\n");
  EXPECT_EQ(u.stream_error(), "");
  usage_scanner completion(false);
  completion.scan("data: {\"error\":{\"code\":1}}\n");
  EXPECT_EQ(completion.stream_error(), "");
}

TEST(ModelOf, TheNameIsDecodedFromItsJsonString) {
  EXPECT_EQ(model_of(R"({"model":"openai/gpt-4o","messages":[]})"), "openai/gpt-4o");
  EXPECT_EQ(model_of(R"({"model": "openai\/gpt-4o"})"), "openai/gpt-4o");
  EXPECT_EQ(model_of(R"({"model":"caf\u00e9"})"), "caf\xc3\xa9");
  EXPECT_EQ(model_of(R"({"model":"my\"model","stream":true})"), "my\"model");
  EXPECT_EQ(model_of(R"({"model":"back\\slash"})"), "back\\slash");
  EXPECT_EQ(model_of(R"({"model":"unterminated\"})"), "");
  EXPECT_EQ(model_of(R"({"model":42})"), "");
  EXPECT_EQ(model_of("{\"model\":\"" + std::string(201, 'x') + "\"}"), "");
  EXPECT_EQ(model_of("{\"model\":\"" + std::string(200, 'x') + "\"}"), std::string(200, 'x'));
}

}  // namespace
}  // namespace orp::forward
