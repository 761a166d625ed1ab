// Dynamic batching across requests (see batcher.h).
#include "serve/batcher.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

namespace synpref::serve {

uint64_t Group::tokens() const {
  uint64_t n = prefix.size();
  for (const auto& s : suffixes) n += s.size();
  return n;
}

uint64_t Job::sequences() const {
  uint64_t n = 0;
  for (const Group& g : groups) n += g.suffixes.size();
  return n;
}

Batcher::Batcher(ScoreFn score, BatcherOptions options, std::function<void(const BatchReport&)> on_batch)
    : score_(std::move(score)), options_(options), on_batch_(std::move(on_batch)) {
  worker_ = std::thread([this] { work(); });
}

Batcher::~Batcher() {
  stop();
}

Batcher::Admit Batcher::submit(const std::shared_ptr<Job>& job) {
  const uint64_t sequences = job->sequences();
  uint64_t tokens = 0;
  for (const Group& g : job->groups) tokens += g.tokens();
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return Admit::stopping;
  if (queued_sequences_ + sequences > static_cast<uint64_t>(options_.max_queue)) return Admit::full;
  job->scores.resize(job->groups.size());
  queued_sequences_ += sequences;
  queued_tokens_ += tokens;
  if (job->groups.empty()) {
    job->done = true;
    return Admit::accepted;
  }
  queue_.push_back(job);
  work_cv_.notify_one();
  return Admit::accepted;
}

bool Batcher::wait(const std::shared_ptr<Job>& job) {
  std::unique_lock<std::mutex> lock(mu_);
  if (done_cv_.wait_until(lock, job->deadline, [&] { return job->done; })) return true;
  job->abandoned = true;  // the worker drops its unscheduled groups
  return false;
}

void Batcher::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

uint64_t Batcher::queued_sequences() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queued_sequences_;
}

uint64_t Batcher::queued_tokens() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queued_tokens_;
}

void Batcher::release(const Job& job, size_t from_group) {
  for (size_t g = from_group; g < job.groups.size(); ++g) {
    queued_sequences_ -= job.groups[g].suffixes.size();
    queued_tokens_ -= job.groups[g].tokens();
  }
}

void Batcher::take_batch(std::vector<std::pair<std::shared_ptr<Job>, size_t>>& batch) {
  const auto budget = static_cast<uint64_t>(std::max<int64_t>(1, options_.max_batch_tokens));
  uint64_t tokens = 0;
  while (!queue_.empty()) {
    const std::shared_ptr<Job>& job = queue_.front();
    if (job->abandoned) {  // its caller has gone: drop what was not started (groups in flight
                           // finish and are discarded)
      release(*job, job->next_group);
      job->next_group = job->groups.size();
      queue_.pop_front();
      continue;
    }
    while (job->next_group < job->groups.size()) {
      const uint64_t t = job->groups[job->next_group].tokens();
      if (!batch.empty() && tokens + t > budget) return;  // the batch is full
      batch.emplace_back(job, job->next_group++);
      tokens += t;
    }
    queue_.pop_front();
  }
}

void Batcher::work() {
  std::vector<std::pair<std::shared_ptr<Job>, size_t>> batch;
  std::vector<model::ScoreGroup> groups;
  for (;;) {
    batch.clear();
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and nothing left
      take_batch(batch);
    }
    if (batch.empty()) continue;
    groups.clear();
    BatchReport report;
    std::unordered_set<const Job*> requests;
    for (const auto& [job, g] : batch) {
      const Group& group = job->groups[g];
      model::ScoreGroup sg{group.prefix, {}};
      for (const auto& s : group.suffixes) sg.responses.push_back(s);
      groups.push_back(std::move(sg));
      report.sequences += group.suffixes.size();
      report.tokens += group.tokens();
      requests.insert(job.get());
    }
    report.groups = groups.size();
    report.requests = requests.size();
    const auto t0 = Clock::now();
    auto scored = score_(groups);
    report.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (size_t i = 0; i < batch.size(); ++i) {
        auto& [job, g] = batch[i];
        if (scored.is_ok()) {
          job->scores[g] = std::move((*scored)[i]);
        } else if (job->error.is_ok()) {
          job->error = scored.status();
        }
        queued_sequences_ -= job->groups[g].suffixes.size();
        queued_tokens_ -= job->groups[g].tokens();
        if (++job->groups_done == job->groups.size()) job->done = true;
      }
    }
    done_cv_.notify_all();
    if (on_batch_) on_batch_(report);
  }
}

}  // namespace synpref::serve
