#pragma once
// How many bytes of request bodies the proxy holds at once, all connections together. A body is
// held whole until its request is answered (a retry sends it again), so each may be as large as
// proxy.max_request_body; without a common cap, a few dozen clients sending large bodies slowly
// hold gigabytes. Past the cap a request is refused with 503 and the proxy keeps serving.
#include <atomic>
#include <cstdint>
#include <utility>

namespace orp::proxy {

class body_budget {
 public:
  explicit body_budget(std::uint64_t limit) : limit_(limit) {}
  body_budget(const body_budget&) = delete;
  body_budget& operator=(const body_budget&) = delete;

  // One request's share; gives it back when released or destroyed.
  class lease {
   public:
    explicit lease(body_budget& budget) : budget_(&budget) {}
    lease(lease&& other) noexcept : budget_(other.budget_), held_(std::exchange(other.held_, 0)) {}
    lease& operator=(lease&&) = delete;
    lease(const lease&) = delete;
    ~lease() { release(); }

    // The body has grown to `bytes`: false when that would take the total past the limit (the
    // share stays as it was).
    bool grow_to(std::uint64_t bytes) {
      if (bytes <= held_) return true;
      const std::uint64_t more = bytes - held_;
      const std::uint64_t before = budget_->used_.fetch_add(more, std::memory_order_relaxed);
      if (before + more > budget_->limit_) {
        budget_->used_.fetch_sub(more, std::memory_order_relaxed);
        budget_->refusals_.fetch_add(1, std::memory_order_relaxed);
        return false;
      }
      held_ = bytes;
      return true;
    }
    void release() {
      if (held_ == 0) return;
      budget_->used_.fetch_sub(std::exchange(held_, 0), std::memory_order_relaxed);
    }
    std::uint64_t held() const { return held_; }

   private:
    body_budget* budget_;
    std::uint64_t held_ = 0;
  };

  // At start-up, before any lease is taken.
  void set_limit(std::uint64_t limit) { limit_ = limit; }
  std::uint64_t limit() const { return limit_; }
  std::uint64_t in_use() const { return used_.load(std::memory_order_relaxed); }
  std::uint64_t refusals() const { return refusals_.load(std::memory_order_relaxed); }

 private:
  std::uint64_t limit_;
  std::atomic<std::uint64_t> used_{0};
  std::atomic<std::uint64_t> refusals_{0};
};

}  // namespace orp::proxy
