// bench/sse_server: a paced SSE upstream for scripts/bench.sh, over TLS on 127.0.0.1.
//
// nginx cannot pace events, and the Python fake's timer jitter would drown a sub-millisecond
// difference, so the SSE rows use this: one thread, one coroutine per connection, HTTP/1.1
// keep-alive. POST with `"stream": true` in the body gets a chunked text/event-stream of
// X-Fake-Events `data:` events (default 5), the first at once with the head and then one every
// X-Fake-Interval-Ms (default 0), then `data: [DONE]`; anything else gets a small completion JSON.
// The request headers are the ones tests/support/fake_openrouter.py understands. A request whose
// key contains "-429" gets a 429 (Retry-After: 1) instead, for the key-rotation row, and
// GET /_bench/stats answers {"connections": N} (TLS connections accepted so far, this one included).
//
// sse_server --cert C --key K [--port 0] [--time-limit S]  prints {"port": N} and serves until
// SIGTERM/SIGINT or the time limit.
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <charconv>
#include <chrono>
#include <iostream>
#include <string>

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;

namespace {

constexpr std::string_view kCompletion =
    R"({"id":"gen-bench-1","object":"chat.completion","created":1700000000,"model":"openai/gpt-4o-mini",)"
    R"("choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},)"
    R"("finish_reason":"stop"}],"usage":{"prompt_tokens":14,"completion_tokens":9,"total_tokens":23}})";
constexpr std::string_view kEvent =
    R"(data: {"id":"gen-bench-1","object":"chat.completion.chunk","model":"openai/gpt-4o-mini",)"
    R"("choices":[{"index":0,"delta":{"content":"tok"},"finish_reason":null}]})"
    "\n\n";

std::size_t header_number(std::string_view head, std::string_view name, std::size_t fallback) {
  // Case-insensitive search for "\r\nName:".
  for (std::size_t pos = head.find("\r\n"); pos != std::string_view::npos; pos = head.find("\r\n", pos + 2)) {
    auto line = head.substr(pos + 2);
    if (line.size() <= name.size() || line[name.size()] != ':') continue;
    bool same = true;
    for (std::size_t i = 0; i < name.size() && same; ++i)
      same = std::tolower(static_cast<unsigned char>(line[i])) == std::tolower(static_cast<unsigned char>(name[i]));
    if (!same) continue;
    auto v = line.substr(name.size() + 1);
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    std::size_t n = fallback;
    std::from_chars(v.data(), v.data() + v.size(), n);
    return n;
  }
  return fallback;
}

std::string chunk(std::string_view data) {
  char size[16];
  auto [p, ec] = std::to_chars(size, size + sizeof size, data.size(), 16);
  std::string out(size, p);
  out += "\r\n";
  out += data;
  out += "\r\n";
  return out;
}

std::size_t connections_accepted = 0;

awaitable<void> serve(ssl::stream<tcp::socket> stream) {
  ++connections_accepted;
  try {
    stream.next_layer().set_option(tcp::no_delay(true));
    co_await stream.async_handshake(ssl::stream_base::server, use_awaitable);
    std::string buf;
    char tmp[16384];
    asio::steady_timer timer(stream.get_executor());
    while (true) {
      std::size_t end;
      while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
        std::size_t n = co_await stream.async_read_some(asio::buffer(tmp), use_awaitable);
        buf.append(tmp, n);
      }
      std::string head = buf.substr(0, end + 2);
      std::size_t length = header_number(head, "Content-Length", 0);
      while (buf.size() < end + 4 + length) {
        std::size_t n = co_await stream.async_read_some(asio::buffer(tmp), use_awaitable);
        buf.append(tmp, n);
      }
      std::string body = buf.substr(end + 4, length);
      buf.erase(0, end + 4 + length);
      if (head.rfind("GET /_bench/stats ", 0) == 0) {
        std::string json = "{\"connections\": " + std::to_string(connections_accepted) + "}";
        std::string out = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                          std::to_string(json.size()) + "\r\n\r\n" + json;
        co_await asio::async_write(stream, asio::buffer(out), use_awaitable);
        continue;
      }
      if (head.find("Bearer sk-or-v1-bench-429") != std::string::npos) {
        constexpr std::string_view error = R"({"error":{"code":429,"message":"Rate limit exceeded: bench"}})";
        std::string out = "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
                          "Content-Length: " + std::to_string(error.size()) + "\r\n\r\n" + std::string(error);
        co_await asio::async_write(stream, asio::buffer(out), use_awaitable);
        continue;
      }
      bool stream_requested = body.find("\"stream\":true") != std::string::npos ||
                              body.find("\"stream\": true") != std::string::npos;
      if (!stream_requested) {
        std::string out = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                          std::to_string(kCompletion.size()) + "\r\n\r\n" + std::string(kCompletion);
        co_await asio::async_write(stream, asio::buffer(out), use_awaitable);
        continue;
      }
      std::size_t events = header_number(head, "X-Fake-Events", 5);
      auto interval = std::chrono::milliseconds(header_number(head, "X-Fake-Interval-Ms", 0));
      std::string out =
          "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
          "Transfer-Encoding: chunked\r\n\r\n";
      // Paced against a schedule, not "interval after the last write", so write time never drifts it.
      auto next = std::chrono::steady_clock::now();
      for (std::size_t i = 0; i < events; ++i) {
        if (i > 0) {
          next += interval;
          timer.expires_at(next);
          co_await timer.async_wait(use_awaitable);
        }
        out += chunk(kEvent);
        co_await asio::async_write(stream, asio::buffer(out), use_awaitable);
        out.clear();
      }
      out = chunk("data: [DONE]\n\n") + "0\r\n\r\n";
      co_await asio::async_write(stream, asio::buffer(out), use_awaitable);
    }
  } catch (const std::exception&) {
    // The client went away: normal for a load generator's held streams.
  }
}

awaitable<void> listen(tcp::acceptor& acceptor, ssl::context& ctx) {
  while (true) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(use_awaitable));
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) continue;  // e.g. EMFILE: keep serving the connections already open
    asio::co_spawn(acceptor.get_executor(), serve(ssl::stream<tcp::socket>(std::move(socket), ctx)),
                   asio::detached);
  }
}

}  // namespace

int main(int argc, char** argv) try {
  std::string cert, key;
  unsigned short port = 0;
  double time_limit = 600;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--cert") cert = argv[i + 1];
    else if (a == "--key") key = argv[i + 1];
    else if (a == "--port") port = static_cast<unsigned short>(std::stoi(argv[i + 1]));
    else if (a == "--time-limit") time_limit = std::stod(argv[i + 1]);
    else throw std::runtime_error("unknown argument " + a);
  }
  asio::io_context io(1);
  ssl::context ctx(ssl::context::tls_server);
  ctx.use_certificate_chain_file(cert);
  ctx.use_private_key_file(key, ssl::context::pem);
  SSL_CTX_set_mode(ctx.native_handle(), SSL_MODE_RELEASE_BUFFERS);
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  acceptor.listen(4096);
  std::cout << "{\"port\": " << acceptor.local_endpoint().port() << "}" << std::endl;
  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](auto, int) { io.stop(); });
  asio::co_spawn(io, listen(acceptor, ctx), asio::detached);
  io.run_for(std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(time_limit)));
  return 0;
} catch (const std::exception& e) {
  std::cerr << "sse_server: " << e.what() << "\n";
  return 2;
}
