// Micro-benchmarks (Google Benchmark) for the pure work done once per keep-alive request:
// parsing the client's request and the upstream's response head (llhttp wrapper), writing the
// upstream request head, classifying the answer, scanning the body for usage, and picking and
// reporting a key under contention.
//
//   scripts/bench.sh --micro            (or build/bench/micro_bench --benchmark_filter=...)
#include <benchmark/benchmark.h>

#include <chrono>
#include <string>
#include <vector>

#include "forward/heads.hpp"
#include "forward/usage.hpp"
#include "http/headers.hpp"
#include "http/parser.hpp"
#include "keys/classify.hpp"
#include "keys/key_pool.hpp"
#include "tls/ca.hpp"
#include "tls/contexts.hpp"
#include "tls/leaf_cache.hpp"
#include "upstream/target.hpp"

#include <openssl/ssl.h>
#include <time.h>

namespace {

using namespace orp;

// What the OpenAI Python SDK sends (headers and order as on the wire), with a small chat body.
const std::string kBody =
    R"({"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"Say hello in one short sentence."}]})";
const std::string kRequest =
    "POST /api/v1/chat/completions HTTP/1.1\r\n"
    "Host: openrouter.ai\r\n"
    "Accept-Encoding: gzip, deflate\r\n"
    "Connection: keep-alive\r\n"
    "Accept: application/json\r\n"
    "Content-Type: application/json\r\n"
    "User-Agent: OpenAI/Python 1.54.4\r\n"
    "X-Stainless-Lang: python\r\n"
    "X-Stainless-Package-Version: 1.54.4\r\n"
    "X-Stainless-OS: Linux\r\n"
    "X-Stainless-Arch: x64\r\n"
    "X-Stainless-Runtime: CPython\r\n"
    "X-Stainless-Runtime-Version: 3.11.2\r\n"
    "Authorization: Bearer sk-or-v1-client-0000000000000000000000000000000000000000000000000000000000000000\r\n"
    "X-Stainless-Async: false\r\n"
    "X-Stainless-Retry-Count: 0\r\n"
    "Content-Length: " +
    std::to_string(kBody.size()) + "\r\n\r\n" + kBody;

// A completion as OpenRouter answers it (through Cloudflare), head and body.
const std::string kResponseBody =
    R"({"id":"gen-1731000000-abcdefghijklmnop","provider":"OpenAI","model":"openai/gpt-4o-mini",)"
    R"("object":"chat.completion","created":1731000000,"choices":[{"logprobs":null,"finish_reason":"stop",)"
    R"("native_finish_reason":"stop","index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?",)"
    R"("refusal":null}}],"usage":{"prompt_tokens":14,"completion_tokens":9,"total_tokens":23,"cost":0.0000075}})";
const std::string kResponse =
    "HTTP/1.1 200 OK\r\n"
    "Date: Tue, 26 Nov 2026 11:00:00 GMT\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: " +
    std::to_string(kResponseBody.size()) +
    "\r\n"
    "Connection: keep-alive\r\n"
    "Access-Control-Allow-Origin: *\r\n"
    "x-clerk-auth-message: Invalid JWT form. A JWT consists of three parts separated by dots.\r\n"
    "x-clerk-auth-reason: token-invalid\r\n"
    "x-clerk-auth-status: signed-out\r\n"
    "Vary: Accept-Encoding\r\n"
    "Server: cloudflare\r\n"
    "CF-RAY: 8e8f0a0b0c0d0e0f-AMS\r\n"
    "\r\n" +
    kResponseBody;

// Head, then body: the two feeds a whole message in one buffer takes.
template <class Parser>
http::parse_result parse_whole(Parser& parser, std::string_view data, std::string& body) {
  auto r = parser.feed(data, &body);
  data.remove_prefix(r.consumed);
  return parser.feed(data, &body);
}

void BM_request_parse(benchmark::State& state) {
  http::request_parser parser;
  std::string body;
  for (auto _ : state) {
    parser.reset();
    body.clear();
    benchmark::DoNotOptimize(parse_whole(parser, kRequest, body));
    benchmark::DoNotOptimize(parser.head());
  }
  state.SetBytesProcessed(state.iterations() * kRequest.size());
}
BENCHMARK(BM_request_parse);

// A new parser per message: what a connection that builds one per request pays.
void BM_request_parse_fresh_parser(benchmark::State& state) {
  for (auto _ : state) {
    http::request_parser parser;
    std::string body;
    benchmark::DoNotOptimize(parse_whole(parser, kRequest, body));
  }
}
BENCHMARK(BM_request_parse_fresh_parser);

void BM_response_parse(benchmark::State& state) {
  http::response_parser parser;
  std::string body;
  for (auto _ : state) {
    parser.reset();
    body.clear();
    benchmark::DoNotOptimize(parse_whole(parser, kResponse, body));
    benchmark::DoNotOptimize(parser.head());
  }
  state.SetBytesProcessed(state.iterations() * kResponse.size());
}
BENCHMARK(BM_response_parse);

