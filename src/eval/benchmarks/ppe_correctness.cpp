// PPE correctness (lmarena-ai/PPE-{MMLU-Pro,MATH,GPQA,MBPP-Plus,IFEval}-Best-of-K): pairwise
// accuracy per prompt and exact best-of-K curves.
// Loader (the released format and field names) and official scoring rule; registered below.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "eval/registry.h"

namespace synpref::eval {

namespace {

namespace fs = std::filesystem;
using simdjson::dom::element_type;

// ---- PPE correctness (lmarena-ai/PPE-{MMLU-Pro,MATH,GPQA,MBPP-Plus,IFEval}-Best-of-K) --------

constexpr std::string_view kPpeCorr =
    "PPE correctness record: question_id, prompt, scores (list of bool), response_1..response_N";

// The correctness benchmark from the file name (the five PPE sets are separate datasets).
std::string ppe_benchmark_from_path(const std::string& path) {
  std::string name = fs::path(path).filename().string();
  std::string lower;
  for (char c : name) lower.push_back(char(std::tolower(static_cast<unsigned char>(c))));
  if (lower.find("mmlu") != std::string::npos) return "mmlu_pro";
  if (lower.find("gpqa") != std::string::npos) return "gpqa";
  if (lower.find("mbpp") != std::string::npos) return "mbpp_plus";
  if (lower.find("ifeval") != std::string::npos) return "ifeval";
  if (lower.find("math") != std::string::npos) return "math";
  size_t dot = name.find('.');
  return dot == std::string::npos ? name : name.substr(0, dot);
}

Status load_ppe_correctness_file(DatasetBuilder& builder, const std::string& path) {
  std::string subset = ppe_benchmark_from_path(path);
  return for_each_record(path, [&](simdjson::dom::object obj, const RecordWhere& where) -> Status {
    Item item;
    SP_ASSIGN_OR_RETURN(item.id, get_id(obj, "question_id", where, kPpeCorr));
    SP_ASSIGN_OR_RETURN(auto model_name, get_optional_string(obj, "model_name", where, kPpeCorr));
    if (model_name) {
      // Each question is answered by several models, one record per (question, model).
      item.id += "|" + std::string(*model_name);
      item.tags.emplace_back("model_name", std::string(*model_name));
    }
    SP_ASSIGN_OR_RETURN(item.context, read_context(obj, "prompt", where, kPpeCorr));
    SP_ASSIGN_OR_RETURN(simdjson::dom::array labels, get_array(obj, "scores", where, kPpeCorr));
    for (simdjson::dom::element label : labels) {
      if (label.type() == element_type::BOOL) {
        item.correct.push_back(label.get_bool().value_unsafe() ? 1 : 0);
      } else if (label.type() == element_type::INT64 &&
                 (label.get_int64().value_unsafe() == 0 || label.get_int64().value_unsafe() == 1)) {
        item.correct.push_back(uint8_t(label.get_int64().value_unsafe()));
      } else {
        return located(where, "field 'scores' (correctness labels) must hold booleans");
      }
    }
    for (size_t k = 1; k <= item.correct.size(); ++k) {
      std::string key = "response_" + std::to_string(k);
      SP_ASSIGN_OR_RETURN(std::string_view response, get_string(obj, key, where, kPpeCorr));
      item.responses.emplace_back(response);
    }
    if (item.responses.size() < 2) return located(where, "needs at least two responses");
    if (has_field(obj, "response_" + std::to_string(item.correct.size() + 1))) {
      return located(where, "has more response_<k> fields than correctness labels in 'scores'");
    }
    item.subset = subset;
    return builder.add(std::move(item), where);
  });
}

// ---- PPE correctness ------------------------------------------------------------------------

const std::vector<std::string> kPpeCorrectnessSets = {"mmlu_pro", "math", "gpqa", "mbpp_plus", "ifeval"};

class PpeCorrectnessRule : public Rule {
 public:
  explicit PpeCorrectnessRule(std::span<const ScoredItem> items) {
    pair_accuracy_.assign(items.size(), 0.0);
    has_pairs_.assign(items.size(), 0.0);
    for (size_t i = 0; i < items.size(); ++i) benchmarks_.add(items[i].item->subset, uint32_t(i));
    // Curves stop at the smallest response count of a benchmark (PPE uses 32 everywhere).
    k_max_.resize(benchmarks_.keys.size());
    for (size_t g = 0; g < benchmarks_.keys.size(); ++g) {
      size_t k = std::numeric_limits<size_t>::max();
      for (uint32_t i : benchmarks_.members[g]) k = std::min(k, items[i].scores->size());
      k_max_[g] = k;
    }
    curve_.resize(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      const auto& s = *items[i].scores;
      const auto& c = items[i].item->correct;
      double won = 0, pairs = 0;
      for (size_t a = 0; a < s.size(); ++a) {
        if (!c[a]) continue;
        for (size_t b = 0; b < s.size(); ++b) {
          if (c[b]) continue;
          pairs += 1;
          if (s[a] > s[b]) won += 1;  // equal scores: the pair is not won
        }
      }
      if (pairs > 0) {
        pair_accuracy_[i] = won / pairs;
        has_pairs_[i] = 1.0;
      }
      int g = benchmarks_.find(items[i].item->subset);
      // The curve of an item with more responses than k_max uses its first k_max responses.
      size_t k = k_max_[g];
      curve_[i] = best_of_k_curve(std::span(s).first(k), std::span(c).first(k));
    }
    names_.push_back("score");
    order_.resize(benchmarks_.keys.size());
    for (size_t g = 0; g < order_.size(); ++g) order_[g] = int(g);
    auto rank = [](const std::string& key) {
      auto it = std::find(kPpeCorrectnessSets.begin(), kPpeCorrectnessSets.end(), key);
      return it - kPpeCorrectnessSets.begin();
    };
    std::sort(order_.begin(), order_.end(), [&](int a, int b) {
      auto ra = rank(benchmarks_.keys[a]), rb = rank(benchmarks_.keys[b]);
      return ra != rb ? ra < rb : benchmarks_.keys[a] < benchmarks_.keys[b];
    });
    for (int g : order_) {
      const std::string& key = benchmarks_.keys[g];
      names_.push_back(key + "/pairwise_accuracy");
      names_.push_back(key + "/best_of_k_auc");
      names_.push_back(key + "/best_of_" + std::to_string(k_max_[g]));
    }
    for (const auto& set : kPpeCorrectnessSets) {
      if (benchmarks_.find(set) < 0) {
        partial = true;
        notes.push_back("PPE correctness set " + set +
                        " has no data: the score is the mean of the present sets");
      }
    }
    tie_policy =
        "PPE correctness: pairwise accuracy counts, per prompt, the (correct, incorrect) response pairs "
        "whose correct "
        "response scores strictly higher (equal scores: not won), divided by the prompt's pair count; "
        "prompts with "
        "no correct or no incorrect response have no pairs and are skipped; the set's accuracy is the mean "
        "over "
        "prompts. Best-of-K is the expected correctness of the top-scored of K responses drawn uniformly "
        "without "
        "replacement, equal top scores broken uniformly at random; the area is the trapezoid under K = "
        "1..K_max "
        "divided by K_max - 1.";
  }

