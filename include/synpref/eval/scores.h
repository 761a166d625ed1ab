// synpref/eval/scores.h: per-item reward scores, from a file or from a scorer callback.
//
// Scores file (the --scores input and the --dump-scores output): JSON lines, one per item,
//   {"id": "<benchmark id>", "scores": [s_0, s_1, ...]}
// where `scores` follows the loader's documented response order (synpref/eval/benchmark.h).
// `id` may be a JSON string or integer (an integer is matched by its decimal form). Every score
// must be a finite number: NaN, Infinity, null and strings are refused with the line number,
// because a reward model that emits them is broken and any accuracy computed from it is not a
// result. Duplicate ids are refused.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "synpref/common/status.h"
#include "synpref/eval/benchmark.h"

namespace synpref::eval {

// Scores as read from a file, in file order.
struct ScoreTable {
  std::string path;
  std::vector<std::string> ids;
  std::vector<std::vector<double>> scores;
  std::unordered_map<std::string, size_t> index;  // id -> row
};

Result<ScoreTable> read_scores(const std::string& path);

// Scores aligned with Dataset::items. scores[i] is empty for a missing item.
struct ItemScores {
  std::vector<std::vector<double>> scores;
  std::vector<size_t> missing;  // item indices without scores, ascending
  // Set by a model scorer; unknown (-1) when scores came from a file.
  int64_t max_length = -1;
  int64_t n_truncated = -1;  // items whose input was truncated to max_length
  int64_t n_skipped = -1;    // items the scorer skipped (also listed in `missing`)
};

// Aligns `table` with `dataset`. Refuses ids that are not in the dataset (wrong benchmark or
// data), a count that differs from the item's responses, and non-finite values. Items without
// a row are listed in `missing`; whether that is acceptable is the caller's decision.
Result<ItemScores> match_scores(const Dataset& dataset, const ScoreTable& table);

// Scores one item: returns one finite score per response, in order, or an empty vector when the
// scorer skips the item (e.g. over the maximum length with a skip policy); a skipped item is then
// missing. The model engine provides this (chat template + tokenizer + forward pass); tests use
// simple deterministic functions.
using Scorer = std::function<Result<std::vector<double>>(std::span<const data::Turn> context,
                                                         std::span<const std::string> responses)>;

// Scores every item with `scorer`. Refuses a wrong count or a non-finite score, naming the item.
// Sets n_skipped; max_length and n_truncated are the caller's to fill.
Result<ItemScores> score_items(const Dataset& dataset, const Scorer& scorer);

// Scores a model engine computed for every item, in dataset order (scores[i] empty = the engine
// skipped item i, over max_length) -> ItemScores: the skipped items are missing; max_length and
// n_truncated are the engine's. Precondition: scores.size() == the dataset's item count.
ItemScores item_scores_from_engine(const std::vector<std::vector<float>>& scores, int64_t max_length,
                                   int64_t n_truncated);

// Writes the scores file format above for every scored item, in dataset order (ids as strings).
Status write_scores(const std::string& path, const Dataset& dataset, const ItemScores& scores);

}  // namespace synpref::eval
