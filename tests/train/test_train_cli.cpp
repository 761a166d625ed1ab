// Black-box tests of `synpref data synth` and `synpref train`: a run, resume after kill -9
// (bit-identical), option checks, and (slow) learning from scratch on clean vs. noisy synthetic data.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <cmath>
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

std::vector<nlohmann::json> read_metrics(const std::string& path, const std::string& kind) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    if (j["kind"] == kind) out.push_back(j);
  }
  return out;
}

std::string synth(const std::string& dir, int train, int test, double noise = 0.0, int seed = 1) {
  auto r = run_synpref("--json data synth -o " + dir + " --train " + std::to_string(train) + " --test " +
                       std::to_string(test) + " --noise " + std::to_string(noise) + " --seed " +
                       std::to_string(seed));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return dir;
}

// A small from-scratch run: tiny Qwen3 (hidden 32, 2 layers) on synthetic pairs.
std::string tiny_train_args(const std::string& data, const std::string& out) {
  return "--json train --model-init preset:qwen3-tiny --hidden-size 32 --intermediate-size 64 --heads 2 "
         "--kv-heads "
         "1 "
         "--head-dim 16 --tokenizer " +
         kTokenizer + " --data " + data + "/train.jsonl --eval-data " + data + "/test.jsonl -o " + out +
         " --lr 3e-3 --batch-size 8 --micro-batch-tokens 256 --date 2025-01-01";
}

}  // namespace

TEST(TrainCli, SynthWritesSplitsAndTrainProducesAScorableFolder) {
  const std::string tmp = temp_dir("train_cli_basic");
  synth(tmp + "/data", 120, 40);
  EXPECT_EQ(count_lines(slurp(tmp + "/data/train.jsonl")), 120u);
  EXPECT_EQ(count_lines(slurp(tmp + "/data/test.jsonl")), 40u);
  auto r = run_synpref(tiny_train_args(tmp + "/data", tmp + "/out") +
                       " --max-steps 6 --log-every 2 --eval-every 3 --threads 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto summary = nlohmann::json::parse(r.out);
  EXPECT_EQ(summary["steps"], 6);
  EXPECT_EQ(summary["pairs"], 120);
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"})
    EXPECT_TRUE(fs::exists(tmp + "/out/final/" + std::string(f))) << f;
  auto config = nlohmann::json::parse(slurp(tmp + "/out/final/config.json"));
  EXPECT_EQ(config["architectures"][0], "Qwen3ForSequenceClassification");
  EXPECT_EQ(config["num_labels"], 1);
  EXPECT_TRUE(config["pad_token_id"].is_number_integer());
  const auto train = read_metrics(tmp + "/out/metrics.jsonl", "train");
  ASSERT_EQ(train.size(), 3u);
  for (const char* key : {"loss", "accuracy", "margin", "chosen_mean", "chosen_std", "rejected_mean",
                          "rejected_std", "lr", "grad_norm", "tokens_per_s"})
    EXPECT_TRUE(train[0].contains(key)) << key;
  const auto evals = read_metrics(tmp + "/out/metrics.jsonl", "eval");
  ASSERT_EQ(evals.size(), 3u);  // steps 0, 3, 6
  EXPECT_EQ(evals[0]["eval_pairs"], 40);
  EXPECT_TRUE(fs::exists(tmp + "/out/best/model.safetensors"));
  // The training report page (docs/reports.md), read from this real metrics.jsonl: one point per
  // logged line in the loss chart's inline data (keeps the report's field names in step with the
  // trainer's).
  EXPECT_EQ(summary["report"], tmp + "/out/report.html");
  const std::string page = slurp(tmp + "/out/report.html");
  for (const char* id : {"loss", "accuracy", "margin", "lr", "throughput", "grad_norm"})
    EXPECT_NE(page.find("data-chart=\"" + std::string(id) + "\""), std::string::npos) << id;
  const std::string open = "data-chart=\"loss\">";
  const size_t spec_at = page.find(open) + open.size();
  const auto loss = nlohmann::json::parse(page.substr(spec_at, page.find("</script>", spec_at) - spec_at));
  int n_train = 0, n_held_out = 0;
  for (const auto& row : loss["data"]["values"]) {
    n_train += row["series"] == "train";
    n_held_out += row["series"] == "held-out";
    if (row["series"] == "train" && row["x"] == 6) {
      EXPECT_EQ(row["y"], train.back()["loss"]);
    }
  }
  EXPECT_EQ(n_train, 3);
  EXPECT_EQ(n_held_out, 3);
  auto redrawn = run_synpref("report train " + tmp + "/out -o " + tmp + "/again.html");
  ASSERT_EQ(redrawn.exit_code, 0) << redrawn.err;
  EXPECT_EQ(slurp(tmp + "/again.html"), page);
  // The inference engine loads the checkpoint; `synpref score` on the held-out pairs orders exactly
  // the pairs the trainer's last evaluation counted as correct (its scores are bitwise the trainer's).
  auto info = run_synpref("model-info " + tmp + "/out/final");
  EXPECT_EQ(info.exit_code, 0) << info.err;
  auto scored = run_synpref("score --model " + tmp + "/out/final --input " + tmp +
                            "/data/test.jsonl --output " + tmp + "/scores.jsonl --date 2025-01-01");
  ASSERT_EQ(scored.exit_code, 0) << scored.err;
  int correct = 0, total = 0;
  std::ifstream in(tmp + "/scores.jsonl");
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    correct += j["scores"][0].get<double>() > j["scores"][1].get<double>();
    ++total;
  }
  EXPECT_EQ(total, 40);
  EXPECT_EQ(correct, static_cast<int>(std::lround(evals.back()["eval_accuracy"].get<double>() * 40)));
  fs::remove_all(tmp);
}

