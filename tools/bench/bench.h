// tools/bench/bench.h: synpref-bench, one benchmark tool with named workloads.
//
// A workload's setup() prepares inputs (generated data, models) once and returns a function that
// runs one repetition and reports metrics in domain units (MB/s, pairs/s, tokens/s, MiB). The
// runner does a warm-up, repeats, and prints medians (and min/max) with commit and hardware.
// Peers measured side by side are just more metrics of the same repetition (e.g. "tiktoken MB/s").
#pragma once

#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "synpref/common/status.h"

namespace synpref::bench {

struct Metric {
  std::string name;
  double value;
  std::string unit;
  bool higher_is_better = true;
};

struct Context {
  std::map<std::string, std::string> params;  // from --param key=value
  double param(const std::string& key, double fallback) const {
    auto it = params.find(key);
    return it == params.end() ? fallback : std::stod(it->second);
  }
  std::string param_str(const std::string& key, const std::string& fallback) const {
    auto it = params.find(key);
    return it == params.end() ? fallback : it->second;
  }
};

using RunOnce = std::function<Result<std::vector<Metric>>()>;

struct Workload {
  std::string name;
  std::string description;
  std::function<Result<RunOnce>(Context&)> setup;
  int default_reps = 5;
  int warmup_reps = 1;  // unmeasured runs first (0 for runs long enough to need none)
};

std::vector<Workload>& workloads();

struct AutoRegister {
  explicit AutoRegister(Workload w) { workloads().push_back(std::move(w)); }
};

// A peer program (PyTorch, llama.cpp) run as a child process and spoken to in lines over its
// stdin/stdout, for side-by-side measurements in the same repetition.
class ChildProcess {
 public:
  // argv[0] is looked up on PATH unless it contains '/'; env: variables set in the child only.
  static Result<std::unique_ptr<ChildProcess>> start(
      const std::vector<std::string>& argv, const std::vector<std::pair<std::string, std::string>>& env = {});
  ~ChildProcess();  // closes its stdin (the peer sees end of file and exits), then waits for it
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  bool write_line(const std::string& line);  // appends '\n' and flushes; false when the peer is gone
  bool read_line(std::string* line);         // one line of any length, without '\n'; false at end

 private:
  ChildProcess() = default;
  int pid_ = -1;
  std::FILE* in_ = nullptr;
  std::FILE* out_ = nullptr;
};

// Peak resident set size of this process so far, in bytes (getrusage).
uint64_t peak_rss_bytes();
// The kernel's peak RSS (VmHWM in /proc/self/status; resettable through /proc/self/clear_refs),
// falling back to peak_rss_bytes().
uint64_t vm_hwm_bytes();
// Current resident set size, in bytes (/proc/self/statm).
uint64_t current_rss_bytes();

}  // namespace synpref::bench

#define SYNPREF_BENCH_CONCAT_INNER(a, b) a##b
#define SYNPREF_BENCH_CONCAT(a, b) SYNPREF_BENCH_CONCAT_INNER(a, b)
#define SYNPREF_WORKLOAD(...)                                 \
  static ::synpref::bench::AutoRegister SYNPREF_BENCH_CONCAT( \
      synpref_workload_, __LINE__)(::synpref::bench::Workload{__VA_ARGS__})
