#include "http/parser.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "http/serialize.hpp"

namespace orp::http {
namespace {

template <class Parser>
using head_of = std::decay_t<decltype(std::declval<Parser&>().head())>;

template <class Parser>
struct transcript {
  std::vector<head_of<Parser>> heads;                              // as seen at head_complete
  std::vector<std::pair<head_of<Parser>, std::string>> messages;  // head and decoded body
  bool failed = false;
  unsigned error_status = 0;
  std::size_t consumed = 0;
  friend bool operator==(const transcript&, const transcript&) = default;
};

// Drives the parser the way a connection loop does: feeds each piece, and after every head or
// message feeds what is left (even nothing); resets between messages. `eof` calls finish() last.
template <class Parser>
transcript<Parser> run(Parser& p, const std::vector<std::string_view>& pieces, bool eof = false) {
  transcript<Parser> t;
  std::string body;
  auto record = [&](parse_result r) {
    t.consumed += r.consumed;
    if (r.status == parse_status::head_complete) t.heads.push_back(p.head());
    if (r.status == parse_status::message_complete) {
      t.messages.emplace_back(p.head(), std::exchange(body, {}));
      p.reset();
    }
    if (r.status == parse_status::error) {
      t.failed = true;
      t.error_status = p.error_status();
    }
  };
  for (auto piece : pieces) {
    // Each turn either consumes bytes or asks for more: a parser that does neither fails the test.
    for (std::size_t turn = 0;; ++turn) {
      if (turn > 2 * piece.size() + 8) {
        ADD_FAILURE() << "the parser made no progress on " << piece.size() << " bytes";
        return t;
      }
      auto r = p.feed(piece, &body);
      record(r);
      if (r.status == parse_status::error) return t;
      piece.remove_prefix(r.consumed);
      if (r.status == parse_status::need_more) break;
    }
  }
  if constexpr (requires { p.finish(); }) {
    if (eof) record(p.finish());
  }
  return t;
}

std::vector<std::vector<std::string_view>> every_split(std::string_view in) {
  std::vector<std::vector<std::string_view>> out = {{in}};
  for (std::size_t i = 1; i < in.size(); ++i) out.push_back({in.substr(0, i), in.substr(i)});
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < in.size(); ++i) bytes.push_back(in.substr(i, 1));
  out.push_back(bytes);
  return out;
}

// Parses `in` whole, then split in two at every position and one byte at a time; every way must
// give the same transcript. Returns the transcript of the whole input.
template <class Parser>
transcript<Parser> parse_every_way(std::string_view in, bool eof = false) {
  Parser whole;
  auto want = run(whole, {in}, eof);
  for (const auto& pieces : every_split(in)) {
    Parser p;
    auto got = run(p, pieces, eof);
    EXPECT_TRUE(got == want) << "first piece of " << pieces.size() << ": " << pieces.front().size() << " bytes";
    if (got != want) break;
  }
  return want;
}

// Every way of splitting `in` must be refused with `status`.
template <class Parser = request_parser>
void expect_refused(std::string_view in, unsigned status) {
  SCOPED_TRACE(std::string(in));
  for (const auto& pieces : every_split(in)) {
    Parser p;
    auto t = run(p, pieces);
    ASSERT_TRUE(t.failed) << "pieces: " << pieces.size() << ", first: " << pieces.front().size();
    ASSERT_EQ(t.error_status, status);
    EXPECT_FALSE(p.error_reason().empty());
  }
}

constexpr std::string_view kGet =
    "GET http://openrouter.ai/api/v1/models?x=1 HTTP/1.1\r\nHost: openrouter.ai\r\n"
    "User-Agent: curl/8.0\r\nAccept: */*\r\n\r\n";

std::string post_with_length(std::string_view body) {
  return "POST /api/v1/chat/completions HTTP/1.1\r\nHost: openrouter.ai\r\ncontent-type: application/json\r\n"
         "Content-Length: " + std::to_string(body.size()) + "\r\nExpect: 100-continue\r\n\r\n" + std::string(body);
}

constexpr std::string_view kChunked =
    "POST /v1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5;name=value\r\nhello\r\n7;a;b=\"q r\"\r\n, world\r\n0;last\r\nX-Checksum: abc\r\nX-Other: d\r\n\r\n";

TEST(HttpRequestParser, GetWithoutBody) {
  auto t = parse_every_way<request_parser>(kGet);
  ASSERT_FALSE(t.failed);
  ASSERT_EQ(t.messages.size(), 1u);
  const auto& [h, body] = t.messages[0];
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.target, "http://openrouter.ai/api/v1/models?x=1");
  EXPECT_EQ(h.version_minor, 1u);
  header_list want = {{"Host", "openrouter.ai"}, {"User-Agent", "curl/8.0"}, {"Accept", "*/*"}};
  EXPECT_EQ(h.headers, want);
  EXPECT_EQ(h.content_length, std::nullopt);
  EXPECT_FALSE(h.chunked);
  EXPECT_TRUE(h.keep_alive);
  EXPECT_FALSE(h.expect_continue);
  EXPECT_TRUE(body.empty());
  EXPECT_EQ(t.consumed, kGet.size());
}

