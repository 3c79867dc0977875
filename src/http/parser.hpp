#pragma once
// Incremental HTTP/1.1 parsing over llhttp in strict mode (no lenient flags), with the checks a
// forwarding proxy needs on top: no CL+TE, request TE exactly "chunked", no obs-fold, no bare LF,
// a cap on the head size. Input may be split anywhere; feed() reports each step once.
//
// Driving it: feed() until it returns head_complete (head() is then complete), then keep feeding
// data.substr(consumed) for the body until message_complete; then reset() for the next message on
// the connection (only when head().keep_alive), and feed the remaining bytes. An empty feed() is
// allowed and advances a message that has no body to message_complete.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "http/headers.hpp"

namespace orp::http {

struct request_head {
  std::string method;
  std::string target;
  unsigned version_minor = 1;
  header_list headers;
  std::optional<std::uint64_t> content_length;
  bool chunked = false;
  bool keep_alive = true;
  bool expect_continue = false;
  friend bool operator==(const request_head&, const request_head&) = default;
};

struct response_head {
  unsigned status = 0;
  std::string reason;
  unsigned version_minor = 1;
  header_list headers;
  std::optional<std::uint64_t> content_length;
  bool chunked = false;
  bool keep_alive = true;
  friend bool operator==(const response_head&, const response_head&) = default;
};

// RFC 9112 6.3 rule 1: a 1xx, 204 or 304 response ends at its header section, whatever its
// Content-Length or Transfer-Encoding say (a 304's Content-Length is the length a 200 would have).
inline constexpr bool ends_at_head(unsigned status) { return status / 100 == 1 || status == 204 || status == 304; }

enum class parse_status { need_more, head_complete, message_complete, error };

struct parse_result {
  parse_status status;
  std::size_t consumed;  // bytes of the fed data used; feed the rest again
};

inline constexpr std::size_t default_max_head_bytes = 64 * 1024;

namespace detail {
template <class Head>
class parser_core;
}

class request_parser {
 public:
  request_parser();
  explicit request_parser(std::size_t max_head_bytes);
  request_parser(request_parser&&) noexcept;
  request_parser& operator=(request_parser&&) noexcept;
  ~request_parser();

  // Decoded (de-chunked) body bytes are appended to *body_out when it is not null. Returns early
  // right after the head (head_complete) and right after the message (message_complete);
  // need_more means every byte was consumed.
  parse_result feed(std::string_view data, std::string* body_out);
  const request_head& head() const;
  // The head for the caller to adjust in place (a proxy request's absolute-form target); valid
  // until reset().
  request_head& mutable_head();
  // Ready for the next message on the same keep-alive connection; also clears an error.
  void reset();
  // A body larger than this (by Content-Length, or as chunks arrive) is refused with 413.
  void set_max_body_bytes(std::uint64_t limit);

  // 400 malformed or ambiguous framing, 413 body too large, 431 head too large, 505 not
  // HTTP/1.x; 0 when there is no error.
  unsigned error_status() const;
  std::string_view error_reason() const;

 private:
  std::unique_ptr<detail::parser_core<request_head>> core_;
};

// Interim 1xx responses (100 Continue) come out as a message of their own: head_complete, then
// message_complete with no body (feed the remaining bytes, even none). Check head().status / 100
// == 1, reset() and feed on for the final response. 101 and answers to CONNECT are not handled.
class response_parser {
 public:
  response_parser();
  explicit response_parser(std::size_t max_head_bytes);
  response_parser(response_parser&&) noexcept;
  response_parser& operator=(response_parser&&) noexcept;
  ~response_parser();

  parse_result feed(std::string_view data, std::string* body_out);
  const response_head& head() const;
  // Also clears set_no_body.
  void reset();
  // After an interim 1xx answer: ready for the final one to the same request (a HEAD's stays
  // without a body).
  void reset_after_interim();
  // Call before feeding the response to a HEAD request: no body follows whatever the head says.
  void set_no_body(bool no_body);
  // Known once the head is complete: the body has neither Content-Length nor chunked framing and
  // ends when the connection closes; call finish() at EOF.
  bool eof_terminated() const;
  // At EOF: message_complete for an EOF-terminated body, need_more when no message was in
  // progress, error when the response was cut short.
  parse_result finish();

  unsigned error_status() const;
  std::string_view error_reason() const;

 private:
  std::unique_ptr<detail::parser_core<response_head>> core_;
};

}  // namespace orp::http
