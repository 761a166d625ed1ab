// synpref-bench [--list] [--filter SUBSTR] [--reps N] [--param k=v]... [--json]
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "bench.h"

namespace synpref::bench {

std::vector<Workload>& workloads() {
  static std::vector<Workload> list;
  return list;
}

uint64_t peak_rss_bytes() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<uint64_t>(ru.ru_maxrss) * 1024;
}

uint64_t current_rss_bytes() {
  std::ifstream f("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace synpref::bench

namespace {

std::string shell_line(const char* cmd) {
  std::string out;
  if (FILE* p = popen(cmd, "r")) {
    char buf[256];
    while (fgets(buf, sizeof buf, p)) out += buf;
    pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto pos = line.find(':');
      return pos == std::string::npos ? line : line.substr(pos + 2);
    }
  }
  return "unknown";
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace synpref::bench;
  CLI::App app{"synpref-bench: named benchmark workloads; prints medians with commit and hardware"};
  bool list = false, json = false;
  std::string filter;
  int reps = 0;
  std::vector<std::string> params;
  app.add_flag("--list", list, "List workloads and exit");
  app.add_option("--filter", filter, "Run workloads whose name contains this");
  app.add_option("--reps", reps, "Repetitions (default: per workload)");
  app.add_option("--param", params, "Workload parameter key=value (repeatable)");
  app.add_flag("--json", json, "Print results as JSON");
  CLI11_PARSE(app, argc, argv);

  auto all = workloads();
  std::sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.name < b.name; });
  if (list) {
    for (auto& w : all) std::printf("%-28s %s\n", w.name.c_str(), w.description.c_str());
    return 0;
  }
  Context ctx;
  for (auto& p : params) {
    auto eq = p.find('=');
    if (eq == std::string::npos) {
      std::fprintf(stderr, "synpref-bench: --param expects key=value, got '%s'\n", p.c_str());
      return 2;
    }
    ctx.params[p.substr(0, eq)] = p.substr(eq + 1);
  }
  std::string commit = shell_line("git rev-parse --short HEAD 2>/dev/null");
  if (!shell_line("git status --porcelain --untracked-files=no 2>/dev/null").empty()) commit += "+dirty";
  const std::string hardware =
      cpu_model() + ", " + std::to_string(std::thread::hardware_concurrency()) + " threads";
  if (!json) std::printf("# synpref-bench  commit %s  hardware: %s\n", commit.c_str(), hardware.c_str());

  nlohmann::json report = {
      {"commit", commit}, {"hardware", hardware}, {"workloads", nlohmann::json::array()}};
  int failures = 0, ran = 0;
  for (auto& w : all) {
    if (!filter.empty() && w.name.find(filter) == std::string::npos) continue;
    ++ran;
    auto run = w.setup(ctx);
    if (!run) {
      std::fprintf(stderr, "%s: setup failed: %s\n", w.name.c_str(), run.status().message().c_str());
      ++failures;
      continue;
    }
    int n_reps = reps > 0 ? reps : w.default_reps;
    std::vector<std::vector<Metric>> samples;
    bool ok = true;
    for (int rep = -w.warmup_reps; rep < n_reps; ++rep) {  // negative reps are warm-ups
      auto m = (*run)();
      if (!m) {
        std::fprintf(stderr, "%s: run failed: %s\n", w.name.c_str(), m.status().message().c_str());
        ok = false;
        break;
      }
      if (rep >= 0) samples.push_back(*m);
    }
    if (!ok || samples.empty()) {
      ++failures;
      continue;
    }
    nlohmann::json jw = {{"name", w.name}, {"reps", n_reps}, {"metrics", nlohmann::json::array()}};
    if (!json) std::printf("\n%s (%d reps): %s\n", w.name.c_str(), n_reps, w.description.c_str());
    for (size_t k = 0; k < samples[0].size(); ++k) {
      std::vector<double> values;
      for (auto& s : samples) values.push_back(s[k].value);
      double med = median(values);
      double lo = *std::min_element(values.begin(), values.end());
      double hi = *std::max_element(values.begin(), values.end());
      const Metric& m = samples[0][k];
      if (!json) {
        std::printf("  %-40s median %12.3f %-8s (min %.3f, max %.3f)\n", m.name.c_str(), med, m.unit.c_str(),
                    lo, hi);
      }
      jw["metrics"].push_back(
          {{"name", m.name}, {"unit", m.unit}, {"median", med}, {"min", lo}, {"max", hi}});
    }
    report["workloads"].push_back(jw);
  }
  if (json) std::printf("%s\n", report.dump(2).c_str());
  if (ran == 0) {
    std::fprintf(stderr, "synpref-bench: no workload matches '%s' (see --list)\n", filter.c_str());
    return 2;
  }
  return failures == 0 ? 0 : 1;
}
