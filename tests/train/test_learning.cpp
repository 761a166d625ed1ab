// Learning, end to end through the real binary: a tiny Qwen3 reward model trained from scratch on
// `synpref data synth` pairs reaches >= 95% held-out pair accuracy; the same run on data with 40%
// of the labels flipped is far worse on the same clean test split (the gap data curation closes).
// About a minute per run on 2 cores (docs/training.md records the curves).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_util.h"

using namespace synpref::testing;

namespace {

nlohmann::json train_on(const std::string& data, const std::string& out) {
  auto r = run_synpref(
      "--json train --model-init preset:qwen3-tiny --tokenizer " + shared_data("tokenizers/qwen3") +
      " --data " + data + "/train.jsonl --eval-data " + data + "/test.jsonl -o " + out +
      " --lr 2e-3 --batch-size 32 --epochs 3 --warmup-steps 50 --eval-every 250 --log-every 50"
      " --date 2025-01-01 --threads 2 --seed 0");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json::object();
}

}  // namespace

TEST(Learning, FromScratchReachesNinetyFivePercentAndLabelNoiseHurts) {
  const std::string tmp = temp_dir("train_learning");
  for (const auto& [name, noise] : {std::pair<std::string, std::string>{"clean", "0"}, {"noisy", "0.4"}}) {
    auto r = run_synpref("data synth -o " + tmp + "/" + name + " --train 8000 --test 1000 --seed 1 --noise " +
                         noise);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  ASSERT_EQ(slurp(tmp + "/clean/test.jsonl"), slurp(tmp + "/noisy/test.jsonl"))
      << "both runs must be judged on one clean split";
  const auto clean = train_on(tmp + "/clean", tmp + "/run_clean");
  const auto noisy = train_on(tmp + "/noisy", tmp + "/run_noisy");
  ASSERT_TRUE(clean.contains("eval_accuracy") && noisy.contains("eval_accuracy"));
  const double acc_clean = clean["eval_accuracy"].get<double>(),
               acc_noisy = noisy["eval_accuracy"].get<double>();
  EXPECT_EQ(clean["eval_pairs"], 1000);
  EXPECT_GE(acc_clean, 0.95) << clean.dump();
  for (const auto& [category, acc] : clean["eval_accuracy_by_category"].items())
    EXPECT_GE(acc.get<double>(), 0.85) << category << " is not learned: " << clean.dump();
  EXPECT_LE(acc_noisy, acc_clean - 0.10) << "40% label noise should hurt measurably: " << noisy.dump();
  EXPECT_GT(noisy["eval_loss"].get<double>(), clean["eval_loss"].get<double>());
  // The loss went down during training.
  EXPECT_LT(clean["last_loss"].get<double>(), 0.5 * clean["first_loss"].get<double>());
}
