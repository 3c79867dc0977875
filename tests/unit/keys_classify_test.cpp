#include <gtest/gtest.h>

#include "keys/classify.hpp"

namespace {

using namespace std::chrono;
using namespace std::chrono_literals;
using orp::keys::classify;
using orp::keys::classify_sse_first_event;
using orp::keys::header_list;
using orp::keys::outcome_kind;

// Wed, 15 Jan 2025 12:00:00 GMT
const system_clock::time_point now = sys_days{year{2025} / January / 15} + 12h;
const long long now_ms = duration_cast<milliseconds>(now.time_since_epoch()).count();

orp::keys::outcome of(unsigned status, std::string_view body, const header_list& headers = {}) {
  return classify(status, headers, body, now);
}

TEST(KeysClassify, SuccessStatuses) {
  for (unsigned status : {200u, 201u, 204u}) {
    const auto o = of(status, R"({"id":"gen-1","choices":[]})");
    EXPECT_EQ(o.kind, outcome_kind::success) << status;
    EXPECT_EQ(o.status, status);
  }
}

TEST(KeysClassify, AReasonFromABodyThatIsNotJsonIsValidUtf8) {
  // The reason goes into /keys, the state file, Redis and the log, all JSON.
  const auto o = of(502, "bad gateway \xff\xfe from the provider");
  EXPECT_EQ(o.reason, "502 bad gateway: bad gateway \xef\xbf\xbd\xef\xbf\xbd from the provider");
}

TEST(KeysClassify, ClientErrorsPassThrough) {
  EXPECT_EQ(of(400, R"({"error":{"code":400,"message":"Invalid model: foo/bar"}})").kind, outcome_kind::pass_through);
  EXPECT_EQ(of(404, R"({"error":{"code":404,"message":"No endpoints found for foo/bar."}})").kind,
            outcome_kind::pass_through);
  EXPECT_EQ(of(413, R"({"error":{"code":413,"message":"Request too large"}})").kind, outcome_kind::pass_through);
  EXPECT_EQ(of(422, R"({"error":{"code":422,"message":"Unprocessable"}})").kind, outcome_kind::pass_through);
  EXPECT_EQ(of(409, "").kind, outcome_kind::pass_through);
  const auto o = of(400, R"({"error":{"code":400,"message":"Invalid model: foo/bar"}})");
  EXPECT_EQ(o.reason, "400 bad request: Invalid model: foo/bar");
  EXPECT_FALSE(o.retry_after);
}

TEST(KeysClassify, Unauthorized401DisablesKey) {
  const auto o = of(401, R"({"error":{"code":401,"message":"No auth credentials found"}})");
  EXPECT_EQ(o.kind, outcome_kind::key_invalid);
  EXPECT_EQ(o.reason, "401 invalid key: No auth credentials found");
  EXPECT_EQ(of(401, R"({"error":{"message":"User not found.","code":401}})").kind, outcome_kind::key_invalid);
}

TEST(KeysClassify, PaymentRequired402IsNoCredit) {
  const auto credits =
      of(402, R"({"error":{"code":402,"message":"Insufficient credits","metadata":{"limit_source":"openrouter_credits"}}})");
  EXPECT_EQ(credits.kind, outcome_kind::key_no_credit);
  EXPECT_EQ(credits.reason, "402 payment required: Insufficient credits (limit_source=openrouter_credits)");
  EXPECT_EQ(of(402, R"({"error":{"code":402,"message":"Key limit exceeded","metadata":{"limit_source":"openrouter_key_limit"}}})")
                .kind,
            outcome_kind::key_no_credit);
  EXPECT_EQ(of(402, R"({"error":{"code":402,"message":"Payment required"}})").kind, outcome_kind::key_no_credit);
  EXPECT_EQ(of(402, "").kind, outcome_kind::key_no_credit);
}

TEST(KeysClassify, PaymentRequired402WithRetryAfterCoolsDown) {
  const auto o = of(402, R"({"error":{"code":402,"message":"Too many requests in flight for your budget"}})",
                    {{"Retry-After", "7"}});
  EXPECT_EQ(o.kind, outcome_kind::key_cooldown);
  EXPECT_EQ(o.retry_after, 7000ms);
}

TEST(KeysClassify, Forbidden403ModerationPassesThrough) {
  const auto o = of(403, R"({"error":{"code":403,"message":"gpt-4o requires moderation. Your input was flagged",)"
                         R"("metadata":{"reasons":["violence"],"flagged_input":"...","provider_name":"OpenAI","model_slug":"openai/gpt-4o"}}})");
  EXPECT_EQ(o.kind, outcome_kind::pass_through);
  EXPECT_NE(o.reason.find("reasons=violence"), std::string::npos) << o.reason;
  EXPECT_EQ(of(403, R"({"error":{"code":403,"message":"Key is not allowed to use this model"}})").kind,
            outcome_kind::pass_through);
}

TEST(KeysClassify, RateLimited429WithRetryAfterSeconds) {
  const auto o = of(429, R"({"error":{"code":429,"message":"Rate limit exceeded"}})", {{"retry-after", "12"}});
  EXPECT_EQ(o.kind, outcome_kind::key_cooldown);
  EXPECT_EQ(o.retry_after, 12s);
  EXPECT_EQ(o.reason, "429 rate limited: Rate limit exceeded");
}

TEST(KeysClassify, RateLimited429WithRetryAfterHttpDate) {
  const auto o = of(429, "", {{"Retry-After", "Wed, 15 Jan 2025 12:01:30 GMT"}});
  EXPECT_EQ(o.kind, outcome_kind::key_cooldown);
  EXPECT_EQ(o.retry_after, 90s);
}

TEST(KeysClassify, RateLimited429WithResetInMetadataHeaders) {
  const std::string body = R"({"error":{"code":429,"message":"Rate limit exceeded: free-models-per-min.",)"
                           R"("metadata":{"headers":{"X-RateLimit-Limit":"20","X-RateLimit-Remaining":"0",)"
                           R"("X-RateLimit-Reset":")" + std::to_string(now_ms + 42'000) + R"("}}}})";
  const auto o = of(429, body);
  EXPECT_EQ(o.kind, outcome_kind::key_cooldown);
  EXPECT_EQ(o.retry_after, 42s);
}

TEST(KeysClassify, RateLimited429WithResetAsNumberOrHeader) {
  const std::string body = R"({"error":{"code":429,"message":"x","metadata":{"headers":{"X-RateLimit-Reset":)" +
                           std::to_string(now_ms + 1'500) + "}}}}";
  EXPECT_EQ(of(429, body).retry_after, 1500ms);
  EXPECT_EQ(of(429, "", {{"X-RateLimit-Reset", std::to_string(now_ms + 60'000)}}).retry_after, 60s);
  // Epoch seconds are recognised by magnitude; a past reset means "now".
  EXPECT_EQ(of(429, "", {{"X-RateLimit-Reset", std::to_string(now_ms / 1000 + 30)}}).retry_after, 30s);
  EXPECT_EQ(of(429, "", {{"X-RateLimit-Reset", std::to_string(now_ms - 5'000)}}).retry_after, 0ms);
}

TEST(KeysClassify, RetryAfterWinsOverReset) {
  const auto o = of(429, "", {{"X-RateLimit-Reset", std::to_string(now_ms + 60'000)}, {"Retry-After", "3"}});
  EXPECT_EQ(o.retry_after, 3s);
  EXPECT_TRUE(o.retry_after_explicit);  // an instruction: a global back-off honours it too
  // A date centuries ahead is clamped like a number of seconds: a year at most.
  EXPECT_EQ(of(429, "", {{"Retry-After", "Wed, 01 Jan 2199 00:00:00 GMT"}}).retry_after,
            std::chrono::hours(24 * 365));
  EXPECT_FALSE(of(429, "", {{"X-RateLimit-Reset", std::to_string(now_ms + 60'000)}}).retry_after_explicit);
}

TEST(KeysClassify, RateLimited429WithoutHintLeavesCooldownToThePool) {
  const auto o = of(429, R"({"error":{"code":429,"message":"Rate limit exceeded"}})");
  EXPECT_EQ(o.kind, outcome_kind::key_cooldown);
  EXPECT_FALSE(o.retry_after);
}

TEST(KeysClassify, TimeoutsAndServerErrorsAreTransient) {
  for (unsigned status : {408u, 500u, 502u, 503u, 504u, 520u, 524u}) {
    EXPECT_EQ(of(status, R"({"error":{"code":502,"message":"Upstream error"}})").kind, outcome_kind::transient)
        << status;
  }
  const auto o = of(503, "", {{"Retry-After", "4"}});
  EXPECT_EQ(o.kind, outcome_kind::transient);
  EXPECT_EQ(o.retry_after, 4s);
}

TEST(KeysClassify, ProviderErrorsNeverBenchAKey) {
  const auto o = of(502, R"({"error":{"code":502,"message":"Provider returned error",)"
                         R"("metadata":{"error_type":"provider_unavailable","provider_name":"Together","raw":"upstream connect error"}}})");
  EXPECT_EQ(o.kind, outcome_kind::transient);
  EXPECT_EQ(o.reason, "502 bad gateway: Provider returned error (error_type=provider_unavailable)");
  // A provider's own rate limit is not the key's: no cool-down, just back-off.
  EXPECT_EQ(of(429, R"({"error":{"code":429,"message":"meta-llama/llama-3.3-70b:free is temporarily rate-limited upstream",)"
                    R"("metadata":{"error_type":"provider_rate_limited","provider_name":"Chutes"}}})")
                .kind,
            outcome_kind::transient);
  EXPECT_EQ(of(401, R"({"error":{"code":401,"message":"x","metadata":{"error_type":"provider_auth_failed"}}})").kind,
            outcome_kind::transient);
}

TEST(KeysClassify, NonJsonBodiesAreTolerated) {
  const auto html = of(502, "<html><body><h1>502 Bad Gateway</h1>\n</body></html>");
  EXPECT_EQ(html.kind, outcome_kind::transient);
  EXPECT_EQ(html.reason.find('\n'), std::string::npos);
  EXPECT_EQ(of(429, "Too Many Requests").kind, outcome_kind::key_cooldown);
  EXPECT_EQ(of(401, "{not json").kind, outcome_kind::key_invalid);
  EXPECT_EQ(of(500, "").reason, "500 internal server error");
  EXPECT_EQ(of(400, "[1,2]").kind, outcome_kind::pass_through);
}

TEST(KeysClassify, KeyQuotedInBodyIsMaskedInReason) {
  const auto o = of(401, R"({"error":{"code":401,"message":"Invalid API key sk-or-v1-test-alpha-0000-3f9a provided"}})");
  EXPECT_EQ(o.reason, "401 invalid key: Invalid API key sk-or-v1-\u2026" "3f9a provided");
  const auto raw = of(500, "boom sk-or-v1-test-beta-0000-0002");
  EXPECT_EQ(raw.reason.find("test-beta"), std::string::npos) << raw.reason;
  // A body that is not JSON but quotes a key behind JSON escapes: the log sees no more of it.
  const auto escaped = of(502, R"(upstream said {"k":"sk-or-v1-test-gamma-0000-0003")");
  EXPECT_EQ(escaped.reason.find("test-gamma"), std::string::npos) << escaped.reason;
}

TEST(KeysClassify, ReasonIsShort) {
  const auto o = of(400, R"({"error":{"code":400,"message":")" + std::string(5000, 'x') + R"("}})");
  EXPECT_LE(o.reason.size(), 210u);
}

TEST(KeysClassify, NetworkFailureIsTransient) {
  const auto o = orp::keys::network_failure("connection reset by peer");
  EXPECT_EQ(o.kind, outcome_kind::transient);
  EXPECT_EQ(o.status, 0u);
  EXPECT_EQ(o.reason, "network error: connection reset by peer");
}

TEST(KeysClassify, FirstStreamEventErrors) {
  const auto limited = classify_sse_first_event(R"({"error":{"code":429,"message":"Rate limit exceeded"}})", now);
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->kind, outcome_kind::key_cooldown);
  EXPECT_EQ(limited->status, 429u);

  const auto no_credit = classify_sse_first_event(
      R"({"error":{"code":402,"message":"Insufficient credits","metadata":{"limit_source":"openrouter_credits"}}})", now);
  ASSERT_TRUE(no_credit);
  EXPECT_EQ(no_credit->kind, outcome_kind::key_no_credit);

  const auto provider = classify_sse_first_event(
      R"({"id":"gen-1","object":"chat.completion.chunk","error":{"code":"server_error","message":"Provider disconnected"},)"
      R"("choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]})",
      now);
  ASSERT_TRUE(provider);
  EXPECT_EQ(provider->kind, outcome_kind::transient);
  EXPECT_EQ(provider->status, 502u);
}

TEST(KeysClassify, OutlandishNumbersInAnAnswerAreIgnored) {
  // A code that no integer holds is no code (converting it was undefined behaviour); a
  // Retry-After date past what the clock holds is no hint (the pool's default cool-down applies).
  const auto huge = classify_sse_first_event(R"({"error":{"code":"1e300","message":"odd"}})", now);
  ASSERT_TRUE(huge);
  EXPECT_EQ(huge->kind, outcome_kind::transient);
  const auto far = of(429, "{}", {{"Retry-After", "Wed, 26 Nov 2825 17:00:00 GMT"}});
  EXPECT_EQ(far.kind, outcome_kind::key_cooldown);
  EXPECT_FALSE(far.retry_after);
}

TEST(KeysClassify, FirstStreamEventThatIsNotAnError) {
  EXPECT_FALSE(classify_sse_first_event(R"({"id":"gen-1","choices":[{"delta":{"content":"Hi"}}]})", now));
  EXPECT_FALSE(classify_sse_first_event("[DONE]", now));
  EXPECT_FALSE(classify_sse_first_event("", now));
}

TEST(KeysClassify, HttpDateFormats) {
  const auto expected = sys_days{year{1994} / November / 6} + 8h + 49min + 37s;
  EXPECT_EQ(orp::keys::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), expected);
  EXPECT_EQ(orp::keys::parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), expected);
  EXPECT_EQ(orp::keys::parse_http_date("Sun Nov  6 08:49:37 1994"), expected);
  EXPECT_FALSE(orp::keys::parse_http_date("Sun, 31 Feb 1994 08:49:37 GMT"));
  EXPECT_FALSE(orp::keys::parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT"));
  EXPECT_FALSE(orp::keys::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT trailing"));
  EXPECT_FALSE(orp::keys::parse_http_date("tomorrow"));
  // Found by fuzz/upstream_response_fuzz.cpp: a year past 2262 overflowed the conversion to the
  // clock's nanoseconds (undefined behaviour); such dates, and negative years, are refused.
  EXPECT_FALSE(orp::keys::parse_http_date("Wed, 26 Nov 2825 17:00:00 GMT"));
  EXPECT_FALSE(orp::keys::parse_http_date("Sun Nov  6 08:49:37 9999"));
  EXPECT_FALSE(orp::keys::parse_http_date("Sun, 06 Nov -999 08:49:37 GMT"));
  EXPECT_TRUE(orp::keys::parse_http_date("Fri, 31 Dec 2200 23:59:59 GMT"));
}

TEST(KeysClassify, RetryAfterValues) {
  EXPECT_EQ(orp::keys::parse_retry_after("0", now), 0ms);
  EXPECT_EQ(orp::keys::parse_retry_after(" 120 ", now), 120s);
  EXPECT_EQ(orp::keys::parse_retry_after("1.5", now), 1500ms);
  EXPECT_EQ(orp::keys::parse_retry_after("Wed, 15 Jan 2025 11:00:00 GMT", now), 0ms);  // in the past
  EXPECT_FALSE(orp::keys::parse_retry_after("-3", now));
  EXPECT_FALSE(orp::keys::parse_retry_after("soon", now));
}

}  // namespace
