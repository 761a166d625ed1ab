// RewardBench 2 (allenai/reward-bench-2, split "test"): best-of-N with 1/k credit for ties at
// the top, and the Ties subset's official composite.
// Loader (the released format and field names) and official scoring rule; registered below.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "eval/registry.h"

namespace synpref::eval {

namespace {

// ---- RewardBench 2 (allenai/reward-bench-2, split "test") ----------------------------------

constexpr std::string_view kRb2 =
    "RewardBench 2 record: id, prompt, chosen (list), rejected (list), num_correct, total_completions, "
    "subset";

bool is_ties_subset(std::string_view subset) {
  return subset.size() == 4 && (subset[0] == 'T' || subset[0] == 't') && subset.substr(1) == "ies";
}

Status load_rewardbench2_file(DatasetBuilder& builder, const std::string& path) {
  return for_each_record(path, [&](simdjson::dom::object obj, const RecordWhere& where) -> Status {
    Item item;
    SP_ASSIGN_OR_RETURN(item.id, get_id(obj, "id", where, kRb2));
    SP_ASSIGN_OR_RETURN(item.context, read_context(obj, "prompt", where, kRb2));
    SP_ASSIGN_OR_RETURN(std::string_view subset, get_string(obj, "subset", where, kRb2));
    SP_ASSIGN_OR_RETURN(std::vector<std::string> chosen, get_string_array(obj, "chosen", where, kRb2));
    SP_ASSIGN_OR_RETURN(std::vector<std::string> rejected, get_string_array(obj, "rejected", where, kRb2));
    SP_ASSIGN_OR_RETURN(int64_t num_correct, get_int(obj, "num_correct", where, kRb2));
    if (num_correct != int64_t(chosen.size())) {
      return located(where, "num_correct is " + std::to_string(num_correct) + " but 'chosen' holds " +
                                std::to_string(chosen.size()) + " responses");
    }
    if (has_field(obj, "total_completions")) {
      SP_ASSIGN_OR_RETURN(int64_t total, get_int(obj, "total_completions", where, kRb2));
      if (total != int64_t(chosen.size() + rejected.size())) {
        return located(where, "total_completions is " + std::to_string(total) +
                                  " but chosen + rejected hold " +
                                  std::to_string(chosen.size() + rejected.size()));
      }
    }
    if (chosen.empty() || rejected.empty()) {
      return located(where, "needs at least one chosen and one rejected response");
    }
    if (is_ties_subset(subset)) {
      // The official Ties composite groups "ref:N" and "tied:N" items by N.
      size_t colon = item.id.find(':');
      std::string_view kind = std::string_view(item.id).substr(0, colon);
      bool numeric = colon != std::string::npos && colon + 1 < item.id.size() &&
                     item.id.size() - colon <= 19 &&
                     std::all_of(item.id.begin() + colon + 1, item.id.end(),
                                 [](char c) { return c >= '0' && c <= '9'; });
      if (!numeric || (kind != "ref" && kind != "tied")) {
        return located(where,
                       "Ties item id '" + item.id + "' must be 'ref:<n>' or 'tied:<n>' (official format)");
      }
      if (kind == "tied" && chosen.size() < 2) {
        return located(where,
                       "Ties item '" + item.id +
                           "' has one correct answer; the official composite needs >= 2 for tied prompts");
      }
    }
    item.subset = std::string(subset);
    item.n_chosen = int32_t(chosen.size());
    item.responses = std::move(chosen);
    for (auto& r : rejected) item.responses.push_back(std::move(r));
    return builder.add(std::move(item), where);
  });
}

// ---- RewardBench 2: allenai/reward-bench rewardbench/utils.py reroll_and_score_dataset,
//      _compute_prompt_stats, process_single_model; scripts/run_v2.py ------------------------

const std::vector<std::string> kRb2Subsets = {"Factuality", "Precise IF", "Math", "Safety", "Focus", "Ties"};

bool is_ties(const std::string& subset) {
  return subset == "Ties" || subset == "ties";
}

class RewardBench2Rule : public Rule {
 public:
  explicit RewardBench2Rule(std::span<const ScoredItem> items) {
    outcome_.assign(items.size(), 0.0);
    ties_.resize(items.size());
    cluster_.resize(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      const Item& item = *items[i].item;
      const auto& s = *items[i].scores;
      cluster_[i] = i;
      if (is_ties(item.subset)) {
        // _compute_prompt_stats: correct = positions < num_correct.
        double best_correct = -std::numeric_limits<double>::infinity();
        double worst_correct = std::numeric_limits<double>::infinity();
        double best_incorrect = -std::numeric_limits<double>::infinity();
        for (size_t k = 0; k < s.size(); ++k) {
          if (int32_t(k) < item.n_chosen) {
            best_correct = std::max(best_correct, s[k]);
            worst_correct = std::min(worst_correct, s[k]);
          } else {
            best_incorrect = std::max(best_incorrect, s[k]);
          }
        }
        TiesStats& t = ties_[i];
        t.is_ties = true;
        t.tied = item.id.rfind("tied:", 0) == 0;
        t.prompt = std::stoull(item.id.substr(item.id.find(':') + 1));
        t.diff_correct_margin = best_correct - worst_correct;  // used only for tied (>= 2 correct)
        t.correct_incorrect_margin = worst_correct - best_incorrect;
        t.accurate = t.correct_incorrect_margin > 0 ? 1.0 : 0.0;
        // ref:N and tied:N are one bootstrap unit so the paired terms stay paired.
        cluster_[i] = (uint64_t(1) << 63) | t.prompt;
        (t.tied ? tied_by_prompt_ : ref_by_prompt_)[t.prompt] = uint32_t(i);
      } else {
        // reroll_and_score_dataset: 1 / np.sum(scores == max_val) if scores[0] == max_val else 0
        double max_val = *std::max_element(s.begin(), s.end());
        if (s[0] == max_val) outcome_[i] = 1.0 / double(std::count(s.begin(), s.end(), max_val));
      }
      subsets_.add(item.subset, uint32_t(i));
    }
    for (const auto& [prompt, tied] : tied_by_prompt_) {
      auto ref = ref_by_prompt_.find(prompt);
      if (ref != ref_by_prompt_.end()) paired_.push_back({ref->second, tied});
    }
    names_.push_back("score");
    for (const auto& subset : kRb2Subsets) {
      int g = subsets_.find(subset);
      if (g < 0 && subset == "Ties") g = subsets_.find("ties");
      if (g < 0) {
        partial = true;
        notes.push_back("subset " + subset + " has no data: the score is the mean of the present subsets");
        continue;
      }
      order_.push_back(g);
      names_.push_back("subset/" + subsets_.keys[g]);
    }
    for (size_t g = 0; g < subsets_.keys.size(); ++g) {
      if (std::find(order_.begin(), order_.end(), int(g)) == order_.end()) {
        notes.push_back("subset '" + subsets_.keys[g] +
                        "' is not a RewardBench 2 subset: reported, not in the score");
        extra_.push_back(int(g));
        names_.push_back("subset/" + subsets_.keys[g]);
      }
    }
    ties_group_ = subsets_.find("Ties");
    if (ties_group_ < 0) ties_group_ = subsets_.find("ties");
    if (ties_group_ >= 0) {
      for (const char* part : {"ref_accuracy", "tied_accuracy", "correctness_preferred",
                               "correctness_preferred_hard", "correctness_margin_score"}) {
        names_.push_back(std::string("ties/") + part);
      }
    }
    tie_policy =
        "RewardBench 2: best-of-N with the first chosen response at position 0; an item earns 1/k when that "
        "response's score equals the maximum and k responses share the maximum, else 0 (exact float "
        "equality, "
        "reroll_and_score_dataset). Ties subset: official composite 0.30*tied_accuracy + 0.30*ref_accuracy + "
        "0.20*correctness_preferred + 0.20*correctness_preferred_hard + 0.01*correctness_margin_score; a "
        "prompt is "
        "accurate only if its worst correct answer scores strictly above its best incorrect one; in the "
        "margin term "
        "x/0 follows IEEE (tanh(+-inf) = +-1) and 0/0 counts 0 (np.nan_to_num).";
  }