TEST(HttpRequestParser, PostWithContentLength) {
  std::string body = R"({"model":"openai/gpt-4o","messages":[]})";
  auto in = post_with_length(body);
  auto t = parse_every_way<request_parser>(in);
  ASSERT_EQ(t.messages.size(), 1u);
  ASSERT_EQ(t.heads.size(), 1u);
  EXPECT_EQ(t.heads[0], t.messages[0].first);
  EXPECT_EQ(t.messages[0].first.content_length, body.size());
  EXPECT_TRUE(t.messages[0].first.expect_continue);
  EXPECT_EQ(find_header(t.messages[0].first.headers, "Content-Type"), "application/json");
  EXPECT_EQ(t.messages[0].second, body);
  EXPECT_EQ(t.consumed, in.size());
}

TEST(HttpRequestParser, ChunkedWithExtensionsAndTrailers) {
  auto t = parse_every_way<request_parser>(kChunked);
  ASSERT_FALSE(t.failed);
  ASSERT_EQ(t.messages.size(), 1u);
  const auto& [h, body] = t.messages[0];
  EXPECT_TRUE(h.chunked);
  EXPECT_EQ(h.content_length, std::nullopt);
  EXPECT_EQ(body, "hello, world");
  EXPECT_EQ(h.headers.size(), 2u);  // trailers are not head fields
  EXPECT_EQ(t.consumed, kChunked.size());
}

TEST(HttpRequestParser, PipelinedRequestsInOneBuffer) {
  std::string third = "GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
  auto in = std::string(kGet) + post_with_length("abc") + third;
  auto t = parse_every_way<request_parser>(in);
  ASSERT_FALSE(t.failed);
  ASSERT_EQ(t.messages.size(), 3u);
  EXPECT_EQ(t.messages[0].first.method, "GET");
  EXPECT_EQ(t.messages[1].first.method, "POST");
  EXPECT_EQ(t.messages[1].second, "abc");
  EXPECT_EQ(t.messages[2].first.target, "/last");
  EXPECT_TRUE(t.messages[1].first.keep_alive);
  EXPECT_FALSE(t.messages[2].first.keep_alive);
  EXPECT_EQ(t.consumed, in.size());
}

// A keep-alive connection reuses one parser, which keeps its header strings for the next head:
// each head must still hold exactly its own fields, whatever the previous one (trailers included,
// and a value too large to be kept) left behind.
TEST(HttpRequestParser, EachHeadHasOnlyItsOwnFieldsOnAReusedParser) {
  const std::string big(4000, 'v');
  const std::vector<std::string> messages = {
      "POST /a HTTP/1.1\r\nHost: a\r\nX-Long: " + big + "\r\nX-One: 1\r\nX-Two: 2\r\nContent-Length: 0\r\n\r\n",
      std::string(kChunked),
      "GET /c HTTP/1.1\r\nHost: c\r\n\r\n",
      "GET /d HTTP/1.1\r\nHost: d\r\nX-Three: 3\r\nX-Four: four\r\n\r\n",
  };
  request_parser p;
  for (int round = 0; round < 2; ++round) {
    for (const auto& m : messages) {
      p.reset();
      std::string body;
      std::string_view in = m;
      parse_status last = parse_status::need_more;
      for (int i = 0; i < 4 && last != parse_status::message_complete; ++i) {
        auto r = p.feed(in, &body);
        ASSERT_NE(r.status, parse_status::error) << p.error_reason();
        in.remove_prefix(r.consumed);
        last = r.status;
      }
      ASSERT_EQ(last, parse_status::message_complete) << m;
      // The same message parsed by a fresh parser is the reference.
      auto fresh = parse_every_way<request_parser>(m);
      ASSERT_EQ(fresh.messages.size(), 1u);
      EXPECT_EQ(p.head().headers, fresh.messages[0].first.headers) << m;
      EXPECT_EQ(p.head().target, fresh.messages[0].first.target);
    }
  }
}

