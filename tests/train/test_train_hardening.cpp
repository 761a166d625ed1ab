// Black-box tests of `synpref train` against what goes wrong in real runs: a reused or shared run
// folder, damaged checkpoints, resuming finished or never-started runs, NaN weights, SIGTERM from a
// scheduler, and logs that must show progress when stderr is a file.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "test_util.h"

using namespace synpref::testing;
namespace fs = std::filesystem;

extern char** environ;

namespace {

const std::string kTokenizer = shared_data("tokenizers/qwen3");

std::string synth(const std::string& dir, int train, int test) {
  auto r = run_synpref("--json data synth -o " + dir + " --train " + std::to_string(train) + " --test " +
                       std::to_string(test) + " --seed 1");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return dir;
}

// A tiny from-scratch Qwen3 (hidden 32, 2 layers) on synthetic pairs.
std::string tiny_args(const std::string& data, const std::string& out) {
  return "--json train --model-init preset:qwen3-tiny --hidden-size 32 --intermediate-size 64 --heads 2 "
         "--kv-heads 1 --head-dim 16 --tokenizer " +
         kTokenizer + " --data " + data + "/train.jsonl -o " + out +
         " --lr 3e-3 --batch-size 8 --micro-batch-tokens 256 --date 2025-01-01 --threads 2";
}

std::vector<nlohmann::json> train_lines(const std::string& metrics) {
  std::vector<nlohmann::json> out;
  std::ifstream in(metrics);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j["kind"] == "train") out.push_back(j);
  }
  return out;
}

// `synpref train ...` in the background (exec: the child's pid is synpref's).
pid_t spawn_train(const std::string& args, const std::string& log_prefix) {
  const std::string cmd = std::string("CI=1 exec ") + SYNPREF_BINARY + " " + args + " >" + log_prefix +
                          ".out 2>" + log_prefix + ".err";
  pid_t pid = 0;
  const char* argv[] = {"/bin/sh", "-c", cmd.c_str(), nullptr};
  if (posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ) != 0) return -1;
  return pid;
}