  void compute(std::span<const double> w, std::span<double> value, std::span<double> n) const override {
    size_t m = 1;
    std::vector<double> accuracies;
    double total_n = 0;
    for (int g : order_) {
      Mean acc;
      for (uint32_t i : benchmarks_.members[g]) acc.add(w[i] * has_pairs_[i], pair_accuracy_[i]);
      std::vector<double> curve = weighted_curve(g, w);
      value[m] = acc.value();
      n[m] = acc.weight;
      value[m + 1] = auc(curve);
      value[m + 2] = curve.back();
      double gn = 0;
      for (uint32_t i : benchmarks_.members[g]) gn += w[i];
      n[m + 1] = n[m + 2] = gn;
      accuracies.push_back(value[m]);
      total_n += acc.weight;
      m += 3;
    }
    value[0] = mean_of(accuracies);
    n[0] = total_n;
  }

  std::vector<Curve> curves(std::span<const double> w) const override {
    std::vector<Curve> out;
    for (int g : order_) out.push_back({"best_of_k/" + benchmarks_.keys[g], weighted_curve(g, w)});
    return out;
  }

 private:
  std::vector<double> weighted_curve(int g, std::span<const double> w) const {
    std::vector<double> sum(k_max_[g], 0.0);
    double weight = 0;
    for (uint32_t i : benchmarks_.members[g]) {
      for (size_t k = 0; k < sum.size(); ++k) sum[k] += w[i] * curve_[i][k];
      weight += w[i];
    }
    for (double& v : sum) v = weight > 0 ? v / weight : kNaN;
    return sum;
  }

  static double auc(const std::vector<double>& curve) {
    if (curve.size() == 1) return curve[0];
    double area = 0;
    for (size_t k = 0; k + 1 < curve.size(); ++k) area += 0.5 * (curve[k] + curve[k + 1]);
    return area / double(curve.size() - 1);
  }

  std::vector<double> pair_accuracy_, has_pairs_;
  std::vector<std::vector<double>> curve_;
  std::vector<size_t> k_max_;
  Groups benchmarks_;
  std::vector<int> order_;
};

Result<std::unique_ptr<Rule>> make_ppe_correctness_rule(std::span<const ScoredItem> items) {
  return std::unique_ptr<Rule>(std::make_unique<PpeCorrectnessRule>(items));
}

}  // namespace

SYNPREF_BENCHMARK({.name = "ppe-correctness",
                   .column = "PPE Corr",
                   .order = 400,
                   .load_file = load_ppe_correctness_file,
                   .make_rule = make_ppe_correctness_rule});

}  // namespace synpref::eval