// A tokenized shard (`synpref data tokenize`) trains exactly like the JSONL it was made from.
TEST(TrainCli, ShardInputTrainsLikeTheJsonl) {
  const std::string tmp = temp_dir("train_cli_shard");
  synth(tmp + "/data", 64, 8);
  auto tok = run_synpref("data tokenize " + tmp + "/data/train.jsonl --tokenizer " + kTokenizer + " -o " +
                         tmp + "/train.shard --date 2025-01-01");
  ASSERT_EQ(tok.exit_code, 0) << tok.err;
  const std::string common = " --max-steps 3 --log-every 1 --threads 2";
  auto a = run_synpref(tiny_train_args(tmp + "/data", tmp + "/a") + common);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  std::string args = tiny_train_args(tmp + "/data", tmp + "/b") + common;
  args.replace(args.find(tmp + "/data/train.jsonl"), (tmp + "/data/train.jsonl").size(),
               tmp + "/train.shard");
  auto b = run_synpref(args);
  ASSERT_EQ(b.exit_code, 0) << b.err;
  const auto la = read_metrics(tmp + "/a/metrics.jsonl", "train"),
             lb = read_metrics(tmp + "/b/metrics.jsonl", "train");
  ASSERT_EQ(la.size(), 3u);
  ASSERT_EQ(lb.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(la[i]["loss"], lb[i]["loss"]) << "step " << i + 1;
  EXPECT_TRUE(slurp(tmp + "/a/final/model.safetensors") == slurp(tmp + "/b/final/model.safetensors"));
  fs::remove_all(tmp);
}

TEST(TrainCli, RefusesBadOptionsWithUsefulMessages) {
  const std::string tmp = temp_dir("train_cli_errors");
  synth(tmp + "/data", 20, 5);
  auto r = run_synpref(tiny_train_args(tmp + "/data", tmp + "/out") + " --schedule zigzag");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--schedule"), std::string::npos) << r.err;
  r = run_synpref("train --model-init preset:qwen3-huge --tokenizer " + kTokenizer + " --data " + tmp +
                  "/data/train.jsonl -o " + tmp + "/o2");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("unknown preset"), std::string::npos) << r.err;
  r = run_synpref("train --model-init " + tmp + "/nope --tokenizer " + kTokenizer + " --data " + tmp +
                  "/data/train.jsonl -o " + tmp + "/o3");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("config.json"), std::string::npos) << r.err;
  // Resuming with other options is refused (the trajectory would not be the interrupted run's).
  r = run_synpref(tiny_train_args(tmp + "/data", tmp + "/o4") + " --max-steps 4 --save-every 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_synpref(tiny_train_args(tmp + "/data", tmp + "/o4") +
                  " --max-steps 4 --save-every 2 --lr 1e-2 --resume");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("other options"), std::string::npos) << r.err;
  fs::remove_all(tmp);
}

