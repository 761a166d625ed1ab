// src/serve/batcher.h: dynamic batching of scoring work across concurrent requests.
//
// Each request submits its groups (a shared prefix and the responses that continue it) as one Job.
// One worker thread takes groups from the queue in arrival order, packs groups of many requests
// into one engine call of at most `max_batch_tokens` rows (a group larger than that runs alone),
// scores them and hands each request its scores when its last group is done. The engine is
// batch-invariant, so a score never depends on which requests it was batched with.
//
// Admission is decided at submit(): a job whose sequences would push the queue past `max_queue`
// is refused (the caller answers 429) instead of waiting. A job whose deadline passes is abandoned:
// its caller stops waiting and its unscheduled groups are dropped.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "synpref/common/status.h"
#include "synpref/model/model.h"

namespace synpref::serve {

// One prefix and its continuations: scores[i] is the score of prefix + suffixes[i].
struct Group {
  std::vector<int32_t> prefix;
  std::vector<std::vector<int32_t>> suffixes;
  uint64_t tokens() const;  // prefix once plus every suffix
};

using Clock = std::chrono::steady_clock;

// One request's work. Created by the caller, filled in by the worker.
struct Job {
  std::vector<Group> groups;
  Clock::time_point deadline;
  // Written by the worker under the batcher's lock.
  std::vector<std::vector<float>> scores;  // per group
  size_t next_group = 0;                   // first group not yet taken into a batch
  size_t groups_done = 0;
  Status error;
  bool done = false;
  bool abandoned = false;  // the caller stopped waiting (deadline passed)
  uint64_t sequences() const;
};

// What the worker did in one engine call, for metrics.
struct BatchReport {
  uint64_t groups = 0, sequences = 0, tokens = 0, requests = 0;
  double seconds = 0;
};

// The engine call: result[g][i] is the score of groups[g].context + groups[g].responses[i]
// (model::Model::score_groups in the server; a test double in tests). Called from the worker only.
using ScoreFn =
    std::function<Result<std::vector<std::vector<float>>>(const std::vector<model::ScoreGroup>& groups)>;

struct BatcherOptions {
  int64_t max_batch_tokens = 4096;  // rows per engine call
  int64_t max_queue = 4096;         // sequences queued or being scored
};

class Batcher {
 public:
  enum class Admit { accepted, full, stopping };

  // `on_batch` (may be empty) runs on the worker after each engine call.
  Batcher(ScoreFn score, BatcherOptions options, std::function<void(const BatchReport&)> on_batch);
  ~Batcher();  // stops the worker after the queue is empty
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Queues `job` unless the queue cannot take its sequences (full) or stop() was called.
  Admit submit(const std::shared_ptr<Job>& job);
  // Waits until the job is done (true) or its deadline passes (false: the job is abandoned).
  bool wait(const std::shared_ptr<Job>& job);
  // Finishes every queued job, then ends the worker. Idempotent.
  void stop();

  // Sequences and tokens queued or being scored.
  uint64_t queued_sequences() const;
  uint64_t queued_tokens() const;

 private:
  void work();
  // Takes groups from the queue front up to the token budget (under mu_).
  void take_batch(std::vector<std::pair<std::shared_ptr<Job>, size_t>>& batch);
  void release(const Job& job, size_t from_group);  // forget the counts of groups [from_group, end)

  ScoreFn score_;
  BatcherOptions options_;
  std::function<void(const BatchReport&)> on_batch_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  std::deque<std::shared_ptr<Job>> queue_;  // jobs with groups not yet taken
  uint64_t queued_sequences_ = 0, queued_tokens_ = 0;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace synpref::serve
