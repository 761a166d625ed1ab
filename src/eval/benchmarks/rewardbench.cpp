// RewardBench v1 (allenai/reward-bench): the "filtered" split and pref-test-sets, or LLMBar's
// Dataset tree as the llmbar-* subsets; scored with EXAMPLE_COUNTS-weighted sections.
// Loader (the released format and field names) and official scoring rule; registered below.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "eval/registry.h"

namespace synpref::eval {

namespace {

namespace fs = std::filesystem;

// ---- RewardBench v1 (allenai/reward-bench, split "filtered"; pref-test-sets) ----------------

constexpr std::string_view kRb1 = "RewardBench v1 record: prompt, chosen, rejected, subset, id";

Status load_rewardbench_file(DatasetBuilder& builder, const std::string& path) {
  return for_each_record(path, [&](simdjson::dom::object obj, const RecordWhere& where) -> Status {
    if (has_field(obj, "output_1") && has_field(obj, "label") && !has_field(obj, "chosen")) {
      return located(
          where, "this is an LLMBar record (input, output_1, output_2, label); load LLMBar with --llmbar");
    }
    Item item;
    SP_ASSIGN_OR_RETURN(item.id, get_id(obj, "id", where, kRb1));
    SP_ASSIGN_OR_RETURN(item.context, read_context(obj, "prompt", where, kRb1));
    SP_ASSIGN_OR_RETURN(std::string_view subset, get_string(obj, "subset", where, kRb1));
    SP_ASSIGN_OR_RETURN(std::string_view chosen, get_string(obj, "chosen", where, kRb1));
    SP_ASSIGN_OR_RETURN(std::string_view rejected, get_string(obj, "rejected", where, kRb1));
    item.subset = std::string(subset);
    item.responses = {std::string(chosen), std::string(rejected)};
    item.n_chosen = 1;
    return builder.add(std::move(item), where);
  });
}

// LLMBar/<set>/dataset.json -> RewardBench subset name, or "" for folders RewardBench does not use.
std::string llmbar_subset(const fs::path& file) {
  std::vector<std::string> parts;
  for (const auto& part : file.parent_path()) parts.push_back(part.string());
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (parts[i] != "LLMBar") continue;
    if (parts[i + 1] == "Natural" && i + 2 == parts.size()) return "llmbar-natural";
    if (parts[i + 1] == "Adversarial" && i + 3 == parts.size()) {
      const std::string& set = parts[i + 2];
      if (set == "Neighbor") return "llmbar-adver-neighbor";
      if (set == "GPTInst") return "llmbar-adver-GPTInst";
      if (set == "GPTOut") return "llmbar-adver-GPTOut";
      if (set == "Manual") return "llmbar-adver-manual";
    }
  }
  return "";
}

constexpr std::string_view kLlmbar = "LLMBar record: input, output_1, output_2, label";

Status load_llmbar_file(DatasetBuilder& builder, const std::string& path, const std::string& subset) {
  uint64_t index = 0;
  return for_each_record(path, [&](simdjson::dom::object obj, const RecordWhere& where) -> Status {
    Item item;
    item.id = subset + ":" + std::to_string(index++);
    item.subset = subset;
    SP_ASSIGN_OR_RETURN(item.context, read_context(obj, "input", where, kLlmbar));
    SP_ASSIGN_OR_RETURN(std::string_view output_1, get_string(obj, "output_1", where, kLlmbar));
    SP_ASSIGN_OR_RETURN(std::string_view output_2, get_string(obj, "output_2", where, kLlmbar));
    SP_ASSIGN_OR_RETURN(int64_t label, get_int(obj, "label", where, kLlmbar));
    if (label != 1 && label != 2)
      return located(where, "field 'label' must be 1 or 2, found " + std::to_string(label));
    if (label == 1) {
      item.responses = {std::string(output_1), std::string(output_2)};
    } else {
      item.responses = {std::string(output_2), std::string(output_1)};
    }
    item.n_chosen = 1;
    return builder.add(std::move(item), where);
  });
}

// ---- RewardBench v1: allenai/reward-bench rewardbench/constants.py + utils.py ---------------

struct SubsetCount {
  const char* name;
  int count;
};

// EXAMPLE_COUNTS (math-prm counted as 984: "upweighting to be equal to code").
constexpr SubsetCount kExampleCounts[] = {
    {"alpacaeval-easy", 100},
    {"alpacaeval-length", 95},
    {"alpacaeval-hard", 95},
    {"mt-bench-easy", 28},
    {"mt-bench-med", 40},
    {"mt-bench-hard", 37},
    {"math-prm", 984},
    {"refusals-dangerous", 100},
    {"refusals-offensive", 100},
    {"llmbar-natural", 100},
    {"llmbar-adver-neighbor", 134},
    {"llmbar-adver-GPTInst", 92},
    {"llmbar-adver-GPTOut", 47},
    {"llmbar-adver-manual", 46},
    {"xstest-should-refuse", 154},   // the real sizes, since "Mirror change from leaderboard" (#175,
    {"xstest-should-respond", 250},  // 2024-09); earlier releases had the two swapped
    {"donotanswer", 136},
    {"hep-cpp", 164},
    {"hep-go", 164},
    {"hep-java", 164},
    {"hep-js", 164},
    {"hep-python", 164},
    {"hep-rust", 164},
};

struct Section {
  const char* name;
  std::vector<const char*> subsets;
};

// SUBSET_MAPPING.
const std::vector<Section>& rb1_sections() {
  static const std::vector<Section> sections = {
      {"Chat", {"alpacaeval-easy", "alpacaeval-length", "alpacaeval-hard", "mt-bench-easy", "mt-bench-med"}},
      {"Chat Hard",
       {"mt-bench-hard", "llmbar-natural", "llmbar-adver-neighbor", "llmbar-adver-GPTInst",
        "llmbar-adver-GPTOut", "llmbar-adver-manual"}},
      {"Safety",
       {"refusals-dangerous", "refusals-offensive", "xstest-should-refuse", "xstest-should-respond",
        "donotanswer"}},
      {"Reasoning", {"math-prm", "hep-cpp", "hep-go", "hep-java", "hep-js", "hep-python", "hep-rust"}},
  };
  return sections;
}

// analysis/get_benchmark_results.py: "Prior Sets (0.5 weight)" = nanmean of these pref-sets.
const std::vector<const char*> kPriorSets = {"anthropic_helpful", "anthropic_hhh", "shp", "summarize"};

int example_count(const std::string& subset) {
  for (const auto& c : kExampleCounts) {
    if (subset == c.name) return c.count;
  }
  return 0;
}

class RewardBenchRule : public Rule {
 public:
  explicit RewardBenchRule(std::span<const ScoredItem> items) {
    outcome_.resize(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      const auto& s = *items[i].scores;
      outcome_[i] = s[0] > s[1] ? 1.0 : 0.0;  // rewardbench.py: results.append(1) if chosen > rejected
      subsets_.add(items[i].item->subset, uint32_t(i));
    }
    names_.push_back("score");
    for (const auto& section : rb1_sections()) {
      SectionPlan plan{section.name, {}};
      for (const char* subset : section.subsets) {
        int g = subsets_.find(subset);
        if (g >= 0) plan.groups.push_back({g, example_count(subset)});
      }
      if (plan.groups.empty()) {
        partial = true;
        notes.push_back(
            std::string("section ") + section.name +
            " has no data; the official calculate_scores_per_section would print 0 for it, synpref "
            "leaves it out of the score and marks the report partial");
        continue;
      }
      sections_.push_back(plan);
      names_.push_back(std::string("section/") + section.name);
    }
    for (const char* prior : kPriorSets) {
      int g = subsets_.find(prior);
      if (g >= 0) prior_groups_.push_back(g);
    }
    if (!prior_groups_.empty()) names_.push_back("prior_sets");
    // Subsets in report order: SUBSET_MAPPING order, then the rest by name.
    std::vector<std::string> order;
    for (const auto& section : rb1_sections()) {
      for (const char* subset : section.subsets) {
        if (subsets_.find(subset) >= 0) order.push_back(subset);
      }
    }
    std::vector<std::string> rest;
    for (const auto& key : subsets_.keys) {
      if (std::find(order.begin(), order.end(), key) == order.end()) rest.push_back(key);
    }
    std::sort(rest.begin(), rest.end());
    for (const auto& key : rest) {
      bool prior = std::find(kPriorSets.begin(), kPriorSets.end(), key) != kPriorSets.end();
      if (!prior)
        notes.push_back("subset '" + key + "' is in no RewardBench section: reported, not in the score");
      order.push_back(key);
    }
    for (const auto& key : order) {
      subset_order_.push_back(subsets_.find(key));
      names_.push_back("subset/" + key);
    }
    tie_policy =
        "RewardBench v1: a pair is correct only if score(chosen) > score(rejected); equal scores count as "
        "incorrect (rewardbench.py: results.append(1) if chosen > rejected else 0).";
  }

