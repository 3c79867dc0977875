#include "http/parser.hpp"

#include <llhttp.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <type_traits>

namespace orp::http {
namespace detail {
namespace {

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// llhttp 8.1 lets these through even with no lenient flag, so they are checked on the raw bytes
// of a head or trailer section: a bare LF line ending (RFC 9112 2.2), a line starting with
// whitespace, i.e. obs-fold or whitespace before the first field (RFC 9112 5.2, 2.2). It also
// keeps the start line so that its exact shape can be checked once llhttp has split it.
class line_checker {
 public:
  void restart() {
    prev_ = '\n';
    start_line_.clear();
    in_start_line_ = true;
  }

  // Returns why the bytes are refused, or an empty view.
  std::string_view scan(std::string_view bytes) {
    const char* s = bytes.data();
    const std::size_t n = bytes.size();
    std::size_t i = 0;
    while (i < n) {
      const char c = s[i];
      if (prev_ == '\r' && c != '\n') return "bare CR";
      if (prev_ == '\n' && (c == ' ' || c == '\t')) return "obs-fold or whitespace at line start";
      if (c == '\n') {
        if (prev_ != '\r') return "bare LF line ending";
      } else if (c == '\r') {
        // Empty lines before the start line are allowed (RFC 9112 2.2), so only a CR after text ends it.
        if (!start_line_.empty()) in_start_line_ = false;
      } else {
        // The rest of the line up to its CR or LF in one step (memchr: this covers every head byte).
        const void* cr = std::memchr(s + i, '\r', n - i);
        std::size_t stop = cr ? static_cast<std::size_t>(static_cast<const char*>(cr) - s) : n;
        const void* lf = std::memchr(s + i, '\n', stop - i);
        std::size_t j = lf ? static_cast<std::size_t>(static_cast<const char*>(lf) - s) : stop;
        if (in_start_line_) start_line_.append(s + i, j - i);
        prev_ = s[j - 1];
        i = j;
        continue;
      }
      prev_ = c;
      ++i;
    }
    return {};
  }

  std::string_view start_line() const { return start_line_; }

 private:
  char prev_ = '\n';
  std::string start_line_;
  bool in_start_line_ = true;
};

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

template <class Head>
class parser_core {
 public:
  static constexpr bool is_request = std::is_same_v<Head, request_head>;

  explicit parser_core(std::size_t max_head_bytes) : max_head_(max_head_bytes) { reset(); }
  parser_core(const parser_core&) = delete;
  parser_core& operator=(const parser_core&) = delete;

  void reset() {
    if (clean_) return;  // nothing fed since the last reset (an exchange's parser is reset twice)
    clean_ = true;
    llhttp_init(&parser_, is_request ? HTTP_REQUEST : HTTP_RESPONSE, &settings());
    parser_.data = this;
    recycle(head_.headers);
    recycle(trailers_);
    auto headers = std::move(head_.headers);  // keeps its capacity
    head_ = Head{};
    head_.headers = std::move(headers);
    phase_ = phase::head;
    head_bytes_ = 0;
    body_bytes_ = 0;
    trailers_.clear();
    in_name_ = false;
    version_.clear();
    lines_.restart();
    no_body_ = false;
    eof_terminated_ = false;
    user_status_ = 0;
    error_status_ = 0;
    error_reason_ = {};
  }

