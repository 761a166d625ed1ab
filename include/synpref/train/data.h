// synpref/train/data.h: tokenized preference pairs in plain columns, their order and batching.
//
// Training input is any file `synpref data` reads (canonical JSONL from `synpref data synth`, chat,
// prompt, hh, ...), tokenized on the fly with encode::RmInputBuilder (the model's chat template), or a
// tokenized shard from `synpref data tokenize` (detected by its magic; its tokenizer fingerprint
// must match). Either way a pair is a shared prefix and the chosen/rejected suffixes, exactly the
// ids transformers would score.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "synpref/common/status.h"
#include "synpref/tokenizer/tokenizer.h"
#include "synpref/train/reward_model.h"

namespace synpref::train {

// Pairs as plain columns: pair p's prefix is tokens[bounds[3p], bounds[3p+1]), chosen
// [bounds[3p+1], bounds[3p+2]), rejected [bounds[3p+2], bounds[3p+3]).
struct PairSet {
  std::vector<int32_t> tokens;
  std::vector<uint64_t> bounds{0};
  std::vector<float> margins;
  // Per pair: index into category_names of the record's attributes.task_category ("" = none).
  std::vector<uint16_t> category;
  std::vector<std::string> category_names;

  size_t size() const { return margins.size(); }
  void add(std::span<const int32_t> prefix, std::span<const int32_t> chosen,
           std::span<const int32_t> rejected, float margin, const std::string& category = "");
  PairView pair(size_t p) const;
  // Rows the pair occupies in a batch: prefix once (shared) or twice (unshared).
  uint64_t rows(size_t p, bool share_prefix) const;
  int32_t max_id() const;
};

struct PairLoadOptions {
  uint64_t max_length = 4096;       // tokens of prefix + the longer response
  std::string truncation = "skip";  // error, skip or truncate-left (encode::Truncation)
  std::string format = "auto";      // input format of JSONL/JSON files
  std::string date;                 // date the chat template sees (YYYY-MM-DD); "" = today
  int n_threads = 0;                // tokenization threads (0 = all)
  bool progress = false;
};
struct PairLoadReport {
  uint64_t records = 0, pairs = 0;
  uint64_t rejects = 0;        // malformed records (written to the rejects file)
  uint64_t response_sets = 0;  // records that are not pairs (skipped)
  uint64_t too_long = 0;       // over max_length (skipped)
  uint64_t truncated = 0;      // shortened by truncate-left
  uint64_t from_shards = 0;    // records read from tokenized shards
};

// Loads and tokenizes `inputs`. `rejects_path` receives malformed records ("" = count only).
Result<PairSet> load_pairs(const std::vector<std::string>& inputs, const tokenizer::Tokenizer& tokenizer,
                           const PairLoadOptions& options, const std::string& rejects_path,
                           PairLoadReport* report);
Result<PairSet> load_pairs(const std::vector<std::string>& inputs, const std::string& tokenizer_dir,
                           const PairLoadOptions& options, const std::string& rejects_path,
                           PairLoadReport* report);

// The data order: epoch e visits the pairs in a permutation drawn from (seed, e) (Fisher-Yates on
// SplitMix64), so the position (epoch, cursor) is the whole state.
class DataOrder {
 public:
  DataOrder(size_t n_pairs, uint64_t seed, bool shuffle);
  // The next `n` pair indices from (epoch, cursor), crossing epoch boundaries; advances the position.
  std::vector<uint32_t> next(size_t n, uint64_t* epoch, uint64_t* cursor);
  // The generator state of epoch e (recorded in the training state).
  uint64_t epoch_seed(uint64_t epoch) const;

 private:
  const std::vector<uint32_t>& order(uint64_t epoch);
  size_t n_;
  uint64_t seed_;
  bool shuffle_;
  uint64_t cached_epoch_ = UINT64_MAX;
  std::vector<uint32_t> order_;
};

// Token-budget micro-batches: consecutive pairs go into one batch while its rows stay within
// `max_rows` (a pair longer than the budget runs alone).
std::vector<std::vector<uint32_t>> split_by_tokens(const PairSet& pairs, std::span<const uint32_t> ids,
                                                   uint64_t max_rows, bool share_prefix);
void pack_pairs(PackedBatch& batch, const PairSet& pairs, std::span<const uint32_t> ids, bool share_prefix,
                std::optional<int64_t> pad_token_id);

}  // namespace synpref::train
