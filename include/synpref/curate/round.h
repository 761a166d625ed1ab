// synpref/curate/round.h: one stage-1 round of the human-in-the-loop loop (report section 3.2,
// `synpref curate round`):
//
//   1. train a reward model on the silver set (train::run_training, in process), evaluating it on
//      the gold set (each pair oriented by its human verdict) and keeping the checkpoint with the
//      best gold accuracy;
//   2. score every gold pair: p = sigmoid(r_preferred - r_other) (preferred = the human's choice);
//   3. retrieve, for each gold pair, the k nearest unlabeled pool pairs of (conversation,
//      attributes) (retrieval.h), k = k_max if p <= 0.5, else ceil(k_max * (1 - p));
//   4. label them with the gold-guided judges (run_label_step); pairs the judges agree with join
//      the silver set;
//   5. record the round: gold accuracy, weaknesses per task category and per attribute
//      (objectivity, controversiality), what was retrieved and added, in the project's rounds
//      table, DIR/rounds/<stage>-round-<N>/summary.json and DIR/rounds/.../retrieval.jsonl.
//
// Resumability: round N is done when the step marker "<stage>/round-<N>" is set; a rerun of a
// killed round resumes its training (train resume), rescoring is deterministic, the retrieved
// targets are stored in the project config ("<stage>/round-<N>/targets") before any is labeled and
// reused by the rerun, and labeling skips pairs already labeled (judge answers from the cache). So
// a killed round, rerun, completes with the same targets and adds nothing twice.
// Library code: no printing; progress goes through the callback.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "synpref/common/status.h"
#include "synpref/curate/project.h"
#include "synpref/curate/retrieval.h"
#include "synpref/curate/steps.h"
#include "synpref/judge/client.h"
#include "synpref/train/trainer.h"

namespace synpref::curate {

struct RoundOptions {
  // The RM recipe (model_init, tokenizer_dir, shape, lr, steps, threads, ...). The round sets
  // data (the silver set), eval_data (the gold set), out_dir, best_metric = eval_accuracy; an
  // eval_every of 0 becomes max_steps / 10 (at least 1) so that a checkpoint can be chosen.
  train::TrainOptions train;
  LabelStepOptions label;        // judges, samples, aggregation (targets are set by the round)
  std::string embedding = "rm";  // "rm": the round's RM pooled hidden state; "endpoint"
  EmbeddingEndpointOptions endpoint;
  IndexOptions index;
  int k_max = 8;                 // neighbours of a gold pair the RM gets wrong (>= 1)
  std::string stage = "stage1";  // names the round folders, markers and rounds rows
  // When the silver set is empty: label this many pool pairs first (chosen by a seeded hash of
  // their ids, gold pairs excluded) to start from. 0 = an empty silver set is an error.
  int64_t seed_pairs = 0;
  uint64_t seed = 0;
};

// Gold accuracy of one slice (a task category, an objectivity or a controversiality value).
struct Weakness {
  std::string field;  // "task_category" | "objectivity" | "controversiality"
  std::string value;  // "" = pairs without attributes
  int64_t gold = 0, correct = 0;
  double accuracy = 0, mean_p = 0;
};

struct RoundSummary {
  int round = 0;              // 1-based, per stage
  bool already_done = false;  // nothing left to do (all rounds requested are done)
  std::string rm_name, rm_dir;
  uint64_t rm_step = 0;  // the chosen checkpoint's step
  int64_t seed_labeled = 0;
  int64_t silver_before = 0, silver_after = 0;
  int64_t gold_pairs = 0, gold_correct = 0;  // gold pairs with a +-1 human verdict
  double gold_accuracy = 0;
  std::vector<Weakness> weaknesses;  // worst first within each field
  int64_t queries_wrong = 0;         // gold pairs with p <= 0.5
  int64_t retrieved = 0;             // distinct pairs retrieved (the label targets)
  std::map<std::string, int64_t> retrieved_by_category;
  std::string index_kind;
  int64_t index_size = 0;
  LabelStepSummary label;
  std::string summary_path, retrieval_path;
};

// The summary as the JSON object written to the round's summary.json (and printed by
// `synpref curate round --json`).
std::string round_summary_json(const RoundSummary& summary);

using RoundProgress = std::function<void(const std::string& phase, size_t done, size_t total)>;

// Runs the next unfinished round of options.stage (see the top of this file).
// Errors: an empty gold set; an empty silver set with seed_pairs = 0; training, scoring, index
// and judge errors (which leave the round resumable).
Result<RoundSummary> run_round(Project& project, judge::Client& client, const RoundOptions& options,
                               const RoundProgress& progress = {});

// Neighbours retrieved for a gold pair the round's RM gives p = P(human's choice is better):
// k_max when p <= 0.5 (the RM is wrong or undecided), else ceil(k_max * (1 - p)) (0 when p -> 1).
int retrieval_k(double p, int k_max);

// The rounds of `stage` finished so far (1..N).
Result<int> finished_rounds(const Project& project, const std::string& stage);

// Each gold pair's human verdict: the majority of its gold labels (+1 or -1; ties and 0 omitted).
Result<std::map<std::string, int>> gold_verdicts(const Project& project);

// Writes `ids` (pool pairs) to a canonical JSONL file, each oriented so that chosen is the side
// `verdict` prefers (-1 swaps chosen and rejected); ids missing from `verdict` are written as they
// are. Returns the number written.
Result<int64_t> write_oriented_pairs(const Project& project, const std::vector<std::string>& ids,
                                     const std::map<std::string, int>& verdict, const std::string& path);

}  // namespace synpref::curate