// Same request fed in 64-byte pieces (a slow client, or TLS records split mid-head).
void BM_request_parse_fragmented(benchmark::State& state) {
  http::request_parser parser;
  std::string body;
  for (auto _ : state) {
    parser.reset();
    body.clear();
    std::string_view data = kRequest;
    while (!data.empty()) {
      auto piece = data.substr(0, 64);
      while (!piece.empty()) {
        auto r = parser.feed(piece, &body);
        piece.remove_prefix(r.consumed);
        data.remove_prefix(r.consumed);
        if (r.status == http::parse_status::message_complete || r.status == http::parse_status::error) {
          data = {};
          break;
        }
      }
    }
    benchmark::DoNotOptimize(parser.head());
  }
}
BENCHMARK(BM_request_parse_fragmented);

http::request_head parsed_request() {
  http::request_parser parser;
  std::string body;
  parser.feed(kRequest, &body);
  return parser.head();
}

void BM_upstream_head(benchmark::State& state) {
  auto head = parsed_request();
  auto t = upstream::parse_api_url("https://openrouter.ai/api/v1");
  const std::string secret = "sk-or-v1-pool-0000000000000000000000000000000000000000000000000000000000000000";
  for (auto _ : state) {
    auto out = forward::build_upstream_head(head, kBody.size(), t, secret);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_upstream_head);

void BM_client_head(benchmark::State& state) {
  http::response_parser parser;
  std::string body;
  parser.feed(kResponse, &body);
  const auto& h = parser.head();
  for (auto _ : state) {
    auto out = forward::build_client_head(h, "pool-a", 1, true);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_client_head);

// The pieces of it, to see where its time goes.
void BM_upstream_head_map_target(benchmark::State& state) {
  auto t = upstream::parse_api_url("https://openrouter.ai/api/v1");
  for (auto _ : state) {
    auto s = upstream::map_request_target(t, "/api/v1/chat/completions");
    auto h = t.host_header();
    benchmark::DoNotOptimize(s.data());
    benchmark::DoNotOptimize(h.data());
  }
}
BENCHMARK(BM_upstream_head_map_target);

void BM_header_filter_only(benchmark::State& state) {
  auto head = parsed_request();
  for (auto _ : state) {
    int kept = 0;
    const http::connection_options connection(head.headers);
    for (const auto& h : head.headers)
      if (forward::forwards_request_header(h.name, connection)) ++kept;
    benchmark::DoNotOptimize(kept);
  }
}
BENCHMARK(BM_header_filter_only);

// forwarder.cpp classify_exchange for a 200: a success's headers are not read, so none are copied.
void BM_classify_200(benchmark::State& state) {
  http::response_parser parser;
  std::string body;
  parser.feed(kResponse, &body);
  const auto& h = parser.head();
  auto now = std::chrono::system_clock::now();
  const keys::header_list no_headers;
  for (auto _ : state) {
    auto oc = keys::classify(h.status, no_headers, body, now);
    benchmark::DoNotOptimize(oc);
  }
}
BENCHMARK(BM_classify_200);

void BM_usage_scan(benchmark::State& state) {
  for (auto _ : state) {
    forward::usage_scanner scanner;
    scanner.scan(kResponseBody);
    log::access_record rec;
    scanner.apply(rec);
    benchmark::DoNotOptimize(rec);
  }
}
BENCHMARK(BM_usage_scan);

void BM_model_of(benchmark::State& state) {
  for (auto _ : state) {
    auto m = forward::model_of(kBody);
    benchmark::DoNotOptimize(m.data());
  }
}
BENCHMARK(BM_model_of);

// ---- key selection under contention: one shared pool, pick + report(success) per iteration ------
keys::key_pool& shared_pool(int keys_count) {
  static std::vector<std::unique_ptr<keys::key_pool>> pools(64);
  auto& p = pools[keys_count];
  if (!p) {
    p = std::make_unique<keys::key_pool>(keys::strategy::round_robin, 1);
    std::vector<keys::key_record> records;
    for (int i = 0; i < keys_count; ++i)
      records.push_back({keys::api_key("sk-or-v1-bench-" + std::to_string(i) + std::string(48, 'a'),
                                       "key-" + std::to_string(i)),
                         "key-" + std::to_string(i), 1.0, i + 2});
    p->replace(std::move(records));
  }
  return *p;
}

void BM_key_pick_report(benchmark::State& state) {
  auto& pool = shared_pool(static_cast<int>(state.range(0)));
  keys::outcome ok{keys::outcome_kind::success, 200, std::nullopt, {}};
  std::vector<std::string> none;
  for (auto _ : state) {
    auto now = std::chrono::steady_clock::now();
    auto lease = pool.pick(none, now);
    if (!lease) {
      state.SkipWithError("no key");
      break;
    }
    pool.report(*lease, ok, now);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_key_pick_report)->Arg(2)->Arg(20)->Threads(1)->Threads(2)->Threads(8)->UseRealTime();

void BM_key_global_backoff_check(benchmark::State& state) {
  auto& pool = shared_pool(2);
  for (auto _ : state) {
    auto until = pool.global_backoff_until(std::chrono::steady_clock::now());
    benchmark::DoNotOptimize(until);
  }
}
BENCHMARK(BM_key_global_backoff_check)->Threads(1)->Threads(2)->Threads(8)->UseRealTime();

}  // namespace

// ---- TLS handshakes: what OpenSSL itself costs the proxy per new connection -------------------
// The proxy's own contexts (name-constrained CA, cached ECDSA P-256 leaf, X25519 first, one
// session ticket) against an OpenSSL client over an in-memory BIO pair: no sockets, no proxy
// code. `server_ms` is the server side's CPU time per handshake (thread CPU clock around its
// steps only): the floor under the proxy's "CPU per new TLS connection" on the same machine.
namespace {
struct handshake_bench {
  orp::tls::certificate_authority ca =
      orp::tls::certificate_authority::create({"openrouter.ai"}, std::chrono::system_clock::now());
  orp::tls::leaf_cache leaves{ca};
  std::shared_ptr<const orp::tls::server_identity> identity =
      leaves.get("openrouter.ai", std::chrono::system_clock::now());
  orp::tls::ssl_ctx_ptr client_ctx = orp::tls::make_client_context({});
  handshake_bench() {
    X509_STORE_add_cert(SSL_CTX_get_cert_store(client_ctx.get()), ca.cert());
    SSL_CTX_set_session_cache_mode(client_ctx.get(), SSL_SESS_CACHE_CLIENT);
  }
};

double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// One handshake (plus the server's ticket reaching the client); returns the server's CPU seconds
// and the client's session for resumption.
// The TLS 1.3 suite the server insists on; "" leaves the proxy's preference.
double one_handshake(handshake_bench& b, const char* suite, SSL_SESSION* resume, SSL_SESSION** session_out,
                     bool* resumed) {
  SSL* server = SSL_new(b.identity->context.get());
  if (*suite) SSL_set_ciphersuites(server, suite);
  SSL* client = SSL_new(b.client_ctx.get());
  orp::tls::configure_client_ssl(client, "openrouter.ai");
  if (resume) SSL_set_session(client, resume);
  BIO *sb = nullptr, *cb = nullptr;
  BIO_new_bio_pair(&sb, 64 * 1024, &cb, 64 * 1024);
  SSL_set_bio(server, sb, sb);
  SSL_set_bio(client, cb, cb);
  SSL_set_accept_state(server);
  SSL_set_connect_state(client);
  double server_s = 0;
  bool client_done = false, server_done = false;
  for (int round = 0; round < 20 && !(client_done && server_done); ++round) {
    if (!client_done) client_done = SSL_do_handshake(client) == 1;
    double t0 = thread_cpu_s();
    if (!server_done) server_done = SSL_do_handshake(server) == 1;
    server_s += thread_cpu_s() - t0;
  }
  // TLS 1.3 tickets arrive after the handshake: a read on the client takes them in.
  char byte;
  double t0 = thread_cpu_s();
  SSL_write(server, "x", 1);
  server_s += thread_cpu_s() - t0;
  SSL_read(client, &byte, 1);
  if (resumed) *resumed = SSL_session_reused(client) == 1;
  if (session_out) *session_out = SSL_get1_session(client);
  // The proxy ends each client connection with close_notify; a server SSL freed without it counts
  // as a bad session, which OpenSSL drops from the cache the server resumes from.
  t0 = thread_cpu_s();
  SSL_shutdown(server);
  SSL_free(server);
  server_s += thread_cpu_s() - t0;
  SSL_set_shutdown(client, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  SSL_free(client);
  if (!(client_done && server_done)) return -1;
  return server_s;
}

constexpr const char* kSuites[] = {"", "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"};

void run_handshakes(benchmark::State& state, bool resume) {
  static handshake_bench b;
  const char* suite = kSuites[state.range(0)];
  state.SetLabel(*suite ? suite : "proxy's preference");
  SSL_SESSION* session = nullptr;
  if (resume) one_handshake(b, suite, nullptr, &session, nullptr);
  double server_s = 0;
  std::int64_t n = 0, reused = 0;
  for (auto _ : state) {
    bool r = false;
    SSL_SESSION* next = nullptr;
    double s = one_handshake(b, suite, session, resume ? &next : nullptr, &r);
    if (s < 0) {
      state.SkipWithError("handshake failed");
      break;
    }
    if (resume) {
      SSL_SESSION_free(session);
      session = next;
    }
    server_s += s;
    reused += r ? 1 : 0;
    ++n;
  }
  if (session) SSL_SESSION_free(session);
  state.counters["server_ms"] = n ? server_s * 1e3 / n : 0;
  state.counters["resumed"] = n ? double(reused) / n : 0;
}
}  // namespace

static void BM_tls_handshake_full(benchmark::State& state) { run_handshakes(state, false); }
BENCHMARK(BM_tls_handshake_full)->DenseRange(0, 2)->Unit(benchmark::kMillisecond);

static void BM_tls_handshake_resumed(benchmark::State& state) { run_handshakes(state, true); }
BENCHMARK(BM_tls_handshake_resumed)->DenseRange(0, 2)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
