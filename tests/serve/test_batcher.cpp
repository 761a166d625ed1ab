// The batcher on its own, with a test double for the engine that blocks until released: packing of
// many requests' groups into one engine call under the token budget, arrival order, admission
// (a full queue refuses instead of waiting), abandoned jobs dropped, stop() finishing queued work.
// Every step is ordered by the double's gate, never by timing.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "serve/batcher.h"

using namespace synpref;
using namespace synpref::serve;

namespace {

// The engine double: score = first token of the context * 1000 + response length; each call waits
// at the gate while the gate is closed and records the groups it was given.
struct GatedEngine {
  std::mutex mu;
  std::condition_variable cv;
  bool open = true;
  int calls_started = 0;
  std::vector<std::vector<int32_t>> call_contexts;  // first context token of each group, per call

  ScoreFn fn() {
    return [this](const std::vector<model::ScoreGroup>& groups) -> Result<std::vector<std::vector<float>>> {
      std::unique_lock<std::mutex> lock(mu);
      ++calls_started;
      cv.notify_all();
      cv.wait(lock, [&] { return open; });
      std::vector<int32_t> firsts;
      std::vector<std::vector<float>> scores;
      for (const auto& g : groups) {
        firsts.push_back(g.context.empty() ? -1 : g.context[0]);
        std::vector<float> s;
        for (const auto& r : g.responses) s.push_back(float(g.context[0]) * 1000 + float(r.size()));
        scores.push_back(std::move(s));
      }
      call_contexts.push_back(std::move(firsts));
      return scores;
    };
  }
  void close_gate() {
    std::lock_guard<std::mutex> lock(mu);
    open = false;
  }
  void open_gate() {
    {
      std::lock_guard<std::mutex> lock(mu);
      open = true;
    }
    cv.notify_all();
  }
  void wait_started(int n) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return calls_started >= n; });
  }
};

// A job of `n_groups` groups, group k: context {tag + k} (plus padding to `context_tokens`) and
// `responses` responses of lengths 1, 2, ...
std::shared_ptr<Job> make_job(int32_t tag, int n_groups, int responses = 2, int context_tokens = 4) {
  auto job = std::make_shared<Job>();
  for (int k = 0; k < n_groups; ++k) {
    Group g;
    g.prefix.assign(static_cast<size_t>(context_tokens), 0);
    g.prefix[0] = tag + k;
    for (int r = 0; r < responses; ++r)
      g.suffixes.push_back(std::vector<int32_t>(static_cast<size_t>(r + 1), 7));
    job->groups.push_back(std::move(g));
  }
  job->deadline = Clock::now() + std::chrono::hours(1);
  return job;
}

}  // namespace

TEST(Batcher, ScoresComeBackPerGroupInOrder) {
  GatedEngine engine;
  Batcher batcher(engine.fn(), {.max_batch_tokens = 1000, .max_queue = 100}, nullptr);
  auto job = make_job(10, 3, 3);
  ASSERT_EQ(batcher.submit(job), Batcher::Admit::accepted);
  ASSERT_TRUE(batcher.wait(job));
  ASSERT_TRUE(job->error.is_ok());
  ASSERT_EQ(job->scores.size(), 3u);
  for (int k = 0; k < 3; ++k) {
    ASSERT_EQ(job->scores[k].size(), 3u);
    for (int r = 0; r < 3; ++r) EXPECT_EQ(job->scores[k][r], float(10 + k) * 1000 + float(r + 1));
  }
  EXPECT_EQ(batcher.queued_sequences(), 0u);
  EXPECT_EQ(batcher.queued_tokens(), 0u);
}

TEST(Batcher, RequestsQueuedDuringAnEngineCallShareTheNextOne) {
  GatedEngine engine;
  std::vector<BatchReport> reports;
  std::mutex reports_mu;
  Batcher batcher(engine.fn(), {.max_batch_tokens = 1000, .max_queue = 100}, [&](const BatchReport& r) {
    std::lock_guard<std::mutex> lock(reports_mu);
    reports.push_back(r);
  });
  engine.close_gate();
  auto first = make_job(100, 1);
  ASSERT_EQ(batcher.submit(first), Batcher::Admit::accepted);
  engine.wait_started(1);  // the worker is inside the engine with `first`
  std::vector<std::shared_ptr<Job>> jobs = {make_job(200, 2), make_job(300, 1), make_job(400, 3)};
  for (auto& j : jobs) ASSERT_EQ(batcher.submit(j), Batcher::Admit::accepted);
  EXPECT_EQ(batcher.queued_sequences(), 2u + 4u + 2u + 6u);
  engine.open_gate();
  for (auto& j : jobs) ASSERT_TRUE(batcher.wait(j));
  ASSERT_TRUE(batcher.wait(first));
  batcher.stop();
  ASSERT_EQ(engine.call_contexts.size(), 2u);
  EXPECT_EQ(engine.call_contexts[1], (std::vector<int32_t>{200, 201, 300, 400, 401, 402}));  // arrival order
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[1].requests, 3u);
  EXPECT_EQ(reports[1].groups, 6u);
  EXPECT_EQ(reports[1].sequences, 12u);
  EXPECT_EQ(reports[1].tokens, 6u * (4 + 1 + 2));
  EXPECT_EQ(jobs[2]->scores[2][1], 402.0f * 1000 + 2);
}

