// A fixed pool of worker threads for data-parallel loops (internal).
//
// parallel_for(n, fn) runs fn(task, thread) for task in [0, n) on the calling thread plus the
// workers and returns when all tasks finished. Tasks are claimed dynamically (an atomic counter), so
// which thread runs a task varies from run to run: kernels therefore never let a result depend on
// the thread (each output element belongs to exactly one task). `thread` in [0, n_threads()) indexes
// per-thread scratch. One parallel_for at a time (callers serialize; Model holds a mutex).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace synpref {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);  // n_threads >= 1, including the caller
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int n_threads() const { return n_threads_; }
  void parallel_for(int64_t n_tasks, const std::function<void(int64_t task, int thread)>& fn);

 private:
  void worker(int thread);
  void run_tasks(int thread);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  uint64_t generation_ = 0;
  bool stop_ = false;
  int busy_ = 0;
  const std::function<void(int64_t, int)>* fn_ = nullptr;
  int64_t n_tasks_ = 0;
  std::atomic<int64_t> next_{0};
};

}  // namespace synpref
