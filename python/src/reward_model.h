// synpref.RewardModel's C++ object: a score::Scorer used exactly as `synpref score` uses it,
// serialized by a mutex (a Scorer runs one job at a time) and called without the GIL.
#pragma once

#include <pybind11/pybind11.h>

#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "synpref/score/scorer.h"

namespace synpref::python {

namespace py = pybind11;

class PyRewardModel {
 public:
  // Opens the model (GIL released); raises the library's error.
  static std::unique_ptr<PyRewardModel> open(const score::ScorerOptions& options);

  // Scores `items` in order with the GIL released (score::score_all): scores[i] holds one score
  // per response of items[i], or is empty when the item was skipped (truncation = skip). Raises
  // the library's error. Precondition: the GIL is held by the caller.
  score::ItemResults score_items(std::span<const score::Item> items);

  score::Scorer& scorer() { return *scorer_; }
  const score::Scorer& scorer() const { return *scorer_; }
  std::mutex& mutex() { return mutex_; }
  // Counts of the last scoring call (under the mutex).
  score::ScoreStats last_stats() {
    std::lock_guard lock(mutex_);
    return last_stats_;
  }
  void set_last_stats(const score::ScoreStats& stats) { last_stats_ = stats; }  // mutex held

 private:
  explicit PyRewardModel(std::unique_ptr<score::Scorer> scorer) : scorer_(std::move(scorer)) {}
  std::unique_ptr<score::Scorer> scorer_;
  std::mutex mutex_;
  score::ScoreStats last_stats_;
};

// The counts of a run as a dict with `synpref score --json`'s keys.
py::dict stats_to_dict(const score::ScoreStats& stats);

}  // namespace synpref::python
