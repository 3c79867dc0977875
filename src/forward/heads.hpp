#pragma once
// The two heads the proxy writes: the request as the upstream gets it, and the response head
// as the client gets it. Pure string building, on the hot path of every request.
#include <optional>
#include <string>
#include <string_view>

#include "http/headers.hpp"
#include "http/parser.hpp"
#include "upstream/target.hpp"

namespace orp::forward {

struct client_request;

// Whether a client request header goes upstream as is (`connection`: the names the request's
// Connection headers list, more hop-by-hop headers). The rest is what build_upstream_head drops.
bool forwards_request_header(std::string_view name, const http::connection_options& connection);

// Our key, our framing (Content-Length of the held body), the upstream's Host, none of the
// client's hop-by-hop headers, no Expect (answered by the proxy), no Accept-Encoding (the proxy
// reads error bodies and stream events to classify them).
std::string build_upstream_head(const http::request_head& head, std::size_t body_size, const upstream::target& t,
                                std::string_view secret);

// X-Proxy-Key and X-Proxy-Attempts, each line ending in CRLF: on every answer to an intercepted
// request, the upstream's and the proxy's own. The key is named by its label or mask ("none"
// before any key was tried), in ASCII: the mask's ellipsis becomes "...", any other byte outside
// printable ASCII (a label in another script) is percent-encoded, as is '%' itself.
std::string proxy_headers(std::string_view key_display, unsigned attempts);

// The upstream's head minus hop-by-hop headers, plus X-Proxy-Key / X-Proxy-Attempts and our
// Connection decision. The body is relayed as it arrives on the wire, so chunked framing stays.
// With `new_length`, the body goes out rewritten (not as it came on the wire): the upstream's
// Content-Length and chunked framing give way to Content-Length: new_length. `close_delimited`:
// the body goes out de-chunked and ends when the connection closes (an HTTP/1.0 client, which
// chunked framing must not reach: RFC 9112 6.1), so no Transfer-Encoding.
std::string build_client_head(const http::response_head& h, std::string_view key_display, unsigned attempts,
                              bool keep_alive, std::optional<std::size_t> new_length = std::nullopt,
                              bool close_delimited = false);

}  // namespace orp::forward
