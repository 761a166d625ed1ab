// synpref/curate/study.h: the curation study of the report in small (`synpref demo`, part 3):
// Fig. 7 (held-out accuracy per curation stage for RMs trained on the raw pool, the curated set,
// and the curated set plus its flipped discards) and Fig. 8 (the ablation: no curation / LLM labels
// only / + human gold / + adaptive retrieval), on a `data synth` pool with planted label noise,
// with judge-sim judges over HTTP and simulated annotators on a small gold budget.
//
// The steps, in order (each resumable; a rerun after a kill continues where it stopped):
//   1. pool: data synth train pairs with `noise` flipped labels concentrated in
//      `noise_categories`, and a clean held-out test set; a BPE tokenizer learned from the pool;
//   2. project init; attributes of every pair from the first judge;
//   3. seed: `seed_pairs` random pairs labeled by the judges before any human gold exists
//      (the "LLM labels only" set: the judge-agreed ones);
//   4. gold: simulated annotators shown `gold_budget` random other pairs; decided verdicts imported,
//      cannot-determine ones discarded;
//   5. stage 1: `rounds` rounds (round.h), the silver set and the judge-rejected pairs recorded after
//      each;
//   6. stage 2: best RM = trained on stage 1's curated set, gold RM = it fine-tuned on the gold set; the
//      consistency filter over the whole pool (LLM labels asked for the undecided pairs);
//   7. evaluation RMs, all with the same recipe (`rm`) trained from scratch and scored on the test
//      set: per stage, raw (a random raw subset of the curated set's size), curated (silver or kept
//      pairs plus gold, oriented by humans; at stage 2, stage 1's silver plus the pairs stage 2
//      keeps) and curated + flipped discards; and the ablation RMs.
//      `eval_seeds` RMs per set (training seeds); a test pair's outcome is the share of them that
//      rank it right. Accuracies carry percentile bootstrap 95% intervals over the test pairs.
// Files: DIR/pool.jsonl, test.jsonl, flipped.txt, tokenizer/, project/ (the curation project),
// sets/*.ids, eval/<name>/ (each RM and its result.json), study.json (the results).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "synpref/common/status.h"
#include "synpref/curate/gold.h"
#include "synpref/curate/round.h"
#include "synpref/data/synthetic.h"
#include "synpref/judge/client.h"
#include "synpref/train/trainer.h"

namespace synpref::curate {

struct StudyOptions {
  std::string dir;
  uint64_t pool_pairs = 2000, test_pairs = 400, seed = 1;
  double noise = 0.4;
  std::vector<std::string> noise_categories = {"math", "sorting", "safety"};
  int64_t seed_pairs = 300;
  int64_t gold_budget = 150;
  std::vector<SimAnnotator> annotators = {{"annotator-1", 0.95, 0.05}, {"annotator-2", 0.9, 0.08}};
  int rounds = 2;
  int k_max = 8;
  int judge_samples = 1;  // samples per judge per pair
  // The recipe of every RM (rounds, gold fine-tune, evaluation): model_init, shape, lr, steps,
  // batch, threads. data, eval_data, out_dir and tokenizer_dir are set by the study.
  train::TrainOptions rm;
  uint64_t gold_finetune_steps = 150;
  int bootstrap = 1000;
  int eval_seeds = 2;  // evaluation RMs per set (training seeds), their outcomes averaged per test pair
};

// The synth options of the study's pool (what a judge-sim serving it must be given).
data::SynthOptions study_synth_options(const StudyOptions& options);
// The study's defaults for `rm`: a tiny Qwen3-shaped RM from scratch (2 layers, hidden 64).
train::TrainOptions default_study_rm();

struct HeldOut {
  std::string name;         // the RM (eval/<name>)
  int64_t train_pairs = 0;  // pairs it was trained on
  int64_t train_noisy = 0;  // of those, with the wrong orientation (known from the synth truth)
  int64_t test_pairs = 0;
  double accuracy = 0, lo = 0, hi = 0;  // 95% percentile bootstrap interval
  std::map<std::string, double> by_category;
};

struct StudyResult {
  int64_t pool_pairs = 0, pool_flipped = 0, test_pairs = 0;
  std::map<std::string, int64_t> flipped_by_category;
  AnnotationSimSummary gold;
  int64_t gold_imported = 0;
  std::vector<RoundSummary> rounds;  // as recorded in each round's summary.json
  int64_t stage2_kept = 0, stage2_dropped = 0, stage2_llm_labeled = 0;
  std::vector<std::string> stages;          // Fig. 7 x axis
  std::vector<std::string> variants;        // "raw", "curated", "curated + flipped"
  std::vector<std::vector<HeldOut>> fig7;   // [variant][stage]
  std::vector<std::string> ablation_steps;  // Fig. 8 x axis
  std::vector<HeldOut> ablation;
  double seconds = 0;
  std::string report_path;  // DIR/report.html
};

using StudyProgress = std::function<void(const std::string& line)>;

// Runs (or resumes) the study with `judges` (an OpenAI-compatible client whose first endpoint
// also answers attribute requests) and writes DIR/study.json and DIR/report.html.
Result<StudyResult> run_study(const StudyOptions& options, judge::Client& judges,
                              const StudyProgress& progress = {});

}  // namespace synpref::curate
