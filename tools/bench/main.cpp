// synpref-bench [--list] [--filter SUBSTR] [--reps N] [--param k=v]... [--json]
#include <sys/resource.h>
#include <sys/wait.h>
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

uint64_t vm_hwm_bytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return peak_rss_bytes();
}

uint64_t current_rss_bytes() {
  std::ifstream f("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

Result<std::unique_ptr<ChildProcess>> ChildProcess::start(
    const std::vector<std::string>& argv, const std::vector<std::pair<std::string, std::string>>& env) {
  if (argv.empty()) return synpref::invalid_argument("ChildProcess: empty argv");
  int to_child[2], from_child[2];
  if (pipe(to_child) != 0) return synpref::io_error("pipe failed");
  if (pipe(from_child) != 0) {
    close(to_child[0]);
    close(to_child[1]);
    return synpref::io_error("pipe failed");
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return synpref::io_error("fork failed");
  if (pid == 0) {
    dup2(to_child[0], 0);
    dup2(from_child[1], 1);
    close(to_child[0]);
    close(to_child[1]);
    close(from_child[0]);
    close(from_child[1]);
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(to_child[0]);
  close(from_child[1]);
  std::unique_ptr<ChildProcess> c(new ChildProcess());
  c->pid_ = pid;
  c->in_ = fdopen(to_child[1], "w");
  c->out_ = fdopen(from_child[0], "r");
  return c;
}

ChildProcess::~ChildProcess() {
  if (in_) std::fclose(in_);
  if (out_) std::fclose(out_);
  if (pid_ > 0) waitpid(pid_, nullptr, 0);
}

bool ChildProcess::write_line(const std::string& line) {
  return std::fputs(line.c_str(), in_) >= 0 && std::fputc('\n', in_) != EOF && std::fflush(in_) == 0;
}

bool ChildProcess::read_line(std::string* line) {
  line->clear();
  char buf[4096];
  while (std::fgets(buf, sizeof buf, out_)) {
    line->append(buf);
    if (line->back() == '\n') {
      line->pop_back();
      return true;
    }
  }
  return !line->empty();
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
