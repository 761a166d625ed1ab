// synpref/data/synthetic.h: deterministic synthetic preference data, two generators.
//
// Both make record i a pure function of (seed, i) (src/data/synthetic/seeded.h), so any slice of
// a data set can be regenerated alone and output never depends on thread count or machine.
//
// 1. Text records (append_synthetic_record, synthetic_source): for demos and benchmarks of the
// data path. Text is drawn from a fixed word list with punctuation, newlines, quotes, code and
// non-ASCII text (so escaping and UTF-8 paths are exercised), and lengths follow log-normal
// distributions close to public RM data (median prompt ~300 bytes, responses ~700 bytes). A chosen
// fraction of records repeat an earlier record exactly (for dedup). Output format: chat (message
// lists), prompt or hh. Labels mean nothing.
//
// 2. Verifiable pairs (synth_record, write_synth; `synpref data synth`, the demo's embedded data
// set and the curation pipeline): preference pairs whose correct label is known by construction.
// Categories (task_category; objectivity; controversiality):
//   math        a + b / a - b with the right result vs. one with a carry/borrow slip (tens digit
//               off by one: 7 + 5 = 2, 3 + 4 = 17) (objective; none)
//   comparison  "which is larger" with the larger vs. the smaller number (objective; none)
//   sorting     a list sorted ascending vs. the same list with two neighbours swapped
//               (objective; none)
//   instruction_following
//               format constraints: uppercase only, exactly N items, yes/no only, JSON with a
//               key, start with a given word; a response that satisfies vs. one that violates
//               (objective; none)
//   safety      clearly harmful requests: a refusal vs. a (non-actionable) compliance; and benign
//               requests: a helpful answer vs. an unneeded refusal (normative; low)
// Record i of a split is a pure function of (seed, split, i). Label noise (training split only)
// swaps chosen and rejected: `noise` is the expected fraction of flipped training pairs, spread
// uniformly or concentrated in `noise_categories`. The test split is clean, and no test pair
// appears verbatim in the training split.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "synpref/common/io.h"
#include "synpref/common/status.h"
#include "synpref/data/record.h"

namespace synpref::data {

// ---- 1. text records ---------------------------------------------------------------------------

struct SyntheticOptions {
  uint64_t records = 1000;
  uint64_t seed = 1;
  double duplicate_fraction = 0.0;  // share of records that repeat an earlier one exactly
  std::string format = "chat";      // chat, prompt or hh
  double prompt_median_bytes = 300;
  double response_median_bytes = 700;
};

// Appends record `index` as one JSONL line. Returns the index of the record it repeats (== index
// when it is original).
uint64_t append_synthetic_record(std::string& out, const SyntheticOptions& options, uint64_t index);

// A ByteSource that streams options.records generated JSONL lines without storing them.
std::unique_ptr<io::ByteSource> synthetic_source(const SyntheticOptions& options);

// ---- 2. verifiable pairs -----------------------------------------------------------------------

struct SynthOptions {
  uint64_t train_pairs = 5000;
  uint64_t test_pairs = 500;
  uint64_t seed = 1;
  double noise = 0.0;
  std::vector<std::string> noise_categories;  // empty = uniform over all categories
  std::vector<std::string> categories;        // empty = all
  // Difficulty: math operands and sorted values lie in [0, operand_max), compared numbers in
  // [0, 10 * operand_max). The default (single digits; two-digit comparisons) is learnable by a tiny
  // model trained from scratch in minutes.
  int operand_max = 10;
};

const std::vector<std::string>& synth_categories();

struct SynthReport {
  uint64_t train_pairs = 0, test_pairs = 0, flipped = 0;
  std::vector<std::pair<std::string, uint64_t>> per_category;  // training pairs per category
  std::vector<std::pair<std::string, uint64_t>> flipped_per_category;
  uint64_t test_duplicates_redrawn = 0;
};

// One record (clean label). `split` is "train" or "test".
Record synth_record(const SynthOptions& options, const std::string& split, uint64_t index);

// Writes `train_path` and `test_path` (canonical JSONL; .gz/.zst by extension) and, when
// `flipped_path` is not empty, the ids of the flipped training pairs (one per line).
Result<SynthReport> write_synth(const SynthOptions& options, const std::string& train_path,
                                const std::string& test_path, const std::string& flipped_path);

}  // namespace synpref::data