  parse_result feed(std::string_view data, std::string* body_out) {
    clean_ = false;
    if (phase_ == phase::failed) return {parse_status::error, 0};
    if (phase_ == phase::done) return {parse_status::message_complete, 0};
    body_out_ = body_out;
    const char* base = data.empty() ? "" : data.data();
    std::size_t off = 0;
    for (;;) {
      // While the head or the trailer section is incomplete llhttp sees no more than the fields
      // may still grow by, so an endless header or trailer stream is cut at the limit whatever
      // the read sizes. Both sections share one budget (RFC 9112 7.1.2: trailers are fields too).
      const bool in_fields = phase_ == phase::head || phase_ == phase::trailers;
      std::size_t limit = data.size();
      if (in_fields) limit = off + std::min(data.size() - off, max_head_ - head_bytes_);
      event_ = event::none;
      auto err = llhttp_execute(&parser_, base + off, limit - off);
      // On a pause or error llhttp_get_error_pos is where it stopped; resuming goes on from there.
      std::size_t n = err == HPE_OK ? limit - off
                                    : static_cast<std::size_t>(llhttp_get_error_pos(&parser_) - (base + off));
      if (in_fields) {
        head_bytes_ += n;
        if (auto bad = lines_.scan(data.substr(off, n)); !bad.empty()) return fail(400, bad, off + n);
      }
      off += n;
      if (err == HPE_OK) {
        if (in_fields && limit < data.size()) {
          return fail(431, phase_ == phase::head ? "head too large" : "trailer section too large", off);
        }
        return {parse_status::need_more, off};
      }
      if (err != HPE_PAUSED && err != HPE_PAUSED_UPGRADE) {
        if (user_status_ != 0) return fail(user_status_, user_reason_, off);
        return fail(400, llhttp_get_error_reason(&parser_), off);
      }
      llhttp_resume(&parser_);
      switch (event_) {
        case event::head_done:
          phase_ = phase::body;
          if (auto bad = check_head(); !bad.empty()) return fail(bad_status_, bad, off);
          return {parse_status::head_complete, off};
        case event::last_chunk:
          phase_ = phase::trailers;
          lines_.restart();
          continue;
        case event::message_done:
        case event::none:  // HPE_PAUSED_UPGRADE: the message is over, the rest is not HTTP/1.1
          if (auto bad = check_fields(trailers_); !bad.empty()) return fail(400, bad, off);
          phase_ = phase::done;
          return {parse_status::message_complete, off};
      }
    }
  }

  parse_result finish() {
    clean_ = false;
    if (phase_ == phase::failed) return {parse_status::error, 0};
    // An empty feed first runs llhttp's steps that need no input, such as choosing the body framing
    // right after a paused head; llhttp_finish would see a paused parser and do nothing.
    if (auto r = feed({}, nullptr); r.status != parse_status::need_more) return r;
    event_ = event::none;
    auto err = llhttp_finish(&parser_);
    if (event_ == event::message_done) {
      phase_ = phase::done;
      return {parse_status::message_complete, 0};
    }
    if (err == HPE_OK) return {parse_status::need_more, 0};
    return fail(400, "connection closed before the message ended", 0);
  }

  Head head_;
  bool no_body_ = false;
  bool eof_terminated_ = false;
  bool clean_ = false;  // reset and not fed since: a reset has nothing to do
  std::uint64_t max_body_ = std::numeric_limits<std::uint64_t>::max();
  unsigned error_status_ = 0;
  std::string_view error_reason_;

 private:
  enum class phase { head, body, trailers, done, failed };
  enum class event { none, head_done, last_chunk, message_done };

  parse_result fail(unsigned status, std::string_view reason, std::size_t consumed) {
    phase_ = phase::failed;
    error_status_ = status;
    error_reason_ = reason;
    return {parse_status::error, consumed};
  }

  bool has_flag(unsigned flag) const { return (parser_.flags & flag) != 0; }

  std::string_view check_fields(header_list& fields) {
    for (auto& f : fields) {
      if (f.name.empty() || !std::all_of(f.name.begin(), f.name.end(), is_tchar)) return "invalid header name";
      // Trimmed in place: no new string per field.
      auto t = trim_ows(f.value);
      if (t.size() != f.value.size()) {
        auto start = static_cast<std::size_t>(t.data() - f.value.data());
        f.value.erase(start + t.size());
        f.value.erase(0, start);
      }
    }
    return {};
  }

  // Returns why the head is refused (with bad_status_), or an empty view.
  std::string_view check_head() {
    bad_status_ = 400;
    if (auto bad = check_fields(head_.headers); !bad.empty()) return bad;
    if (version_.empty()) return "missing HTTP version";
    if (parser_.http_major != 1) {
      bad_status_ = 505;
      return "HTTP version not supported";
    }
    // llhttp refuses this itself; kept so the guarantee does not rest on its version (RFC 9112 6.3).
    if (has_flag(F_CONTENT_LENGTH) && has_flag(F_TRANSFER_ENCODING)) return "both Content-Length and Transfer-Encoding";
    if constexpr (is_request) {
      if (!is_request_line(lines_.start_line())) return "malformed request line";
      // The body is de-chunked and re-framed, so any other coding would be forwarded undeclared.
      if (has_flag(F_TRANSFER_ENCODING)) {
        auto te_count = std::count_if(head_.headers.begin(), head_.headers.end(),
                                      [](const header_field& f) { return iequals(f.name, "Transfer-Encoding"); });
        auto te = find_header(head_.headers, "Transfer-Encoding");
        if (te_count != 1 || !iequals(*te, "chunked")) return "Transfer-Encoding other than chunked";
      }
      auto expect = find_header(head_.headers, "Expect");
      head_.expect_continue = head_.version_minor >= 1 && expect && iequals(*expect, "100-continue");
      if (head_.content_length && *head_.content_length > max_body_) {
        bad_status_ = 413;
        return "body too large";
      }
    }
    return {};
  }

