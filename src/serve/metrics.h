// src/serve/metrics.h: the reward server's counters and histograms, rendered in the Prometheus
// text exposition format (version 0.0.4) for GET /metrics.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "serve/batcher.h"

namespace synpref::serve {

// Cumulative buckets as Prometheus defines them: counts[i] = observations <= bounds[i].
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size(), 0) {}
  void observe(double value);
  // Appends the _bucket/_sum/_count lines of `name` with extra `labels` (e.g. endpoint="/x").
  void render(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  double sum_ = 0;
};

class Metrics {
 public:
  Metrics();
  void on_request(const std::string& endpoint, int status, double seconds);
  void on_queue_wait(double seconds);
  void on_batch(const BatchReport& report);
  // The exposition text; the queue gauges are read by the caller (they live in the batcher).
  std::string render(uint64_t queue_sequences, uint64_t queue_tokens) const;

  struct Totals {
    uint64_t requests = 0, rejected_full = 0, timed_out = 0, batches = 0, sequences = 0, tokens = 0,
             max_batch_requests = 0;
  };
  Totals totals() const;
  double tokens_per_second() const;  // over the last 10 s of batches

 private:
  double recent_tokens_per_second() const;  // the same, with mu_ held

  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;  // (endpoint, status) -> count
  std::map<std::string, Histogram> request_seconds_;          // per endpoint
  Histogram queue_wait_seconds_, batch_sequences_, batch_tokens_, batch_requests_;
  Totals totals_;
  double engine_seconds_ = 0;
  mutable std::deque<std::pair<Clock::time_point, uint64_t>> recent_;  // (end of batch, tokens)
};

}  // namespace synpref::serve
