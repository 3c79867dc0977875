#include <gtest/gtest.h>

#include "forward/heads.hpp"

namespace orp::forward {
namespace {

http::request_head chat_request() {
  http::request_head h;
  h.method = "POST";
  h.target = "/api/v1/chat/completions";
  h.headers = {{"Host", "openrouter.ai"},
               {"Authorization", "Bearer sk-or-v1-test-client"},
               {"Content-Type", "application/json"},
               {"Content-Length", "999"},
               {"Expect", "100-continue"},
               {"Accept-Encoding", "gzip"},
               {"Connection", "keep-alive, X-Private"},
               {"X-Private", "hop"},
               {"Proxy-Authorization", "Basic eDp5"},
               {"Keep-Alive", "timeout=5"},
               {"TE", "trailers"},
               {"Transfer-Encoding", "chunked"},
               {"HTTP-Referer", "https://example.com"},
               {"X-Title", "my app"}};
  return h;
}

TEST(ForwardHeads, UpstreamHeadSwapsTheKeyAndDropsHopByHop) {
  upstream::target t{"openrouter.ai", 443, "/api/v1"};
  auto text = build_upstream_head(chat_request(), 12, t, "sk-or-v1-test-pool");
  EXPECT_EQ(text,
            "POST /api/v1/chat/completions HTTP/1.1\r\n"
            "Host: openrouter.ai\r\n"
            "Content-Type: application/json\r\n"
            "HTTP-Referer: https://example.com\r\n"
            "X-Title: my app\r\n"
            "Authorization: Bearer sk-or-v1-test-pool\r\n"
            "Content-Length: 12\r\n"
            "\r\n");
}

TEST(ForwardHeads, UpstreamHeadMapsBaseUrlPathsAndKeepsGetBodiless) {
  upstream::target t{"upstream.test", 8443, "/api/v1"};
  http::request_head h;
  h.method = "GET";
  h.target = "/models?x=1";
  auto text = build_upstream_head(h, 0, t, "k");
  EXPECT_EQ(text, "GET /api/v1/models?x=1 HTTP/1.1\r\nHost: upstream.test:8443\r\nAuthorization: Bearer k\r\n\r\n");
  h.method = "POST";  // a POST always states its length, even when empty
  EXPECT_NE(build_upstream_head(h, 0, t, "k").find("Content-Length: 0\r\n"), std::string::npos);
}

TEST(ForwardHeads, ClientHeadKeepsFramingAndAddsProxyHeaders) {
  http::response_head r;
  r.status = 200;
  r.reason = "OK";
  r.chunked = true;
  r.headers = {{"Content-Type", "text/event-stream"},
               {"Transfer-Encoding", "chunked"},
               {"Connection", "keep-alive"},
               {"X-Proxy-Key", "spoofed"},
               {"X-Generation-Id", "gen-1"}};
  EXPECT_EQ(build_client_head(r, "team-a", 2, true),
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/event-stream\r\n"
            "X-Generation-Id: gen-1\r\n"
            "Transfer-Encoding: chunked\r\n"
            "X-Proxy-Key: team-a\r\n"
            "X-Proxy-Attempts: 2\r\n"
            "Connection: keep-alive\r\n\r\n");
  r.chunked = false;
  r.headers = {{"Content-Length", "5"}};
  r.reason.clear();
  EXPECT_EQ(build_client_head(r, "k", 1, false),
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Proxy-Key: k\r\nX-Proxy-Attempts: 1\r\nConnection: close\r\n\r\n");
}

// Codings applied before chunked stay declared: the body goes out as it came.
TEST(ForwardHeads, ClientHeadKeepsEveryTransferCoding) {
  http::response_head r;
  r.status = 200;
  r.reason = "OK";
  r.chunked = true;
  r.headers = {{"Transfer-Encoding", "gzip, chunked"}, {"Content-Type", "application/json"}};
  EXPECT_EQ(build_client_head(r, "k", 1, true),
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\n"
            "X-Proxy-Key: k\r\nX-Proxy-Attempts: 1\r\nConnection: keep-alive\r\n\r\n");
  r.headers = {{"Transfer-Encoding", "gzip"}, {"Transfer-Encoding", "chunked"}};
  EXPECT_EQ(build_client_head(r, "k", 1, true),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"
            "X-Proxy-Key: k\r\nX-Proxy-Attempts: 1\r\nConnection: keep-alive\r\n\r\n");
  r.chunked = false;  // gzip alone: the body ends when the connection closes
  r.headers = {{"Transfer-Encoding", "gzip"}};
  EXPECT_EQ(build_client_head(r, "k", 1, false),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nX-Proxy-Key: k\r\nX-Proxy-Attempts: 1\r\nConnection: close\r\n\r\n");
}

// Header values are ASCII: a mask's ellipsis reads "...", other bytes are percent-encoded.
TEST(ForwardHeads, ProxyHeadersNameTheKeyInAscii) {
  EXPECT_EQ(proxy_headers("pool-a", 2), "X-Proxy-Key: pool-a\r\nX-Proxy-Attempts: 2\r\n");
  EXPECT_EQ(proxy_headers("sk-or-v1-\xe2\x80\xa6" "3f9a", 1), "X-Proxy-Key: sk-or-v1-...3f9a\r\nX-Proxy-Attempts: 1\r\n");
  EXPECT_EQ(proxy_headers("", 0), "X-Proxy-Key: none\r\nX-Proxy-Attempts: 0\r\n");
  EXPECT_EQ(proxy_headers("\xc3\xa9quipe 100%", 3), "X-Proxy-Key: %C3%A9quipe%20100%25\r\nX-Proxy-Attempts: 3\r\n");
}

// A rewritten body (a masked error) goes out with its own Content-Length, unframed.
TEST(ForwardHeads, ClientHeadForARewrittenBodyHasItsOwnLength) {
  http::response_head r;
  r.status = 400;
  r.chunked = true;
  r.headers = {{"Content-Type", "application/json"}, {"Content-Length", "999"}, {"Transfer-Encoding", "chunked"}};
  EXPECT_EQ(build_client_head(r, "k", 1, true, 42),
            "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 42\r\n"
            "X-Proxy-Key: k\r\nX-Proxy-Attempts: 1\r\nConnection: keep-alive\r\n\r\n");
}

// 204 and 304 end at their head (RFC 9112 6.3): nothing in the relayed head announces a body the
// client would wait for; a 204 carries no Content-Length (RFC 9110 8.6), a 304 keeps its own.
TEST(ForwardHeads, ClientHeadOf204Or304FramesNoBody) {
  http::response_head r;
  r.status = 204;
  r.reason = "No Content";
  r.content_length = 5;
  r.headers = {{"Content-Length", "5"}, {"X-A", "1"}};
  EXPECT_EQ(build_client_head(r, "k", 1, true, 0),
            "HTTP/1.1 204 No Content\r\nX-A: 1\r\nX-Proxy-Key: k\r\nX-Proxy-Attempts: 1\r\nConnection: keep-alive\r\n\r\n");
  r.status = 304;
  r.reason = "Not Modified";
  r.headers = {{"ETag", "\"x\""}, {"Content-Length", "1234"}};
  EXPECT_EQ(build_client_head(r, "k", 1, true, 0),
            "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 1234\r\nX-Proxy-Key: k\r\nX-Proxy-Attempts: 1\r\n"
            "Connection: keep-alive\r\n\r\n");
  r.chunked = true;
  r.headers = {{"Transfer-Encoding", "chunked"}};
  EXPECT_EQ(build_client_head(r, "k", 1, true),
            "HTTP/1.1 304 Not Modified\r\nX-Proxy-Key: k\r\nX-Proxy-Attempts: 1\r\nConnection: keep-alive\r\n\r\n");
}

}  // namespace
}  // namespace orp::forward