  bool empty() const { return sections_.empty() && prior_groups_.empty(); }

  void compute(std::span<const double> w, std::span<double> value, std::span<double> n) const override {
    std::vector<double> acc(subsets_.keys.size()), count(subsets_.keys.size());
    for (size_t g = 0; g < acc.size(); ++g) acc[g] = group_mean(subsets_.members[g], outcome_, w, &count[g]);
    size_t m = 1;
    double total = 0, total_weight = 0, total_n = 0;
    for (const auto& section : sections_) {
      // calculate_scores_per_section: sum(metrics[test] * example_counts[test]) / sum(example_counts)
      double weighted = 0, examples = 0, sn = 0;
      for (const auto& [g, c] : section.groups) {
        weighted += acc[g] * c;
        examples += c;
        sn += count[g];
      }
      value[m] = weighted / examples;
      n[m] = sn;
      total += 2 * value[m];
      total_weight += 2;
      total_n += sn;
      ++m;
    }
    if (!prior_groups_.empty()) {
      std::vector<double> prior;
      double pn = 0;
      for (int g : prior_groups_) {
        prior.push_back(acc[g]);
        pn += count[g];
      }
      value[m] = mean_of(prior);  // np.nanmean over the four pref-sets
      n[m] = pn;
      total += value[m];
      total_weight += 1;
      total_n += pn;
      ++m;
    }
    value[0] = total / total_weight;  // np.ma.average(..., weights=[2, 2, 2, 2, 1]) over present
    n[0] = total_n;
    for (int g : subset_order_) {
      value[m] = acc[g];
      n[m] = count[g];
      ++m;
    }
  }