  header_list& fields() { return phase_ == phase::head ? head_.headers : trailers_; }

  // The start line is exactly "<method> <target> HTTP/<version>" (single spaces, nothing else).
  bool is_request_line(std::string_view line) const
    requires is_request
  {
    auto take = [&line](std::string_view part) {
      if (!line.starts_with(part)) return false;
      line.remove_prefix(part.size());
      return true;
    };
    return take(head_.method) && take(" ") && take(head_.target) && take(" HTTP/") && take(version_) && line.empty();
  }

  // A keep-alive connection parses one head after another: the fields' strings are kept (cleared)
  // for the next head, so a typical request or response allocates nothing for its headers. Large
  // strings are not kept, so one odd head cannot pin memory for the connection's life.
  static constexpr std::size_t kKeepCapacity = 256;
  static constexpr std::size_t kKeepFields = 64;
  void recycle(header_list& list) {
    for (auto& f : list) {
      if (spare_.size() >= kKeepFields) break;
      if (f.name.capacity() > kKeepCapacity || f.value.capacity() > kKeepCapacity) continue;
      f.name.clear();
      f.value.clear();
      spare_.push_back(std::move(f));
    }
    list.clear();
  }
  // Trailers are dropped (the body is re-framed without them), so only the one being parsed is
  // kept: the one before it is checked, then its slot is reused. True when parsing may go on.
  bool next_trailer() {
    if (phase_ != phase::trailers || trailers_.empty()) return true;
    if (auto bad = check_fields(trailers_); !bad.empty()) {
      user_status_ = 400;
      user_reason_ = bad;
      return false;
    }
    recycle(trailers_);
    return true;
  }
  void add_field() {
    auto& list = fields();
    if (spare_.empty()) {
      list.emplace_back();
    } else {
      list.push_back(std::move(spare_.back()));
      spare_.pop_back();
    }
  }

  static parser_core& self(llhttp_t* p) { return *static_cast<parser_core*>(p->data); }

  static int on_method(llhttp_t* p, const char* at, std::size_t n) {
    if constexpr (is_request) self(p).head_.method.append(at, n);
    return 0;
  }
  static int on_url(llhttp_t* p, const char* at, std::size_t n) {
    if constexpr (is_request) self(p).head_.target.append(at, n);
    return 0;
  }
  static int on_status(llhttp_t* p, const char* at, std::size_t n) {
    if constexpr (!is_request) self(p).head_.reason.append(at, n);
    return 0;
  }
  static int on_version(llhttp_t* p, const char* at, std::size_t n) {
    self(p).version_.append(at, n);
    return 0;
  }
  // llhttp reports a name or value in as many pieces as the input was split into.
  static int on_header_field(llhttp_t* p, const char* at, std::size_t n) {
    auto& s = self(p);
    if (!s.in_name_ && !s.next_trailer()) return -1;
    if (!s.in_name_) s.add_field();
    s.in_name_ = true;
    s.fields().back().name.append(at, n);
    return 0;
  }
  static int on_header_field_complete(llhttp_t* p) {
    self(p).in_name_ = false;
    return 0;
  }
  static int on_header_value(llhttp_t* p, const char* at, std::size_t n) {
    self(p).fields().back().value.append(at, n);
    return 0;
  }
  static int on_headers_complete(llhttp_t* p) {
    auto& s = self(p);
    if constexpr (!is_request) {
      s.head_.status = p->status_code;
      // Same effect as returning 1 (no body), which cannot be combined with a pause. llhttp leaves
      // the status rule to its caller: a 204 with "Content-Length: 5" would otherwise take the
      // next 5 bytes (the start of the next response, or a wait for bytes that never come).
      if (s.no_body_ || ends_at_head(p->status_code)) p->flags = static_cast<std::uint16_t>(p->flags | F_SKIPBODY);
      s.eof_terminated_ = llhttp_message_needs_eof(p) != 0;
    }
    s.head_.version_minor = p->http_minor;
    if (s.has_flag(F_CONTENT_LENGTH)) s.head_.content_length = p->content_length;
    s.head_.chunked = s.has_flag(F_CHUNKED);
    s.head_.keep_alive = llhttp_should_keep_alive(p) != 0;
    s.event_ = event::head_done;
    return HPE_PAUSED;
  }
  static bool over_limit(parser_core& s, std::uint64_t more) {
    if (more <= s.max_body_ - s.body_bytes_) return false;
    s.user_status_ = 413;
    s.user_reason_ = "body too large";
    return true;
  }
  static int on_body(llhttp_t* p, const char* at, std::size_t n) {
    auto& s = self(p);
    if (over_limit(s, n)) return -1;
    s.body_bytes_ += n;
    if (s.body_out_ != nullptr) s.body_out_->append(at, n);
    return 0;
  }
  static int on_chunk_header(llhttp_t* p) {
    auto& s = self(p);
    if (over_limit(s, p->content_length)) return -1;
    if (p->content_length != 0) return 0;
    s.event_ = event::last_chunk;  // the trailer section follows; its lines are checked like the head
    return HPE_PAUSED;
  }
  static int on_message_complete(llhttp_t* p) {
    self(p).event_ = event::message_done;
    return HPE_PAUSED;
  }