// Waits (up to a minute) until metrics.jsonl has a "train" line at `step` or later.
bool wait_for_step(const std::string& metrics, uint64_t step, pid_t pid) {
  for (int i = 0; i < 60000; ++i) {
    const auto lines = train_lines(metrics);
    if (!lines.empty() && lines.back()["step"].get<uint64_t>() >= step) return true;
    if (waitpid(pid, nullptr, WNOHANG) == pid) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

}  // namespace

// Issue 12.2: a new run into another run's folder kept that run's higher-numbered checkpoints and
// deleted its own, leaving `latest` naming a deleted folder. Now it is refused; --overwrite clears
// the old run (and only files a run writes).
TEST(TrainHardening, NewRunRefusesAnotherRunsFolderAndOverwriteReplacesIt) {
  const std::string tmp = temp_dir("train_hard_reuse");
  synth(tmp + "/data", 40, 8);
  const std::string out = tmp + "/run";
  auto a = run_synpref(tiny_args(tmp + "/data", out) + " --max-steps 6 --save-every 3 --keep-checkpoints 5");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  const std::string summary_a = slurp(out + "/summary.json");

  auto b = run_synpref(tiny_args(tmp + "/data", out) + " --max-steps 2 --save-every 1");
  EXPECT_NE(b.exit_code, 0);
  EXPECT_NE(b.err.find(out), std::string::npos) << b.err;
  EXPECT_NE(b.err.find("--resume"), std::string::npos) << b.err;
  EXPECT_NE(b.err.find("--overwrite"), std::string::npos) << b.err;
  EXPECT_EQ(slurp(out + "/summary.json"), summary_a) << "a refused run must not touch the folder";
  EXPECT_TRUE(fs::exists(out + "/checkpoint-6"));

  b = run_synpref(tiny_args(tmp + "/data", out) + " --max-steps 2 --save-every 1 --overwrite");
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_FALSE(fs::exists(out + "/checkpoint-6")) << "the earlier run's checkpoints are gone";
  EXPECT_FALSE(fs::exists(out + "/checkpoint-3"));
  EXPECT_EQ(slurp(out + "/latest"), "checkpoint-2\n");
  EXPECT_TRUE(fs::is_directory(out + "/checkpoint-1"));
  EXPECT_TRUE(fs::is_directory(out + "/checkpoint-2"));
  EXPECT_EQ(nlohmann::json::parse(slurp(out + "/summary.json"))["steps"], 2);

  // --overwrite deletes what a run writes, never anything else.
  spit(out + "/notes.txt", "mine");
  auto c = run_synpref(tiny_args(tmp + "/data", out) + " --max-steps 2 --overwrite");
  EXPECT_NE(c.exit_code, 0);
  EXPECT_NE(c.err.find("notes.txt"), std::string::npos) << c.err;
  EXPECT_EQ(slurp(out + "/notes.txt"), "mine");
  EXPECT_TRUE(fs::exists(out + "/summary.json"));
}

// Issue 12.3: two trainers on one folder. The second fails at once naming the holder's pid; the
// first is unharmed.
TEST(TrainHardening, SecondTrainerOnTheSameFolderFailsAtOnce) {
  const std::string tmp = temp_dir("train_hard_lock");
  synth(tmp + "/data", 200, 8);
  const std::string out = tmp + "/run";
  const pid_t first =
      spawn_train(tiny_args(tmp + "/data", out) + " --max-steps 100000 --log-every 1", tmp + "/first");
  ASSERT_GT(first, 0);
  ASSERT_TRUE(wait_for_step(out + "/metrics.jsonl", 1, first)) << slurp(tmp + "/first.err");

  auto second = run_synpref(tiny_args(tmp + "/data", out) + " --max-steps 2 --resume");
  EXPECT_NE(second.exit_code, 0);
  EXPECT_NE(second.err.find("another training run holds " + out + " (pid " + std::to_string(first) + ")"),
            std::string::npos)
      << second.err;
  // The first run is still training (its log keeps growing).
  const uint64_t seen = train_lines(out + "/metrics.jsonl").back()["step"].get<uint64_t>();
  EXPECT_TRUE(wait_for_step(out + "/metrics.jsonl", seen + 2, first)) << slurp(tmp + "/first.err");
  ::kill(first, SIGKILL);
  waitpid(first, nullptr, 0);
}

// Issue 12.4: a flipped bit in a checkpoint's weights was resumed silently. Every file of a
// checkpoint is checksummed in its training state and verified on resume.
TEST(TrainHardening, ResumeRefusesACheckpointWithAFlippedBit) {
  const std::string tmp = temp_dir("train_hard_checksum");
  synth(tmp + "/data", 40, 8);
  const std::string out = tmp + "/run";
  const std::string args = tiny_args(tmp + "/data", out) + " --max-steps 5 --save-every 2";
  auto a = run_synpref(args);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(slurp(out + "/latest"), "checkpoint-4\n");
  // Make the run look interrupted after checkpoint-4 (a kill before the end leaves no summary).
  fs::remove(out + "/summary.json");
  fs::remove_all(out + "/final");
  const std::string weights = out + "/checkpoint-4/model.safetensors";
  const std::string good = slurp(weights);
  std::string bad = good;
  bad[bad.size() - 3] ^= 0x10;  // one bit of the last tensor's data
  spit(weights, bad);
  auto r = run_synpref(args + " --resume");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("model.safetensors"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("checksum"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out + "/final"));

  spit(weights, good);  // repaired: the resume finishes the run
  r = run_synpref(args + " --resume");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["resumed_from"], 4);
  EXPECT_TRUE(fs::exists(out + "/final/model.safetensors"));
}