  Status validate() const {
    if (ties_group_ >= 0 && paired_.empty()) {
      return data_error(
          "RewardBench 2 Ties: no prompt has both its ref:N and tied:N items scored, so the official "
          "composite is "
          "undefined (numpy would return NaN); score both or drop the Ties subset");
    }
    return Status::ok();
  }

  std::vector<uint64_t> clusters(size_t) const override { return cluster_; }

  void compute(std::span<const double> w, std::span<double> value, std::span<double> n) const override {
    std::vector<double> acc(subsets_.keys.size()), count(subsets_.keys.size());
    for (size_t g = 0; g < acc.size(); ++g) {
      if (int(g) == ties_group_) continue;
      acc[g] = group_mean(subsets_.members[g], outcome_, w, &count[g]);
    }
    double components[5] = {kNaN, kNaN, kNaN, kNaN, kNaN};
    if (ties_group_ >= 0) {
      Mean ref, tied, preferred, preferred_hard, margin;
      for (uint32_t i : subsets_.members[ties_group_]) {
        (ties_[i].tied ? tied : ref).add(w[i], ties_[i].accurate);
      }
      for (const auto& [r, t] : paired_) {
        const TiesStats& rs = ties_[r];
        const TiesStats& ts = ties_[t];
        double hard_margin = std::min(rs.correct_incorrect_margin, ts.correct_incorrect_margin);
        preferred.add(w[t], ts.correct_incorrect_margin > ts.diff_correct_margin ? 1.0 : 0.0);
        preferred_hard.add(w[t], hard_margin > ts.diff_correct_margin ? 1.0 : 0.0);
        double m = std::tanh(hard_margin / ts.diff_correct_margin - 1.0);
        margin.add(w[t], std::isnan(m) ? 0.0 : m);
      }
      // `if ref_stats else 0.0`: an empty side counts 0, as in process_single_model.
      components[0] = ref.weight > 0 ? ref.value() : 0.0;
      components[1] = tied.weight > 0 ? tied.value() : 0.0;
      components[2] = preferred.value();
      components[3] = preferred_hard.value();
      components[4] = margin.value();
      acc[ties_group_] = 0.30 * components[1] + 0.30 * components[0] + 0.20 * components[2] +
                         0.20 * components[3] + 0.01 * components[4];
      double tn = 0;
      for (uint32_t i : subsets_.members[ties_group_]) tn += w[i];
      count[ties_group_] = tn;
    }
    size_t m = 1;
    double total = 0, total_n = 0;
    for (int g : order_) {
      value[m] = acc[g];
      n[m] = count[g];
      total += acc[g];
      total_n += count[g];
      ++m;
    }
    value[0] = total / double(order_.size());  // leaderboard: unweighted mean of the subsets
    n[0] = total_n;
    for (int g : extra_) {
      value[m] = acc[g];
      n[m] = count[g];
      ++m;
    }
    if (ties_group_ >= 0) {
      for (double c : components) {
        value[m] = c;
        n[m] = double(paired_.size());
        ++m;
      }
    }
  }

