#include "admin/metrics.hpp"

#include <fmt/format.h>

namespace orp::admin {

namespace {
const std::vector<double> kSecondsBuckets{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
}

std::string label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void histogram::observe(double v) {
  std::size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += v;
  ++count_;
}

void histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  std::string sep = labels.empty() ? "" : labels + ",";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += fmt::format("{}_bucket{{{}le=\"{}\"}} {}\n", name, sep, bounds_[i], cumulative);
  }
  cumulative += counts_.back();
  out += fmt::format("{}_bucket{{{}le=\"+Inf\"}} {}\n", name, sep, cumulative);
  std::string braces = labels.empty() ? "" : "{" + labels + "}";
  out += fmt::format("{}_sum{} {}\n{}_count{} {}\n", name, braces, sum_, name, braces, count_);
}

metrics::metrics()
    : attempts_({1, 2, 3, 4, 5, 8, 12}), upstream_seconds_(kSecondsBuckets), duration_seconds_(kSecondsBuckets) {}

void metrics::record(const log::access_record& r) {
  std::lock_guard lock(mutex_);
  ++total_;
  ++requests_[{r.mode, r.status}];
  attempts_.observe(r.attempts);
  if (r.upstream_headers_ms >= 0) upstream_seconds_.observe(r.upstream_headers_ms / 1000);
  duration_seconds_.observe(r.duration_ms / 1000);
  if (!r.key.empty() && (r.prompt_tokens || r.completion_tokens || r.cost)) {
    auto& u = usage_[{r.key, r.key_id}];
    u.prompt_tokens += static_cast<std::uint64_t>(r.prompt_tokens.value_or(0));
    u.completion_tokens += static_cast<std::uint64_t>(r.completion_tokens.value_or(0));
    u.cost += r.cost.value_or(0);
  }
}

std::uint64_t metrics::total_requests() const {
  std::lock_guard lock(mutex_);
  return total_;
}

void metrics::render(std::string& out) const {
  std::lock_guard lock(mutex_);
  out += "# HELP orp_requests_total Intercepted requests by mode and final status.\n";
  out += "# TYPE orp_requests_total counter\n";
  for (const auto& [k, n] : requests_)
    out += fmt::format("orp_requests_total{{mode=\"{}\",status=\"{}\"}} {}\n", label_value(k.first), k.second, n);
  out += "# HELP orp_request_attempts Upstream attempts per request.\n# TYPE orp_request_attempts histogram\n";
  attempts_.render(out, "orp_request_attempts");
  out += "# HELP orp_upstream_headers_seconds Time to upstream response headers.\n";
  out += "# TYPE orp_upstream_headers_seconds histogram\n";
  upstream_seconds_.render(out, "orp_upstream_headers_seconds");
  out += "# HELP orp_request_duration_seconds Whole request duration.\n# TYPE orp_request_duration_seconds histogram\n";
  duration_seconds_.render(out, "orp_request_duration_seconds");
  // Labels may repeat: the key's id keeps each series unique.
  out += "# HELP orp_tokens_total Tokens reported by usage, by key label, id and kind.\n";
  out += "# TYPE orp_tokens_total counter\n";
  for (const auto& [key, u] : usage_) {
    const std::string labels = fmt::format("key=\"{}\",id=\"{}\"", label_value(key.first), label_value(key.second));
    out += fmt::format("orp_tokens_total{{{},kind=\"prompt\"}} {}\n", labels, u.prompt_tokens);
    out += fmt::format("orp_tokens_total{{{},kind=\"completion\"}} {}\n", labels, u.completion_tokens);
  }
  out += "# HELP orp_cost_total Cost reported by usage, by key label and id.\n# TYPE orp_cost_total counter\n";
  for (const auto& [key, u] : usage_)
    out += fmt::format("orp_cost_total{{key=\"{}\",id=\"{}\"}} {}\n", label_value(key.first), label_value(key.second),
                       u.cost);
}

}  // namespace orp::admin
