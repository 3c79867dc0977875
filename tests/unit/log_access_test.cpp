// The access log's flush policy: other messages reach proxy.log as they are written; access lines
// are flushed once per turn of their worker's event loop (one write(2) for a burst of requests).
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "log/logging.hpp"
#include "support/scratch_dir.hpp"

namespace orp::log {
namespace {

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Puts the project's logger in place for one test and the previous one back afterwards.
class LogAccess : public ::testing::Test {
 protected:
  void SetUp() override {
    previous_ = spdlog::default_logger();
    log_options o;
    o.file = dir_.path() / "proxy.log";
    o.level = "info";
    init(o);
  }
  void TearDown() override {
    shutdown();
    spdlog::set_default_logger(previous_);
  }
  std::filesystem::path file() const { return dir_.path() / "proxy.log"; }

  test::scratch_dir dir_;
  std::shared_ptr<spdlog::logger> previous_;
};

access_record sample(std::uint64_t id) {
  access_record r;
  r.id = id;
  r.client = "127.0.0.1:5555";
  r.mode = "connect";
  r.method = "POST";
  r.path = "/api/v1/chat/completions";
  r.key = "primary";
  r.attempts = 1;
  r.status = 200;
  return r;
}

TEST_F(LogAccess, AccessLinesAreFlushedWhenTheLoopTurns) {
  boost::asio::io_context io;
  write_access(sample(41), io.get_executor());
  write_access(sample(42), io.get_executor());
  // Still in the file's buffer: the flush is a handler on the loop.
  EXPECT_EQ(read_all(file()).find("access id=41"), std::string::npos);
  EXPECT_EQ(io.poll(), 1u);  // one flush for both lines
  auto text = read_all(file());
  EXPECT_NE(text.find("access id=41 client=127.0.0.1:5555 mode=connect POST /api/v1/chat/completions"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("access id=42"), std::string::npos) << text;
  // The next line gets a flush of its own.
  write_access(sample(43), io.get_executor());
  io.restart();
  EXPECT_EQ(io.poll(), 1u);
  EXPECT_NE(read_all(file()).find("access id=43"), std::string::npos);
}

TEST_F(LogAccess, TextLineHasEveryFieldInOrder) {
  boost::asio::io_context io;
  auto r = sample(7);
  r.client_name = "ci";
  r.model = "openai/gpt-4o-mini";
  r.attempts = 2;
  r.upstream_headers_ms = 12.345;
  r.duration_ms = 15.06;
  r.bytes_in = 87;
  r.bytes_out = 615;
  r.prompt_tokens = 12;
  r.completion_tokens = 5;
  r.cost = 4.2e-05;
  r.error = "first key rate-limited";
  write_access(r, io.get_executor());
  auto s = sample(8);  // never reached the upstream, no model named
  s.upstream_headers_ms = -1;
  s.key.clear();
  s.status = 503;
  write_access(s, io.get_executor());
  io.poll();
  auto text = read_all(file());
  EXPECT_NE(text.find("access id=7 client=127.0.0.1:5555 client_name=ci mode=connect POST /api/v1/chat/completions "
                      "model=openai/gpt-4o-mini key=primary attempts=2 status=200 upstream_ms=12.3 duration_ms=15.1 "
                      "bytes_in=87 bytes_out=615 prompt_tokens=12 completion_tokens=5 cost=4.2e-05 "
                      "error=\"first key rate-limited\"\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("access id=8 client=127.0.0.1:5555 mode=connect POST /api/v1/chat/completions model=- key=- "
                      "attempts=1 status=503 upstream_ms=- duration_ms=0.0 bytes_in=0 bytes_out=0\n"),
            std::string::npos)
      << text;
}

// Durations are written with one decimal without a float formatter: the same text as "{:.1f}".
TEST_F(LogAccess, DurationsHaveOneDecimalAsPrintfWouldWriteThem) {
  boost::asio::io_context io;
  const double values[] = {0.0, 0.04, 0.06, 0.44, 0.96, 1.0, 9.96, 12.345, 15.06, 99.94, 99.96, 1234.56, 86'400'000.04};
  std::uint64_t id = 100;
  for (double v : values) {
    auto r = sample(id++);
    r.duration_ms = v;
    write_access(r, io.get_executor());
  }
  io.poll();
  auto text = read_all(file());
  id = 100;
  for (double v : values) {
    char want[64];
    std::snprintf(want, sizeof want, "access id=%llu ", static_cast<unsigned long long>(id++));
    auto at = text.find(want);
    ASSERT_NE(at, std::string::npos) << want;
    std::snprintf(want, sizeof want, " duration_ms=%.1f ", v);
    auto line_end = text.find('\n', at);
    EXPECT_NE(text.substr(at, line_end - at).find(want), std::string::npos) << want << " in " << text.substr(at, line_end - at);
  }
}

// A model name comes out of the client's body and an error may quote an upstream's message:
// neither can end the line and start a forged record, nor forge a field within the line.
TEST_F(LogAccess, ValuesFromOutsideCannotForgeLinesOrFields) {
  boost::asio::io_context io;
  auto r = sample(9);
  r.model = "x\r\n2026-01-01 00:00:00.000 info  access id=1 key=forged";
  r.error = "upstream said \"no\"\nat C:\\x";
  write_access(r, io.get_executor());
  io.poll();
  warn("upstream error: {}", "line one\nforged line");
  auto text = read_all(file());
  EXPECT_NE(text.find(" model=x\\x0d\\x0a2026-01-01\\x2000:00:00.000\\x20info\\x20\\x20access\\x20id=1\\x20key=forged "
                      "key=primary "),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(" error=\"upstream said \\x22no\\x22\\x0aat C:\\x5cx\"\n"), std::string::npos) << text;
  EXPECT_NE(text.find("upstream error: line one\\x0aforged line\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("\nforged"), std::string::npos) << text;
  EXPECT_EQ(text.find("\n2026-01-01"), std::string::npos) << text;
}

TEST_F(LogAccess, OtherMessagesAreFlushedAtOnce) {
  info("listening on {}", "127.0.0.1:8080");
  EXPECT_NE(read_all(file()).find("listening on 127.0.0.1:8080"), std::string::npos);
}

}  // namespace
}  // namespace orp::log
