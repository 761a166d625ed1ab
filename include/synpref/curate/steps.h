// synpref/curate/steps.h: the curation steps over a project (report section 3), each batched,
// cached and resumable:
//
//   run_attributes_step  a judge describes every pair without attributes (attributes.h)
//   run_label_step       gold-guided silver labels from a panel of judges (silver.h)
//   run_stage2_step      score with the best and gold RMs, decide every pair (stage2.h)
//
// Resumability: every batch is committed to the project (one transaction) before the next starts,
// a rerun skips what the project already holds (attributes, silver labels, scores, decisions),
// and judge answers come from the judge client's cache (judge::Config::cache_path), so a rerun
// after kill -9 makes no new judge call for an answer it already received.
// Library code: no printing; progress goes through the callback.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "synpref/common/status.h"
#include "synpref/curate/attributes.h"
#include "synpref/curate/project.h"
#include "synpref/curate/prompts.h"
#include "synpref/curate/rm_endpoint.h"
#include "synpref/curate/silver.h"
#include "synpref/curate/stage2.h"
#include "synpref/judge/client.h"

namespace synpref::curate {

using StepProgress = std::function<void(size_t done, size_t total)>;

// ---- Attributes

struct AttributesStepOptions {
  std::string judge;  // endpoint name; "" = the judge config's first endpoint
  Taxonomy taxonomy = default_taxonomy();
  PromptTemplate prompt = default_prompt(PromptKind::attributes);
  uint64_t seed = 0;          // candidate order in the prompt (candidate_swapped)
  int64_t batch_pairs = 256;  // pairs per judge batch and per transaction (>= 1)
  int max_tokens = 1024;
  int64_t limit = 0;         // at most this many pairs this run (0 = all)
  std::string rejects_path;  // invalid answers, one JSON line each; "" = DIR/rejects-attributes.jsonl
};

struct AttributesStepSummary {
  int64_t pairs = 0;         // in the pool
  int64_t already_done = 0;  // had attributes before this run
  int64_t requested = 0;     // asked of the judge this run (cached answers included)
  int64_t cached = 0;        // of those, answered from the cache
  int64_t valid = 0;         // attributes recorded
  int64_t invalid = 0;       // answers that failed validation (in the rejects file)
  int64_t failed = 0;        // requests that got no answer (retries exhausted, budget)
  std::string rejects_path;  // written when invalid + failed > 0
  judge::Usage usage;
};

Result<AttributesStepSummary> run_attributes_step(Project& project, judge::Client& client,
                                                  const AttributesStepOptions& options,
                                                  const StepProgress& progress = {});

// ---- Silver labels

struct LabelStepOptions {
  std::vector<std::string> judges;  // endpoint names; empty = every endpoint of the config
  PromptTemplate prompt = default_prompt(PromptKind::silver);
  int n = 3;  // samples per judge (self-consistency), >= 1
  double temperature = 0.7;
  int max_tokens = 1024;
  AggregateOptions aggregate;
  uint64_t seed = 0;
  int max_examples = kMaxGoldExamples;
  int64_t batch_pairs = 64;
  // Which pairs to label: nullopt = every non-gold pair with attributes and no silver label yet;
  // otherwise exactly these ids (still skipping those already labeled).
  std::optional<std::vector<std::string>> targets;
};

struct JudgeLabelStats {
  int64_t requests = 0, failed = 0, samples = 0, unparseable = 0;
  PositionBias bias;
};

struct LabelStepSummary {
  int64_t targets = 0;                           // pairs selected
  int64_t no_attributes = 0;                     // selected but without attributes: skipped, counted
  int64_t already_labeled = 0;                   // had a silver label before this run
  int64_t labeled = 0;                           // aggregated this run
  int64_t agree = 0, disagree = 0, abstain = 0;  // aggregated verdict +1 / -1 / 0
  int64_t gold_examples = 0;                     // gold pairs available as examples
  std::map<std::string, JudgeLabelStats> judges;
  judge::Usage usage;
};

// Records, per target pair: one Label per judge sample (kind "silver", source "llm_judge",
// annotator = judge endpoint, sample_index, prompt_hash, verdict; 0 = unparseable) and the
// aggregate (kind "silver_aggregate", annotator "aggregate:<mode>", verdict, confidence). Pairs
// whose aggregate is +1 join the silver set.
Result<LabelStepSummary> run_label_step(Project& project, judge::Client& client,
                                        const LabelStepOptions& options, const StepProgress& progress = {});

// The aggregated silver verdict of every pair with silver samples, recomputed from the recorded
// samples with `options` (pair id -> verdict +1/-1/0).
Result<std::map<std::string, int>> silver_verdicts(const Project& project, const AggregateOptions& options);

// ---- Stage 2

// Scores pairs (chosen, rejected) with one reward model.
class PairScorer {
 public:
  virtual ~PairScorer() = default;
  // One {chosen, rejected} per record, in order; an error when any record cannot be scored.
  virtual Result<std::vector<std::array<double, 2>>> score(const std::vector<data::Record>& pairs) = 0;
  virtual const std::string& name() const = 0;  // "name@version", the scores' key in the project
};

// An in-process Scorer over a Hugging Face reward-model folder. name = "<folder name>@<first 12
// hex digits of XXH3 over config.json and the weight files' names and sizes>".
Result<std::unique_ptr<PairScorer>> open_local_scorer(const std::string& model_dir, int n_threads);
// The same under a given name (e.g. a round's RM named after its weights' content hash).
Result<std::unique_ptr<PairScorer>> open_local_scorer(const std::string& model_dir, int n_threads,
                                                      const std::string& name);
// A fleet of reward servers (rm_endpoint.h); texts rendered with the chat template of
// tokenizer_dir. name = "<model>@<name_version>".
Result<std::unique_ptr<PairScorer>> open_endpoint_scorer(const RmEndpointOptions& options,
                                                         const std::string& tokenizer_dir,
                                                         const std::string& name_version);

struct Stage2StepOptions {
  Stage2Options rule;
  std::string stage = "stage2";  // decisions are recorded under this stage name
  AggregateOptions aggregate;    // how silver samples become the LLM verdict
  ShardSpec shard;               // this job's rows
  int64_t chunk_pairs = 1024;    // pairs per scoring batch and transaction
  // Sharded runs (count > 1) write their decisions to DIR/stage2/<stage>.shard-<i>-of-<N>.tsv;
  // merge_stage2_shards then records them. Unsharded runs record decisions directly. The ids
  // pending an LLM label go to DIR/stage2/<stage>[.shard-<i>-of-<N>].pending.txt (the targets
  // file of the label step).
};

struct Stage2StepSummary {
  int64_t rows = 0;                          // rows of this shard
  int64_t scored_best = 0, scored_gold = 0;  // scored in this run (others were in the project)
  Stage2Counts counts;                       // this shard's decisions
  std::vector<std::string> categories;       // names of counts.by_category (last = no category)
  std::vector<std::string> needs_llm_label;  // ids pending an LLM label (label them, then rerun)
  std::string pending_file;                  // those ids, one per line ("" when there are none)
  std::string shard_file;                    // sharded runs: the result file
};

Result<Stage2StepSummary> run_stage2_step(Project& project, PairScorer& best, PairScorer& gold,
                                          const Stage2StepOptions& options,
                                          const StepProgress& progress = {});

// Reads the N shard files of `stage`, merges them (merge_shards: every row exactly once, in row
// order) and records the decisions. Errors name the missing or inconsistent shard file.
Result<Stage2Counts> merge_stage2_shards(Project& project, const std::string& stage, int shard_count);

// ---- Gold labels (human verification, report section 3.1)

// Imports human verdicts from a JSONL file, one object per line:
//   {"id": "<pair id>", "verdict": 1 | -1 | 0, "annotator": "<human id>"[, "confidence": x][, "time": "..."]}
// verdict: +1 = the pair's chosen response is better, -1 = the rejected one, 0 = tie. Every valid
// line adds a label (kind "gold", source "human") and puts the pair in the gold set; re-importing
// the same file is a no-op. Malformed lines, unknown ids and bad fields are counted and written to
// the rejects file (never dropped silently); a file with no valid line is an error.
//
// Besides that format (`synpref`), exports of two annotation tools are read (gold.h):
//  - `label-studio`: Label Studio's JSON export (a list of tasks: data, annotations[].result[] of
//    type "choices", completed_by, was_cancelled);
//  - `argilla`: Argilla record exports, JSON list or JSONL (responses as the server API lists them,
//    [{user_id, status, values: {question: {value}}}], or as the 2.x SDK writes them,
//    {question: [{value, user_id}]}).
// `auto` tells them apart by the first non-blank byte and the first record's fields.
struct GoldImportOptions {
  std::string rejects_path;  // "" = DIR/rejects-gold.jsonl
  int64_t batch_lines = 10000;
  std::string format = "auto";  // "auto" | "synpref" | "label-studio" | "argilla"
  std::string question;         // tool formats: the question / control name ("" = any with a verdict)
};

struct GoldImportSummary {
  int64_t lines = 0;             // non-empty lines read
  int64_t imported = 0;          // labels recorded (re-imports included)
  int64_t pairs = 0;             // distinct pairs now marked gold by this file
  int64_t rejected = 0;          // lines in the rejects file
  std::string rejects_path;      // "" when nothing was rejected
  std::string format;            // the format read
  int64_t cannot_determine = 0;  // verdicts of "cannot determine": discarded (report section 3.1)
  int64_t skipped = 0;           // tool formats: cancelled, discarded or draft annotations (not verdicts)
};

Result<GoldImportSummary> import_gold_labels(Project& project, const std::string& path,
                                             const GoldImportOptions& options = {});

}  // namespace synpref::curate