// Issue 12.10: --resume of a finished run exited 0 and overwrote summary.json with zeros; --resume
// without a checkpoint silently started over.
TEST(TrainHardening, ResumeOfAFinishedRunChangesNothingAndNothingToResumeIsAnError) {
  const std::string tmp = temp_dir("train_hard_finished");
  synth(tmp + "/data", 40, 8);
  const std::string out = tmp + "/run";
  const std::string args = tiny_args(tmp + "/data", out) + " --max-steps 3 --save-every 2";
  ASSERT_EQ(run_synpref(args).exit_code, 0);
  const std::string summary = slurp(out + "/summary.json"), metrics = slurp(out + "/metrics.jsonl"),
                    weights = slurp(out + "/final/model.safetensors");
  auto r = run_synpref(args + " --resume");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["already_finished"], true) << r.out;
  EXPECT_EQ(slurp(out + "/summary.json"), summary);
  EXPECT_EQ(slurp(out + "/metrics.jsonl"), metrics);
  EXPECT_TRUE(slurp(out + "/final/model.safetensors") == weights);
  r = run_synpref(args.substr(7) + " --resume");  // without --json: says so on stderr
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("already finished"), std::string::npos) << r.err;
  // Extending a finished run (other options) is refused, as for an unfinished one.
  r = run_synpref(tiny_args(tmp + "/data", out) + " --max-steps 5 --save-every 2 --resume");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("other options"), std::string::npos) << r.err;
  EXPECT_EQ(slurp(out + "/summary.json"), summary);

  r = run_synpref(tiny_args(tmp + "/data", tmp + "/never") + " --max-steps 3 --resume");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("no checkpoint to resume"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp + "/never/final"));
}

// Issue 12.10: checkpoints are saved by time by default (--save-every-seconds, 600), so a kill of a
// run started without --save-every no longer loses everything.
TEST(TrainHardening, CheckpointsAreSavedByTimeByDefault) {
  auto help = run_synpref("train --help");
  const size_t at = help.out.find("--save-every-seconds");
  ASSERT_NE(at, std::string::npos) << help.out;
  EXPECT_NE(help.out.substr(at, help.out.find('\n', at) - at).find("600"), std::string::npos) << help.out;

  const std::string tmp = temp_dir("train_hard_time");
  synth(tmp + "/data", 40, 8);
  const std::string out = tmp + "/run";
  auto r = run_synpref(tiny_args(tmp + "/data", out) + " --max-steps 3 --save-every-seconds 1e-9");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(slurp(out + "/latest"), "checkpoint-2\n");
  EXPECT_TRUE(fs::exists(out + "/checkpoint-1/training_state.bin"));
}