// kill -9 in the middle of a run, then --resume: the final weights are byte-identical to an
// uninterrupted run's, and so is every logged loss.
TEST(TrainCli, ResumeAfterKillNineIsBitIdentical) {
  const std::string tmp = temp_dir("train_cli_resume");
  synth(tmp + "/data", 400, 40);
  const std::string common = " --max-steps 300 --log-every 5 --save-every 10 --eval-every 50 --threads 2";
  auto full = run_synpref(tiny_train_args(tmp + "/data", tmp + "/full") + common);
  ASSERT_EQ(full.exit_code, 0) << full.err;

  // Start the same run in the background and kill it once a mid-run checkpoint exists.
  const std::string out = tmp + "/killed";
  const std::string cmd = std::string("CI=1 exec ") + SYNPREF_BINARY + " " +
                          tiny_train_args(tmp + "/data", out) + common + " >" + tmp + "/killed.out 2>" + tmp +
                          "/killed.err";
  pid_t pid = 0;
  const char* argv[] = {"/bin/sh", "-c", cmd.c_str(), nullptr};
  ASSERT_EQ(posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ), 0);
  bool killed = false;
  for (int i = 0; i < 60000 && !killed; ++i) {
    // `latest` names a checkpoint only once it is complete (it is written after the folder's rename).
    const std::string latest = fs::exists(out + "/latest") ? slurp(out + "/latest") : "";
    if (latest.rfind("checkpoint-", 0) == 0 && std::atoi(latest.c_str() + 11) >= 60) {
      ::kill(pid, SIGKILL);
      killed = true;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(killed) << "the run never completed checkpoint-60: " << slurp(tmp + "/killed.err");
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run finished before the kill; make it longer";
  ASSERT_FALSE(fs::exists(out + "/final")) << "killed runs do not reach the end";

  auto resumed = run_synpref(tiny_train_args(tmp + "/data", out) + common + " --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  auto summary = nlohmann::json::parse(resumed.out);
  EXPECT_GE(summary["resumed_from"].get<int>(), 60);
  EXPECT_LT(summary["resumed_from"].get<int>(), 300);
  EXPECT_TRUE(slurp(tmp + "/full/final/model.safetensors") == slurp(out + "/final/model.safetensors"))
      << "final weights differ after resume";
  const auto a = read_metrics(tmp + "/full/metrics.jsonl", "train");
  const auto b = read_metrics(out + "/metrics.jsonl", "train");
  ASSERT_EQ(a.size(), 60u);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    for (const char* key : {"step", "loss", "accuracy", "margin", "chosen_std", "lr", "grad_norm", "tokens"})
      EXPECT_EQ(a[i][key], b[i][key]) << key << " at line " << i;
  }
  const auto ea = read_metrics(tmp + "/full/metrics.jsonl", "eval");
  const auto eb = read_metrics(out + "/metrics.jsonl", "eval");
  ASSERT_EQ(ea.size(), eb.size());
  for (size_t i = 0; i < ea.size(); ++i) EXPECT_EQ(ea[i]["eval_loss"], eb[i]["eval_loss"]);
  fs::remove_all(tmp);
}

#ifdef SYNPREF_TEST_MPI
// Two MPI ranks with the same global batch match one process: losses within 1e-5.
TEST(TrainCli, MpiTwoRanksMatchOneProcess) {
  const std::string tmp = temp_dir("train_cli_mpi");
  synth(tmp + "/data", 200, 40);
  const std::string common = " --max-steps 20 --log-every 1 --batch-size 16";
  auto one = run_synpref(tiny_train_args(tmp + "/data", tmp + "/one") + common + " --threads 2");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const std::string cmd = std::string("CI=1 mpirun --allow-run-as-root --oversubscribe -np 2 ") +
                          SYNPREF_BINARY + " " + tiny_train_args(tmp + "/data", tmp + "/two") + common +
                          " --threads 1 >" + tmp + "/two.out 2>" + tmp + "/two.err";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << slurp(tmp + "/two.err");
  auto start = read_metrics(tmp + "/two/metrics.jsonl", "start");
  ASSERT_EQ(start.size(), 1u);
  EXPECT_EQ(start[0]["world_size"], 2);
  const auto a = read_metrics(tmp + "/one/metrics.jsonl", "train");
  const auto b = read_metrics(tmp + "/two/metrics.jsonl", "train");
  ASSERT_EQ(a.size(), 20u);
  ASSERT_EQ(b.size(), 20u);
  bool moved = false;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_NEAR(a[i]["loss"].get<double>(), b[i]["loss"].get<double>(), 1e-5) << "step " << i + 1;
    EXPECT_NEAR(a[i]["grad_norm"].get<double>(), b[i]["grad_norm"].get<double>(),
                1e-4 * a[i]["grad_norm"].get<double>());
    moved |= std::abs(a[i]["loss"].get<double>() - a[0]["loss"].get<double>()) > 1e-3;
  }
  EXPECT_TRUE(moved) << "the loss never changed: the comparison would be vacuous";
  const auto ea = read_metrics(tmp + "/one/metrics.jsonl", "eval");
  const auto eb = read_metrics(tmp + "/two/metrics.jsonl", "eval");
  ASSERT_EQ(ea.size(), eb.size());
  EXPECT_NEAR(ea.back()["eval_loss"].get<double>(), eb.back()["eval_loss"].get<double>(), 1e-5);
  fs::remove_all(tmp);
}
#endif
