#pragma once
// Request metrics for /metrics (Prometheus text format). Updated once per request, under one
// short lock; gauges that live elsewhere (connections, key states) are added at render time.
#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "log/logging.hpp"

namespace orp::admin {

class histogram {
 public:
  explicit histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}
  void observe(double v);
  // Appends the _bucket/_sum/_count lines for `name` with extra `labels` ("" or `a="b"`).
  void render(std::string& out, const std::string& name, const std::string& labels = {}) const;

 private:
  std::vector<double> bounds_;
  std::vector<std::uint64_t> counts_;
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

struct key_usage {
  std::uint64_t prompt_tokens = 0;
  std::uint64_t completion_tokens = 0;
  double cost = 0;
};

class metrics {
 public:
  metrics();
  void record(const log::access_record& r);
  // The request-derived part of /metrics.
  void render(std::string& out) const;
  // Totals for the status page: requests so far.
  std::uint64_t total_requests() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, unsigned>, std::uint64_t> requests_;  // (mode, status)
  histogram attempts_;
  histogram upstream_seconds_;
  histogram duration_seconds_;
  std::map<std::pair<std::string, std::string>, key_usage> usage_;  // by (key label, key id)
  std::uint64_t total_ = 0;
};

// Escapes a Prometheus label value.
std::string label_value(std::string_view v);

}  // namespace orp::admin
