#include "state/redis_url.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <charconv>
#include <stdexcept>

namespace orp::state {

std::string redis_endpoint::display() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + "/" + std::to_string(db);
}

namespace {

int parse_int(std::string_view text, int min, int max, std::string_view what) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max)
    throw std::invalid_argument("bad " + std::string(what) + " '" + std::string(text) + "' in redis URL");
  return value;
}

// A password with an unencoded '@', '/', '?' or '#' moves the URL's parts: the host, port or
// database index would be read out of the password, and an error quoting them would quote it.
// Told apart by where the '@'s are: the userinfo ends at the last '@' of the authority, and
// neither host, port nor database index ever holds one.
void refuse_unencoded_password(std::string_view url) {
  constexpr std::string_view kEncode =
      "percent-encode '@' (%40), '/' (%2F), ':' (%3A), '?' (%3F) and '#' (%23) in the password";
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return;
  const std::string_view rest = url.substr(scheme_end + 3);
  const auto first_at = rest.find('@');
  if (first_at == std::string_view::npos) return;
  if (rest.find('@', first_at + 1) != std::string_view::npos)
    throw std::invalid_argument("redis URL holds more than one '@': " + std::string(kEncode));
  if (rest.find_first_of("/?#") < first_at)
    throw std::invalid_argument("redis URL has a '/', '?' or '#' before its '@': " + std::string(kEncode));
}

}  // namespace

redis_endpoint parse_redis_url(std::string_view url) {
  refuse_unencoded_password(url);
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) throw std::invalid_argument("not a URL: expected redis://[:password@]host:port/db");
  const boost::urls::url_view u = *parsed;
  if (u.scheme() == "rediss") throw std::invalid_argument("rediss:// (TLS) is not supported; use redis://");
  if (u.scheme() != "redis") throw std::invalid_argument("scheme must be redis://");
  if (!u.has_authority() || u.host().empty()) throw std::invalid_argument("redis URL has no host");
  if (u.has_query() || u.has_fragment()) throw std::invalid_argument("redis URL takes no query or fragment");

  redis_endpoint ep;
  // Percent-decoded: a password may hold '@' or ':' as %40 / %3A.
  ep.host = u.host_address();  // IPv6 without its brackets
  if (ep.host.empty()) throw std::invalid_argument("redis URL has no host");
  if (u.has_port()) ep.port = parse_int(u.port(), 1, 65535, "port");
  if (u.has_userinfo()) {
    ep.username = u.user();
    ep.password = u.password();
    if (!u.has_password()) {  // redis://secret@host: the lone userinfo is the password
      ep.password = std::move(ep.username);
      ep.username.clear();
    }
  }
  std::string path = u.path();
  if (!path.empty() && path != "/") {
    if (path.front() == '/') path.erase(0, 1);
    ep.db = parse_int(path, 0, 1 << 20, "database index");
  }
  return ep;
}

}  // namespace orp::state