// Issue 12.11: NaN weights trained on with NaN loss and saved best/ and final/.
TEST(TrainHardening, NonFiniteLossIsAnErrorNamingTheStepAndSavesNothing) {
  const std::string tmp = temp_dir("train_hard_nan");
  synth(tmp + "/data", 40, 8);
  auto r = run_synpref(tiny_args(tmp + "/data", tmp + "/base") + " --max-steps 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // A model folder whose score head is NaN.
  const std::string model = tmp + "/nan-model";
  fs::copy(tmp + "/base/final", model);
  std::string bytes = slurp(model + "/model.safetensors");
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  const auto header = nlohmann::json::parse(bytes.substr(8, header_len));
  const auto offsets = header.at("score.weight").at("data_offsets");
  const float nan = std::nanf("");
  for (uint64_t o = offsets[0].get<uint64_t>(); o < offsets[1].get<uint64_t>(); o += 4)
    std::memcpy(&bytes[8 + header_len + o], &nan, 4);
  spit(model + "/model.safetensors", bytes);

  const std::string out = tmp + "/run";
  r = run_synpref("train --model-init " + model + " --tokenizer " + kTokenizer + " --data " + tmp +
                  "/data/train.jsonl --eval-data " + tmp + "/data/test.jsonl --eval-every 1 -o " + out +
                  " --batch-size 8 --max-steps 3 --save-every 1 --date 2025-01-01 --threads 2");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("not finite at step 1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("training pair"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out + "/final"));
  EXPECT_FALSE(fs::exists(out + "/best"));
  EXPECT_FALSE(fs::exists(out + "/latest"));
}

// SIGTERM (Slurm's preemption, `kill`) saves at the next step boundary and exits non-zero with how
// to continue; the resumed run ends with the uninterrupted run's weights, bit for bit.
TEST(TrainHardening, SigtermSavesAndTheResumedRunMatchesAnUninterruptedOne) {
  const std::string tmp = temp_dir("train_hard_sigterm");
  synth(tmp + "/data", 200, 8);
  const std::string common = " --max-steps 400 --log-every 4";
  auto full = run_synpref(tiny_args(tmp + "/data", tmp + "/full") + common);
  ASSERT_EQ(full.exit_code, 0) << full.err;

  const std::string out = tmp + "/stopped";
  const pid_t pid = spawn_train(tiny_args(tmp + "/data", out) + common, tmp + "/stopped");
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(wait_for_step(out + "/metrics.jsonl", 20, pid)) << slurp(tmp + "/stopped.err");
  ::kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by the signal instead of stopping cleanly";
  EXPECT_EQ(WEXITSTATUS(status), 130) << "the documented exit code for an interrupted command";
  const std::string err = slurp(tmp + "/stopped.err");
  const size_t at = err.find("stopped at step ");
  ASSERT_NE(at, std::string::npos) << err;
  const int step = std::atoi(err.c_str() + at + 16);
  EXPECT_GE(step, 20);
  ASSERT_LT(step, 400) << "the run finished before the signal; make it longer";
  EXPECT_NE(err.find("stopped at step " + std::to_string(step) + "; rerun with --resume"), std::string::npos)
      << err;
  EXPECT_EQ(slurp(out + "/latest"), "checkpoint-" + std::to_string(step) + "\n");
  EXPECT_FALSE(fs::exists(out + "/final"));

  auto resumed = run_synpref(tiny_args(tmp + "/data", out) + common + " --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(nlohmann::json::parse(resumed.out)["resumed_from"], step);
  EXPECT_TRUE(slurp(tmp + "/full/final/model.safetensors") == slurp(out + "/final/model.safetensors"))
      << "final weights differ after a SIGTERM and --resume";
  const auto a = train_lines(tmp + "/full/metrics.jsonl"), b = train_lines(out + "/metrics.jsonl");
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i]["loss"], b[i]["loss"]) << "line " << i;
}

// Under nohup or Slurm stderr is a file: a plain line every --log-every steps shows the run's
// progress (step, loss, accuracy, lr, tokens/s, ETA); --quiet silences it.
TEST(TrainHardening, PlainProgressLinesWhenStderrIsNotATerminal) {
  const std::string tmp = temp_dir("train_hard_log");
  synth(tmp + "/data", 40, 8);
  auto r = run_synpref(tiny_args(tmp + "/data", tmp + "/run") + " --max-steps 4 --log-every 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* step : {"train: step 2/4 ", "train: step 4/4 "}) {
    const size_t at = r.err.find(step);
    ASSERT_NE(at, std::string::npos) << r.err;
    const std::string line = r.err.substr(at, r.err.find('\n', at) - at);
    for (const char* field : {"loss ", "acc ", "lr ", "tok/s", "ETA "})
      EXPECT_NE(line.find(field), std::string::npos) << field << " in: " << line;
  }
  EXPECT_EQ(r.err.find("step 1/4"), std::string::npos) << "one line per --log-every steps";
  r = run_synpref("-q " + tiny_args(tmp + "/data", tmp + "/quiet") + " --max-steps 4 --log-every 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("step 2/4"), std::string::npos) << r.err;
}

// Library errors name TrainOptions fields; the CLI shows its flags.
TEST(TrainHardening, OptionErrorsNameTheFlags) {
  const std::string tmp = temp_dir("train_hard_flags");
  synth(tmp + "/data", 20, 4);
  auto r = run_synpref(tiny_args(tmp + "/data", tmp + "/run") + " --batch-size 0");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--batch-size must be at least 1"), std::string::npos) << r.err;
  r = run_synpref(tiny_args(tmp + "/data", tmp + "/run2") + " --heads 3 --kv-heads 2");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--heads (3) must be a multiple of --kv-heads (2)"), std::string::npos) << r.err;
}

// Evaluation data whose every record is rejected used to train with no evaluation at all and exit 0.
TEST(TrainHardening, EvalDataWithNoUsablePairIsAnError) {
  const std::string tmp = temp_dir("train_hard_eval_rejected");
  synth(tmp + "/data", 16, 4);
  std::ofstream(tmp + "/bad.jsonl") << "{\"chosen\": [}\nnot json\n";
  auto r = run_synpref(tiny_args(tmp + "/data", tmp + "/run") + " --max-steps 2 --eval-data " + tmp +
                       "/bad.jsonl");
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_NE(r.err.find("no usable pairs in --eval-data"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("eval.rejects.jsonl"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp + "/run/final"));
}