TEST(HttpRequestParser, Http10KeepAliveOnlyWhenAsked) {
  auto t = parse_every_way<request_parser>("GET / HTTP/1.0\r\nHost: a\r\nExpect: 100-continue\r\n\r\n");
  ASSERT_EQ(t.messages.size(), 1u);
  EXPECT_EQ(t.messages[0].first.version_minor, 0u);
  EXPECT_FALSE(t.messages[0].first.keep_alive);
  EXPECT_FALSE(t.messages[0].first.expect_continue);  // RFC 9110 10.1.1: ignored for HTTP/1.0
  t = parse_every_way<request_parser>("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
  ASSERT_EQ(t.messages.size(), 1u);
  EXPECT_TRUE(t.messages[0].first.keep_alive);
}

TEST(HttpRequestParser, HeaderValuesLoseSurroundingWhitespace) {
  auto t = parse_every_way<request_parser>("GET / HTTP/1.1\r\nX-A:  a b \t\r\nX-Empty:\r\n\r\n");
  ASSERT_EQ(t.messages.size(), 1u);
  header_list want = {{"X-A", "a b"}, {"X-Empty", ""}};
  EXPECT_EQ(t.messages[0].first.headers, want);
}

TEST(HttpRequestParser, RefusesContentLengthWithTransferEncoding) {
  expect_refused("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
  expect_refused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400);
}

TEST(HttpRequestParser, RefusesAmbiguousLengths) {
  expect_refused("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400);
  expect_refused("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\nhello", 400);
  expect_refused("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400);
  expect_refused("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400);
  expect_refused("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 400);
  expect_refused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400);
  expect_refused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
}

TEST(HttpRequestParser, RefusesBadChunks) {
  expect_refused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400);
  expect_refused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxY0\r\n\r\n", 400);
  expect_refused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\nx\r\n0\r\n\r\n", 400);
}

TEST(HttpRequestParser, RefusesInvalidRequestLines) {
  expect_refused("GET  / HTTP/1.1\r\n\r\n", 400);
  expect_refused("GET /\r\n\r\n", 400);
  expect_refused("GET / HTTP/1.1 x\r\n\r\n", 400);
  expect_refused(" GET / HTTP/1.1\r\n\r\n", 400);
  expect_refused("BREW / HTTP/1.1\r\n\r\n", 400);
  expect_refused("GET / XTTP/1.1\r\n\r\n", 400);
  expect_refused("GET / HTTP/2.0\r\n\r\n", 505);
}

TEST(HttpRequestParser, LineEndingsAndFoldingAreStrict) {
  expect_refused("GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n", 400);         // obs-fold
  expect_refused("GET / HTTP/1.1\r\nX-A: a\r\n\tb\r\n\r\n", 400);        // obs-fold with tab
  expect_refused("GET / HTTP/1.1\r\n X-A: a\r\n\r\n", 400);              // whitespace before 1st field
  expect_refused("GET / HTTP/1.1\nX-A: a\r\n\r\n", 400);                 // bare LF, request line
  expect_refused("GET / HTTP/1.1\r\nX-A: a\nX-B: b\r\n\r\n", 400);       // bare LF, field
  expect_refused("GET / HTTP/1.1\r\nX-A: a\r\n\n", 400);                 // bare LF, end of head
  expect_refused("GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n", 400);            // bare CR
  expect_refused("GET / HTTP/1.1\r\nX-A : a\r\n\r\n", 400);              // space before colon
  expect_refused("GET / HTTP/1.1\r\nX-A: a\x01\r\n\r\n", 400);           // control character
  constexpr std::string_view chunked = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
  expect_refused(std::string(chunked) + "X-T: 1\r\n 2\r\n\r\n", 400);   // obs-fold in trailers
  expect_refused(std::string(chunked) + "X-T: 1\r\n\n", 400);           // bare LF ends trailers
  expect_refused(std::string(chunked) + "\n", 400);
  expect_refused(std::string(chunked) + "X T: 1\r\n\r\n", 400);
}

TEST(HttpRequestParser, HeadTooLargeIsCutEarly) {
  std::string in = "GET / HTTP/1.1\r\nHost: a\r\n";
  while (in.size() < 70 * 1024) in += "X-Filler: " + std::string(100, 'f') + "\r\n";
  in += "\r\n";
  request_parser p;
  std::size_t fed = 0;
  parse_result r{parse_status::need_more, 0};
  for (std::size_t at = 0; at < in.size() && r.status != parse_status::error; at += 512) {
    auto piece = std::string_view(in).substr(at, 512);
    fed = at + piece.size();
    r = p.feed(piece, nullptr);
  }
  ASSERT_EQ(r.status, parse_status::error);
  EXPECT_EQ(p.error_status(), 431u);
  EXPECT_LE(fed, default_max_head_bytes + 512);
  EXPECT_LT(fed, in.size());
}

TEST(HttpRequestParser, HeadLimitIsExact) {
  std::string in = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  for (std::size_t extra : {0, 1}) {
    for (const auto& pieces : every_split(in)) {
      request_parser p(in.size() - extra);
      auto t = run(p, pieces);
      EXPECT_EQ(t.failed, extra == 1);
      EXPECT_EQ(t.error_status, extra == 1 ? 431u : 0u);
    }
  }
}

// Trailers are fields too: an endless trailer section is cut at the head limit (shared with the
// head), not stored without bound (RFC 9112 7.1.2).
template <class Parser>
void expect_trailer_flood_cut(std::string_view start) {
  std::string in(start);
  while (in.size() < 200 * 1024) in += "a:b\r\n";
  Parser p;
  std::size_t fed = 0;
  parse_result r{parse_status::need_more, 0};
  for (std::size_t at = 0; at < in.size(); at += r.consumed) {
    auto piece = std::string_view(in).substr(at, 512);
    r = p.feed(piece, nullptr);
    fed = at + r.consumed;
    if (r.status == parse_status::error) break;
  }
  ASSERT_EQ(r.status, parse_status::error);
  EXPECT_EQ(p.error_status(), 431u);
  EXPECT_LE(fed, default_max_head_bytes + 16);  // + the chunk lines, which are body
}

TEST(HttpRequestParser, TrailerFloodIsCutAtTheHeadLimit) {
  expect_trailer_flood_cut<request_parser>("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n");
}

TEST(HttpResponseParser, TrailerFloodIsCutAtTheHeadLimit) {
  expect_trailer_flood_cut<response_parser>("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n");
}

TEST(HttpRequestParser, HeadAndTrailersShareTheLimitExactly) {
  std::string in = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-T: 1\r\nY: 2\r\n\r\n";
  // Counted: the head and the trailer section; not the chunk lines between them.
  std::size_t counted = in.size() - std::string_view("2\r\n{}\r\n0\r\n").size();
  for (std::size_t extra : {0, 1}) {
    for (const auto& pieces : every_split(in)) {
      request_parser p(counted - extra);
      auto t = run(p, pieces);
      EXPECT_EQ(t.failed, extra == 1);
      EXPECT_EQ(t.error_status, extra == 1 ? 431u : 0u);
      if (extra == 0) EXPECT_EQ(t.messages.size(), 1u);
    }
  }
}

TEST(HttpRequestParser, EveryTrailerFieldIsChecked) {
  std::string_view chunked = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
  expect_refused(std::string(chunked) + "X(T): 1\r\nY: 2\r\n\r\n", 400);
  expect_refused(std::string(chunked) + "Y: 2\r\nX(T): 1\r\n\r\n", 400);
}

TEST(HttpRequestParser, BodyLimitGives413) {
  for (std::string_view in : {std::string_view("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world"),
                              std::string_view("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                                               "6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n")}) {
    request_parser p;
    p.set_max_body_bytes(10);
    auto t = run(p, {in});
    EXPECT_TRUE(t.failed) << in;
    EXPECT_EQ(t.error_status, 413u) << in;
  }
}

TEST(HttpRequestParser, ErrorIsStickyUntilReset) {
  request_parser p;
  auto r = p.feed("GET / HTTP/1.1\r\nX-A : a\r\n\r\n", nullptr);
  ASSERT_EQ(r.status, parse_status::error);
  EXPECT_EQ(p.feed(kGet, nullptr).status, parse_status::error);
  EXPECT_EQ(p.feed(kGet, nullptr).consumed, 0u);
  p.reset();
  EXPECT_EQ(p.error_status(), 0u);
  EXPECT_EQ(p.feed(kGet, nullptr).status, parse_status::head_complete);
  EXPECT_EQ(p.head().method, "GET");
}

constexpr std::string_view kResponseLength =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}";
constexpr std::string_view kResponseChunked =
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\ndata\r\n3;x=y\r\n: x\r\n0\r\nX-T: 1\r\n\r\n";
constexpr std::string_view kResponseEof = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: 1\n\ndata: 2\n\n";

TEST(HttpResponseParser, ContentLength) {
  auto t = parse_every_way<response_parser>(kResponseLength);
  ASSERT_EQ(t.messages.size(), 1u);
  const auto& [h, body] = t.messages[0];
  EXPECT_EQ(h.status, 200u);
  EXPECT_EQ(h.reason, "OK");
  EXPECT_EQ(h.content_length, 11u);
  EXPECT_TRUE(h.keep_alive);
  EXPECT_EQ(body, "{\"ok\":true}");
}

// The proxy reuses response parsers (forward::exchange keeps a stock of them): after reset() a
// parser must know nothing of the last response, whatever state it was left in.
TEST(HttpResponseParser, AReusedParserKnowsNothingOfTheLastResponse) {
  const std::string error_first = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
  const std::vector<std::string> messages = {std::string(kResponseChunked), std::string(kResponseLength),
                                             std::string(kResponseEof), error_first,
                                             "HTTP/1.1 404 Not Found\r\nX-A: 1\r\nContent-Length: 0\r\n\r\n"};
  response_parser p;
  for (int round = 0; round < 2; ++round) {
    for (const auto& m : messages) {
      p.reset();
      if (round == 1) p.set_no_body(false);
      std::string body;
      auto r = p.feed(m, &body);
      if (m == error_first) {
        EXPECT_EQ(r.status, parse_status::error);
        continue;
      }
      ASSERT_NE(r.status, parse_status::error) << p.error_reason();
      const bool eof = m == kResponseEof;
      auto fresh = parse_every_way<response_parser>(m, eof);
      ASSERT_EQ(fresh.messages.size(), 1u);
      EXPECT_EQ(p.head().status, fresh.messages[0].first.status) << m;
      EXPECT_EQ(p.head().reason, fresh.messages[0].first.reason);
      EXPECT_EQ(p.head().headers, fresh.messages[0].first.headers) << m;
      EXPECT_EQ(p.head().chunked, fresh.messages[0].first.chunked);
      EXPECT_EQ(p.head().content_length, fresh.messages[0].first.content_length);
      EXPECT_EQ(p.eof_terminated(), eof) << m;
    }
  }
}

TEST(HttpResponseParser, Chunked) {
  auto t = parse_every_way<response_parser>(kResponseChunked);
  ASSERT_EQ(t.messages.size(), 1u);
  EXPECT_TRUE(t.messages[0].first.chunked);
  EXPECT_EQ(t.messages[0].second, "data: x");
  EXPECT_EQ(t.consumed, kResponseChunked.size());
}

TEST(HttpResponseParser, EndsAtEof) {
  auto t = parse_every_way<response_parser>(kResponseEof, /*eof=*/true);
  ASSERT_FALSE(t.failed);
  ASSERT_EQ(t.messages.size(), 1u);
  EXPECT_FALSE(t.messages[0].first.keep_alive);
  EXPECT_EQ(t.messages[0].second, "data: 1\n\ndata: 2\n\n");

  response_parser p;
  ASSERT_EQ(p.feed(kResponseEof, nullptr).status, parse_status::head_complete);
  EXPECT_TRUE(p.eof_terminated());
  EXPECT_EQ(p.finish().status, parse_status::message_complete);
}

TEST(HttpResponseParser, FinishOnTruncatedOrIdle) {
  response_parser p;
  EXPECT_EQ(p.finish().status, parse_status::need_more);  // nothing started: a clean close
  std::string_view cut = kResponseLength.substr(0, kResponseLength.size() - 3);
  auto r = p.feed(cut, nullptr);
  ASSERT_EQ(r.status, parse_status::head_complete);
  EXPECT_FALSE(p.eof_terminated());
  EXPECT_EQ(p.feed(cut.substr(r.consumed), nullptr).status, parse_status::need_more);
  EXPECT_EQ(p.finish().status, parse_status::error);
}

TEST(HttpResponseParser, InterimContinueThenFinal) {
  std::string in = "HTTP/1.1 100 Continue\r\n\r\n" + std::string(kResponseLength);
  auto t = parse_every_way<response_parser>(in);
  ASSERT_EQ(t.messages.size(), 2u);
  EXPECT_EQ(t.messages[0].first.status, 100u);
  EXPECT_TRUE(t.messages[0].second.empty());
  EXPECT_EQ(t.messages[1].first.status, 200u);
  EXPECT_EQ(t.messages[1].second, "{\"ok\":true}");
}

// The final answer to a HEAD that came after an interim one has no body either: the Content-Length
// is what a GET would get (a reset used to forget that, and the proxy waited for the bytes).
TEST(HttpResponseParser, AHeadRequestsFinalAnswerAfterAnInterimOneHasNoBody) {
  response_parser p;
  p.set_no_body(true);
  auto r = p.feed("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", nullptr);
  ASSERT_EQ(r.status, parse_status::head_complete);
  EXPECT_EQ(p.head().status, 103u);
  p.reset_after_interim();
  r = p.feed("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", nullptr);
  ASSERT_EQ(r.status, parse_status::head_complete);
  EXPECT_EQ(p.feed({}, nullptr).status, parse_status::message_complete);
  p.reset();  // the next request's answer: a GET's, with its body
  const std::string_view get_answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  r = p.feed(get_answer, nullptr);
  ASSERT_EQ(r.status, parse_status::head_complete);
  std::string body;
  EXPECT_EQ(p.feed(get_answer.substr(r.consumed), &body).status, parse_status::message_complete);
  EXPECT_EQ(body, "ok");
}

TEST(HttpResponseParser, NoBodyForHeadRequestsAnd204) {
  std::string in = "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n";
  response_parser p;
  p.set_no_body(true);
  auto r = p.feed(in, nullptr);
  ASSERT_EQ(r.status, parse_status::head_complete);
  EXPECT_EQ(r.consumed, in.size());
  EXPECT_EQ(p.head().content_length, 1234u);
  EXPECT_TRUE(p.head().keep_alive);
  EXPECT_EQ(p.feed({}, nullptr).status, parse_status::message_complete);

  auto t = parse_every_way<response_parser>("HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(t.messages.size(), 2u);
  EXPECT_EQ(t.messages[1].first.status, 200u);
}

// RFC 9112 6.3 rule 1: whatever their length fields say, these end at the head; what follows is
// the next response.
TEST(HttpResponseParser, NoContentAndNotModifiedEndAtTheirHead) {
  constexpr std::string_view next = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  for (std::string_view first : {std::string_view("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"),
                                  std::string_view("HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\n\r\n"),
                                  std::string_view("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"),
                                  std::string_view("HTTP/1.1 103 Early Hints\r\nContent-Length: 3\r\n\r\n")}) {
    SCOPED_TRACE(std::string(first));
    auto t = parse_every_way<response_parser>(std::string(first) + std::string(next));
    ASSERT_FALSE(t.failed);
    ASSERT_EQ(t.messages.size(), 2u);
    EXPECT_TRUE(t.messages[0].second.empty());
    EXPECT_TRUE(t.messages[0].first.keep_alive);
    EXPECT_EQ(t.messages[1].first.status, 200u);
    EXPECT_EQ(t.messages[1].second, "ok");
  }
  response_parser p;
  ASSERT_EQ(p.feed("HTTP/1.1 304 Not Modified\r\n\r\n", nullptr).status, parse_status::head_complete);
  EXPECT_FALSE(p.eof_terminated());
}

TEST(HttpResponseParser, RefusesAmbiguousFraming) {
  expect_refused<response_parser>("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
  expect_refused<response_parser>("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", 400);
  expect_refused<response_parser>("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", 400);
}

TEST(HttpSerialize, RequestRoundTrip) {
  auto in = post_with_length("hi");
  request_parser p;
  ASSERT_EQ(p.feed(in, nullptr).status, parse_status::head_complete);
  auto text = serialize_request_head(p.head());
  EXPECT_EQ(text + "hi", in);
  request_parser again;
  ASSERT_EQ(again.feed(text, nullptr).status, parse_status::head_complete);
  EXPECT_EQ(again.head(), p.head());
  EXPECT_EQ(serialize_request_head(p.head(), "/other").substr(0, 25), "POST /other HTTP/1.1\r\nHos");
}

TEST(HttpSerialize, ResponseRoundTrip) {
  response_parser p;
  ASSERT_EQ(p.feed(kResponseLength, nullptr).status, parse_status::head_complete);
  auto text = serialize_response_head(p.head());
  EXPECT_EQ(text + "{\"ok\":true}", kResponseLength);
  response_head bare;
  bare.status = 204;
  EXPECT_EQ(serialize_response_head(bare), "HTTP/1.1 204 \r\n\r\n");
}

}  // namespace
}  // namespace orp::http
