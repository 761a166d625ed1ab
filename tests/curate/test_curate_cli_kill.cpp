// kill -9 at random points: `synpref curate init` and `synpref curate export` are killed with
// SIGKILL at random moments (fixed seed), rerun, and must end exactly where an uninterrupted run
// ends: the same db content (every table, timestamps aside), the same shards, rejects and config,
// and an export that is either absent or complete, never partial.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>

#include "synpref/curate/project.h"
#include "test_project_util.h"

using namespace synpref;
using namespace synpref::testing;
using Clock = std::chrono::steady_clock;

namespace {

pid_t spawn_synpref(const std::vector<std::string>& args) {
  std::fflush(stdout);  // else the child's freopen flushes our buffered output a second time
  pid_t pid = fork();
  if (pid == 0) {
    FILE* null_out = std::freopen("/dev/null", "w", stdout);
    FILE* null_err = std::freopen("/dev/null", "w", stderr);
    (void)null_out;
    (void)null_err;
    setenv("CI", "1", 1);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(SYNPREF_BINARY));
    for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    execv(SYNPREF_BINARY, argv.data());
    _exit(127);
  }
  return pid;
}

int run_to_end(const std::vector<std::string>& args) {
  int status = 0;
  waitpid(spawn_synpref(args), &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Starts the command, kills it after `delay`; true when the kill interrupted it (it was running).
bool kill_after(const std::vector<std::string>& args, std::chrono::microseconds delay) {
  pid_t pid = spawn_synpref(args);
  std::this_thread::sleep_for(delay);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

std::vector<std::string> init_args(const std::string& dir, const std::string& pool) {
  return {"curate", "init", dir, "--pool", pool, "--shard-records", "400", "-q"};
}

}  // namespace

TEST(CurateKill, InitKilledAtRandomPointsEndsLikeAnUninterruptedRun) {
  TempDir tmp;
  std::string pool = tmp.file("pool.jsonl");
  spit(pool, make_pool(20000));
  auto start = Clock::now();
  ASSERT_EQ(run_to_end(init_args(tmp.file("reference"), pool)), 0);
  auto full = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
  std::printf("uninterrupted init: %.2f s\n", full.count() / 1e6);
  std::string reference = dump_project(tmp.file("reference"));

  std::mt19937_64 rng(20261205);
  int iterations = 0, interrupted = 0;
  auto loop_start = Clock::now();
  while (iterations < 15 && (iterations < 5 || Clock::now() - loop_start < std::chrono::seconds(60))) {
    std::string dir = tmp.file("run" + std::to_string(iterations));
    int kills = 1 + static_cast<int>(rng() % 3);
    for (int kill_idx = 0; kill_idx < kills; ++kill_idx) {
      // Within the first 3/4 of a full run's time, so that most kills land mid-run even when
      // later runs go faster than the measured one.
      std::chrono::microseconds delay(
          static_cast<int64_t>(rng() % static_cast<uint64_t>(full.count() * 3 / 4 + 1)));
      interrupted += kill_after(init_args(dir, pool), delay);
    }
    ASSERT_EQ(run_to_end(init_args(dir, pool)), 0) << "iteration " << iterations;
    ASSERT_EQ(first_difference(dump_project(dir), reference), "")
        << "iteration " << iterations << " (" << kills << " kills)";
    ++iterations;
  }
  std::printf("%d iterations, %d runs killed while running\n", iterations, interrupted);
  EXPECT_GT(interrupted, iterations / 2);  // the kills did land mid-run
}

TEST(CurateKill, ExportKilledAtRandomPointsLeavesNoPartialFile) {
  TempDir tmp;
  std::string pool = tmp.file("pool.jsonl");
  spit(pool, make_pool(20000));
  ASSERT_EQ(run_to_end(init_args(tmp.file("p"), pool)), 0);
  {
    auto project = curate::Project::open(tmp.file("p"));
    ASSERT_TRUE(project.is_ok());
    std::vector<std::string> ids;
    ASSERT_TRUE((*project)
                    ->for_each_pair([&](int64_t row, const data::Record& r) {
                      if (row % 2 == 0) ids.push_back(r.id);
                      return Status::ok();
                    })
                    .is_ok());
    ASSERT_TRUE((*project)->set_membership(ids, "silver", true).is_ok());
  }
  std::vector<std::string> args = {"curate", "export", tmp.file("p"),        "--set",
                                   "silver", "-o",     tmp.file("out.jsonl")};
  auto start = Clock::now();
  ASSERT_EQ(run_to_end(args), 0);
  auto full = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
  std::string reference = slurp(tmp.file("out.jsonl"));
  ASSERT_EQ(count_lines(reference), 10000u);
  std::mt19937_64 rng(7);
  for (int iteration = 0; iteration < 10; ++iteration) {
    std::string out = tmp.file("out" + std::to_string(iteration) + ".jsonl");
    args.back() = out;
    std::chrono::microseconds delay(static_cast<int64_t>(rng() % static_cast<uint64_t>(full.count() + 1)));
    bool interrupted = kill_after(args, delay);
    if (std::filesystem::exists(out)) {
      EXPECT_EQ(first_difference(slurp(out), reference), "") << "iteration " << iteration;
    }
    if (!interrupted) {
      EXPECT_TRUE(std::filesystem::exists(out));
    }
    ASSERT_EQ(run_to_end(args), 0);
    EXPECT_EQ(first_difference(slurp(out), reference), "");
  }
}