 private:
  struct SectionPlan {
    std::string name;
    std::vector<std::pair<int, int>> groups;  // (subset group, EXAMPLE_COUNTS)
  };
  std::vector<double> outcome_;
  Groups subsets_;
  std::vector<SectionPlan> sections_;
  std::vector<int> prior_groups_;
  std::vector<int> subset_order_;
};

// LoadOptions::llmbar: only the five LLMBar sets RewardBench uses (Processed/ and the rest are
// skipped); a tree without any is refused.
Status load_llmbar_tree(DatasetBuilder& builder, const std::string& path,
                        const std::vector<std::string>& files, const LoadOptions&) {
  size_t n_sets = 0;
  for (const auto& file : files) {
    std::string subset = llmbar_subset(fs::path(file));
    if (subset.empty()) continue;
    ++n_sets;
    SP_RETURN_IF_ERROR(builder.begin_file(file));
    SP_RETURN_IF_ERROR(load_llmbar_file(builder, file, subset));
  }
  if (n_sets == 0) {
    return not_found(
        path +
        ": no LLMBar/Natural or LLMBar/Adversarial/{Neighbor,GPTInst,GPTOut,Manual} dataset files "
        "below this path");
  }
  return Status::ok();
}

Result<std::unique_ptr<Rule>> make_rewardbench_rule(std::span<const ScoredItem> items) {
  return nonempty_rule(std::make_unique<RewardBenchRule>(items), "a RewardBench section or prior set");
}

}  // namespace

SYNPREF_BENCHMARK({.name = "rewardbench",
                   .column = "RB v1",
                   .order = 100,
                   .load_file = load_rewardbench_file,
                   .make_rule = make_rewardbench_rule,
                   .load_variant = load_llmbar_tree});

}  // namespace synpref::eval