  static const llhttp_settings_t& settings() {
    static const llhttp_settings_t s = [] {
      llhttp_settings_t st;
      llhttp_settings_init(&st);
      st.on_method = on_method;
      st.on_url = on_url;
      st.on_status = on_status;
      st.on_version = on_version;
      st.on_header_field = on_header_field;
      st.on_header_field_complete = on_header_field_complete;
      st.on_header_value = on_header_value;
      st.on_headers_complete = on_headers_complete;
      st.on_body = on_body;
      st.on_chunk_header = on_chunk_header;
      st.on_message_complete = on_message_complete;
      return st;
    }();
    return s;
  }

  llhttp_t parser_{};
  std::size_t max_head_;
  phase phase_ = phase::head;
  event event_ = event::none;
  std::size_t head_bytes_ = 0;
  std::uint64_t body_bytes_ = 0;
  std::string* body_out_ = nullptr;
  header_list trailers_;  // the trailer field being parsed (next_trailer)
  header_list spare_;     // cleared fields kept for the next head (recycle)
  bool in_name_ = false;
  std::string version_;
  line_checker lines_;
  unsigned user_status_ = 0;
  std::string_view user_reason_;
  unsigned bad_status_ = 400;
};

}  // namespace detail

request_parser::request_parser() : request_parser(default_max_head_bytes) {}
request_parser::request_parser(std::size_t max_head_bytes)
    : core_(std::make_unique<detail::parser_core<request_head>>(max_head_bytes)) {}
request_parser::request_parser(request_parser&&) noexcept = default;
request_parser& request_parser::operator=(request_parser&&) noexcept = default;
request_parser::~request_parser() = default;

parse_result request_parser::feed(std::string_view data, std::string* body_out) { return core_->feed(data, body_out); }
const request_head& request_parser::head() const { return core_->head_; }
request_head& request_parser::mutable_head() {
  core_->clean_ = false;  // the caller may change it: the next reset must clear it
  return core_->head_;
}
void request_parser::reset() { core_->reset(); }
void request_parser::set_max_body_bytes(std::uint64_t limit) { core_->max_body_ = limit; }
unsigned request_parser::error_status() const { return core_->error_status_; }
std::string_view request_parser::error_reason() const { return core_->error_reason_; }

response_parser::response_parser() : response_parser(default_max_head_bytes) {}
response_parser::response_parser(std::size_t max_head_bytes)
    : core_(std::make_unique<detail::parser_core<response_head>>(max_head_bytes)) {}
response_parser::response_parser(response_parser&&) noexcept = default;
response_parser& response_parser::operator=(response_parser&&) noexcept = default;
response_parser::~response_parser() = default;

parse_result response_parser::feed(std::string_view data, std::string* body_out) { return core_->feed(data, body_out); }
const response_head& response_parser::head() const { return core_->head_; }
void response_parser::reset() { core_->reset(); }
void response_parser::reset_after_interim() {
  const bool no_body = core_->no_body_;
  core_->reset();
  if (no_body) set_no_body(true);
}
void response_parser::set_no_body(bool no_body) {
  core_->no_body_ = no_body;
  core_->clean_ = false;
}
bool response_parser::eof_terminated() const { return core_->eof_terminated_; }
parse_result response_parser::finish() { return core_->finish(); }
unsigned response_parser::error_status() const { return core_->error_status_; }
std::string_view response_parser::error_reason() const { return core_->error_reason_; }

}  // namespace orp::http
