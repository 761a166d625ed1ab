// synpref/score/scorer.h: the one way records become reward scores.
//
//   records (or benchmark items) -> RM inputs (encode/, built in parallel, in order)
//     -> chunks of `chunk_records` inputs -> model::Model::score_groups (packed batches, each
//        record's prefix computed once) -> scores + stats, handed back chunk by chunk in input order.
//
// Guarantees:
//  - Scores are the engine's, bitwise: the engine is batch-invariant, so chunking and packing
//    never change a score (synpref/model/model.h).
//  - Every score handed out is finite. A NaN or infinity (broken weights) stops the run with an
//    error naming the first offending record (origin, id, response); nothing of its chunk is
//    handed out.
//  - Bounded memory: at most one chunk of inputs plus one build batch of records at a time.
// Options are validated by field name ("max_tokens_per_batch must be >= 1"); front ends map the
// fields to their flags.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "synpref/common/status.h"
#include "synpref/data/record.h"
#include "synpref/encode/ordered_build.h"
#include "synpref/encode/rm_input.h"

namespace synpref::model {
class Model;
}

namespace synpref::score {

struct ScorerOptions {
  std::string model_dir;                // Hugging Face reward-model folder (config, safetensors, tokenizer)
  encode::RmInputSettings input;        // input.tokenizer_dir "" = model_dir
  int n_threads = 0;                    // engine and input-building threads (>= 0; 0 = all)
  int64_t max_tokens_per_batch = 4096;  // token rows per forward pass (>= 1)
  int64_t chunk_records = 256;          // scorable records per engine call (>= 1)
  bool progress = false;  // bar with rate and ETA on stderr (drawn only on a terminal, CI unset)

  // Field errors: "model_dir is required", "max_tokens_per_batch must be >= 1", ...
  Status validate() const;
};

// Counts of one run. `records` excludes rejects (malformed input that never became a record).
struct ScoreStats {
  uint64_t records = 0;
  uint64_t scored = 0;            // records with scores (resumed ones included)
  uint64_t resumed = 0;           // of those, taken from a previous run's output (not rescored)
  uint64_t skipped_too_long = 0;  // over max_length with truncation = skip
  uint64_t truncated = 0;         // shortened by truncation = truncate-left
  uint64_t rejected = 0;          // malformed records (score_file: written to rejects_path)
  std::string rejects_path;       // score_file: where rejects and skipped records are listed
  uint64_t pairs = 0, pairs_correct = 0, pair_ties = 0;  // pairs: chosen > rejected, equal
  uint64_t tokens = 0;                                   // prefix + suffix tokens of the scored records
  uint64_t tokens_engine = 0;                            // of those, forwarded by the engine in this run
  double engine_seconds = 0;                             // wall time inside the engine

  double pair_accuracy() const { return pairs ? double(pairs_correct) / double(pairs) : 0.0; }
  double tokens_per_second() const {
    return engine_seconds > 0 ? double(tokens_engine) / engine_seconds : 0.0;
  }
};

// One record's outcome, in input order.
struct Scored {
  uint64_t index = 0;  // 0-based position among the records (or items) given
  std::string_view id;
  const encode::Origin* origin = nullptr;  // where it was read (records only)
  bool pair = false;                       // a pair: scores[0] chosen, scores[1] rejected
  bool skipped = false;                    // over max_length (truncation = skip): no scores
  std::string_view skip_reason;
  bool resumed = false;           // scores taken from Resume, not computed now
  uint64_t truncated_tokens = 0;  // context tokens dropped by truncate-left
  std::span<const float> scores;  // one per response, in response order; empty when skipped
};

// Scores a previous run already wrote, in input order (skipped records are absent). Records whose
// ids match are not rescored; the first mismatch is an error (the output is not from this input).
struct Resume {
  std::string source;  // for messages, e.g. the output file
  std::vector<std::string> ids;
  std::vector<std::vector<float>> scores;
};

// A benchmark item: one conversation and its candidate responses.
struct Item {
  std::string_view id;
  std::span<const data::Turn> context;
  std::span<const std::string> responses;
};

class Scorer {
 public:
  // Loads the tokenizer, chat template and model, and checks that they can score: the tokenizer
  // loads, the template renders a probe conversation to RM input ids inside the vocabulary, and the
  // model has a score head. Each failure is an error naming what is wrong.
  static Result<std::unique_ptr<Scorer>> open(const ScorerOptions& options);
  ~Scorer();

  // Receives each chunk of results in input order (skipped and resumed records included). The
  // spans are valid during the call only.
  using Sink = std::function<Status(std::span<const Scored> chunk)>;

  // Scores every record of `next` (encode::OrderedBuilder::Next). `resume` (may be null) lists
  // records scored before. Adds to `stats`.
  Status score_records(const encode::OrderedBuilder::Next& next, const Sink& sink, ScoreStats& stats,
                       const Resume* resume = nullptr);
  // Scores benchmark items, in order. Adds to `stats`.
  Status score_items(std::span<const Item> items, const Sink& sink, ScoreStats& stats);

  const model::Model& model() const;
  const encode::RmInputBuilder& builder() const;
  const ScorerOptions& options() const;

  struct Impl;

 private:
  explicit Scorer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Every item's scores, collected in input order: what `synpref eval --model` and the Python module
// (RewardModel.score*) need when the whole result fits in memory.
struct ItemResults {
  std::vector<std::vector<float>> scores;  // scores[i]: one per response of items[i]; empty when skipped
  std::vector<size_t> skipped;             // indices of the items skipped over max_length, ascending
  ScoreStats stats;
};
// Scorer::score_items with the results kept. Errors are score_items'.
Result<ItemResults> score_all(Scorer& scorer, std::span<const Item> items);

// `synpref score` as a library call: records of `input` -> JSON lines {"id": ..., "scores": [...]}
// in `output`, streaming: each chunk is written and flushed as soon as it is scored, so a killed
// run leaves every finished chunk in place (plain outputs are written directly, never through a
// temporary file). With `resume`, the ids already in `output` must be the input's scorable records
// in order; they are kept and the rest is appended (a torn last line is cut off first).
struct ScoreFileOptions {
  std::string input;   // any format of synpref/data/reader.h; "-" = stdin
  std::string output;  // plain file, .gz/.zst (written whole, atomically), or "-" = stdout
  std::string format = "auto";
  std::string rejects_path;  // "" = data::default_rejects_path(output)
  bool resume = false;       // needs a plain output file
};

// Errors (besides the Scorer's): output is the input file (same inode, symlinks followed), checked
// before anything is written; resume on a compressed or standard output; an output whose lines
// are not this input's; and a run where nothing could be scored (every record rejected or skipped),
// whose message gives the counts and the rejects file.
Result<ScoreStats> score_file(Scorer& scorer, const ScoreFileOptions& options);

// Appends the output line of one record: {"id":"...","scores":[...]}\n.
void append_score_line(std::string& out, std::string_view id, std::span<const float> scores);

}  // namespace synpref::score