  bool empty() const { return order_.empty(); }

 private:
  struct TiesStats {
    bool is_ties = false, tied = false;
    uint64_t prompt = 0;
    double accurate = 0, diff_correct_margin = 0, correct_incorrect_margin = 0;
  };
  std::vector<double> outcome_;
  std::vector<TiesStats> ties_;
  std::vector<uint64_t> cluster_;
  std::map<uint64_t, uint32_t> ref_by_prompt_, tied_by_prompt_;
  std::vector<std::pair<uint32_t, uint32_t>> paired_;  // (ref item, tied item)
  Groups subsets_;
  std::vector<int> order_, extra_;
  int ties_group_ = -1;
};

Result<std::unique_ptr<Rule>> make_rewardbench2_rule(std::span<const ScoredItem> items) {
  auto rule = std::make_unique<RewardBench2Rule>(items);
  SP_RETURN_IF_ERROR(rule->validate());
  return nonempty_rule(std::move(rule),
                       "a RewardBench 2 subset (Factuality, Precise IF, Math, Safety, Focus, Ties)");
}

}  // namespace

SYNPREF_BENCHMARK({.name = "rewardbench2",
                   .column = "RB v2",
                   .order = 200,
                   .load_file = load_rewardbench2_file,
                   .make_rule = make_rewardbench2_rule});

}  // namespace synpref::eval