TEST(Batcher, TheTokenBudgetSplitsBatchesAndAnOversizedGroupRunsAlone) {
  GatedEngine engine;
  // Each group: 4 context + 1 + 2 response tokens = 7. Budget 15: two groups per call.
  Batcher batcher(engine.fn(), {.max_batch_tokens = 15, .max_queue = 1000}, nullptr);
  engine.close_gate();
  auto blocker = make_job(1, 1);
  ASSERT_EQ(batcher.submit(blocker), Batcher::Admit::accepted);
  engine.wait_started(1);
  auto small = make_job(10, 5);
  auto huge = make_job(50, 1, 2, 40);  // 43 tokens > budget
  auto after = make_job(60, 1);
  ASSERT_EQ(batcher.submit(small), Batcher::Admit::accepted);
  ASSERT_EQ(batcher.submit(huge), Batcher::Admit::accepted);
  ASSERT_EQ(batcher.submit(after), Batcher::Admit::accepted);
  engine.open_gate();
  ASSERT_TRUE(batcher.wait(after));
  batcher.stop();
  const std::vector<std::vector<int32_t>> expected = {{1}, {10, 11}, {12, 13}, {14}, {50}, {60}};
  EXPECT_EQ(engine.call_contexts, expected);
  EXPECT_EQ(huge->scores[0][1], 50.0f * 1000 + 2);
}

TEST(Batcher, AFullQueueRefusesAtOnceAndAdmitsAgainWhenDrained) {
  GatedEngine engine;
  Batcher batcher(engine.fn(), {.max_batch_tokens = 1000, .max_queue = 6}, nullptr);
  engine.close_gate();
  auto a = make_job(1, 2);  // 4 sequences
  ASSERT_EQ(batcher.submit(a), Batcher::Admit::accepted);
  engine.wait_started(1);
  auto b = make_job(2, 1);  // 2 more: exactly full
  ASSERT_EQ(batcher.submit(b), Batcher::Admit::accepted);
  auto c = make_job(3, 1, 1);  // 1 more: over
  EXPECT_EQ(batcher.submit(c), Batcher::Admit::full);
  EXPECT_EQ(batcher.queued_sequences(), 6u);
  engine.open_gate();
  ASSERT_TRUE(batcher.wait(a));
  ASSERT_TRUE(batcher.wait(b));
  EXPECT_EQ(batcher.queued_sequences(), 0u);
  EXPECT_EQ(batcher.submit(c), Batcher::Admit::accepted);
  ASSERT_TRUE(batcher.wait(c));
  EXPECT_EQ(c->scores[0][0], 3.0f * 1000 + 1);
}

TEST(Batcher, AJobPastItsDeadlineIsAbandonedAndItsGroupsAreNeverScored) {
  GatedEngine engine;
  Batcher batcher(engine.fn(), {.max_batch_tokens = 1000, .max_queue = 100}, nullptr);
  engine.close_gate();
  auto blocker = make_job(1, 1);
  ASSERT_EQ(batcher.submit(blocker), Batcher::Admit::accepted);
  engine.wait_started(1);
  auto late = make_job(70, 2);
  late->deadline = Clock::now();  // already due: wait() gives up at once
  ASSERT_EQ(batcher.submit(late), Batcher::Admit::accepted);
  auto next = make_job(80, 1);
  ASSERT_EQ(batcher.submit(next), Batcher::Admit::accepted);
  EXPECT_FALSE(batcher.wait(late));
  engine.open_gate();
  ASSERT_TRUE(batcher.wait(next));
  batcher.stop();
  const std::vector<std::vector<int32_t>> expected = {{1}, {80}};
  EXPECT_EQ(engine.call_contexts, expected);
  EXPECT_EQ(batcher.queued_sequences(), 0u);
  EXPECT_EQ(batcher.queued_tokens(), 0u);
}

TEST(Batcher, StopFinishesQueuedWorkAndThenRefuses) {
  GatedEngine engine;
  auto batcher = std::make_unique<Batcher>(engine.fn(),
                                           BatcherOptions{.max_batch_tokens = 7, .max_queue = 100}, nullptr);
  engine.close_gate();
  std::vector<std::shared_ptr<Job>> jobs;
  for (int i = 0; i < 4; ++i) {
    jobs.push_back(make_job(10 * (i + 1), 1));
    ASSERT_EQ(batcher->submit(jobs.back()), Batcher::Admit::accepted);
  }
  engine.wait_started(1);
  std::thread stopper([&] { batcher->stop(); });
  // stop() must not return before the queue is empty; opening the gate lets it finish.
  engine.open_gate();
  stopper.join();
  for (auto& j : jobs) {
    EXPECT_TRUE(j->done);
    EXPECT_EQ(j->scores[0][0], float(j->groups[0].prefix[0]) * 1000 + 1);
  }
  EXPECT_EQ(batcher->submit(make_job(99, 1)), Batcher::Admit::stopping);
}

TEST(Batcher, AnEngineErrorReachesEveryJobOfItsCall) {
  Batcher batcher(
      [](const std::vector<model::ScoreGroup>&) -> Result<std::vector<std::vector<float>>> {
        return internal_error("engine exploded");
      },
      {.max_batch_tokens = 1000, .max_queue = 100}, nullptr);
  auto job = make_job(1, 2);
  ASSERT_EQ(batcher.submit(job), Batcher::Admit::accepted);
  ASSERT_TRUE(batcher.wait(job));
  EXPECT_FALSE(job->error.is_ok());
  EXPECT_NE(job->error.message().find("engine exploded"), std::string::npos);
  EXPECT_EQ(batcher.queued_sequences(), 0u);
}
