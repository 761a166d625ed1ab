// PPE human preference (lmarena-ai/PPE-Human-Preference-V1): accuracy against `winner`,
// decided battles only.
// Loader (the released format and field names) and official scoring rule; registered below.
#include <algorithm>
#include <cmath>
#include <limits>

#include "eval/registry.h"

namespace synpref::eval {

namespace {

using simdjson::dom::element_type;

// ---- PPE human preference (lmarena-ai/PPE-Human-Preference-V1) ------------------------------

constexpr std::string_view kPpePref =
    "PPE human-preference record: question_id, prompt, response_1, response_2, winner";

Status load_ppe_preference_file(DatasetBuilder& builder, const std::string& path) {
  return for_each_record(path, [&](simdjson::dom::object obj, const RecordWhere& where) -> Status {
    Item item;
    SP_ASSIGN_OR_RETURN(item.id, get_id(obj, "question_id", where, kPpePref));
    SP_ASSIGN_OR_RETURN(std::string_view winner, get_string(obj, "winner", where, kPpePref));
    if (winner == "tie" || winner == "tie (bothbad)") {
      builder.exclude(
          "PPE human-preference records whose winner is a tie are excluded, as in PPE's accuracy");
      return Status::ok();
    }
    if (winner != "model_a" && winner != "model_b") {
      return located(where, "field 'winner' is '" + std::string(winner) +
                                "'; expected model_a, model_b, tie or tie (bothbad)");
    }
    item.label = winner == "model_a" ? 0 : 1;
    SP_ASSIGN_OR_RETURN(item.context, read_context(obj, "prompt", where, kPpePref));
    SP_ASSIGN_OR_RETURN(std::string_view r1, get_string(obj, "response_1", where, kPpePref));
    SP_ASSIGN_OR_RETURN(std::string_view r2, get_string(obj, "response_2", where, kPpePref));
    item.responses = {std::string(r1), std::string(r2)};
    item.subset = "all";
    SP_ASSIGN_OR_RETURN(auto language, get_optional_string(obj, "language", where, kPpePref));
    if (language) item.tags.emplace_back("language", std::string(*language));
    for (const char* flag : {"hard_prompt", "easy_prompt", "if_prompt", "math_prompt", "is_code"}) {
      simdjson::dom::element value;
      if (obj.at_key(flag).get(value) == simdjson::SUCCESS && value.type() == element_type::BOOL) {
        item.tags.emplace_back(flag, value.get_bool().value_unsafe() ? "true" : "false");
      }
    }
    return builder.add(std::move(item), where);
  });
}

// ---- PPE human preference: accuracy against `winner`, ties excluded at load ----------------

class PpePreferenceRule : public Rule {
 public:
  explicit PpePreferenceRule(std::span<const ScoredItem> items) {
    outcome_.resize(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      const auto& s = *items[i].scores;
      int label = items[i].item->label;
      outcome_[i] = (label == 0 && s[0] > s[1]) || (label == 1 && s[1] > s[0]) ? 1.0 : 0.0;
      all_.push_back(uint32_t(i));
      std::string_view language = items[i].item->tag("language");
      if (!language.empty()) languages_.add(std::string(language), uint32_t(i));
      for (const char* flag : {"hard_prompt", "easy_prompt", "if_prompt", "math_prompt", "is_code"}) {
        if (items[i].item->tag(flag) == "true") flags_.add(flag, uint32_t(i));
      }
    }
    names_.push_back("accuracy");
    for (const auto& key : flags_.keys) names_.push_back("flag/" + key);
    order_.resize(languages_.keys.size());
    for (size_t g = 0; g < order_.size(); ++g) order_[g] = int(g);
    std::sort(order_.begin(), order_.end(),
              [&](int a, int b) { return languages_.keys[a] < languages_.keys[b]; });
    for (int g : order_) names_.push_back("language/" + languages_.keys[g]);
    tie_policy =
        "PPE human preference: records whose winner is 'tie' or 'tie (bothbad)' are excluded (PPE accuracy "
        "is "
        "over decided battles). A pair is correct when the response that won has the strictly higher score; "
        "equal "
        "scores count as incorrect (synpref's choice: PPE's scoring code was not available to verify this "
        "case).";
  }

  void compute(std::span<const double> w, std::span<double> value, std::span<double> n) const override {
    value[0] = group_mean(all_, outcome_, w, &n[0]);
    size_t m = 1;
    for (const auto& members : flags_.members) {
      value[m] = group_mean(members, outcome_, w, &n[m]);
      ++m;
    }
    for (int g : order_) {
      value[m] = group_mean(languages_.members[g], outcome_, w, &n[m]);
      ++m;
    }
  }

 private:
  std::vector<double> outcome_;
  std::vector<uint32_t> all_;
  Groups languages_, flags_;
  std::vector<int> order_;
};

Result<std::unique_ptr<Rule>> make_ppe_preference_rule(std::span<const ScoredItem> items) {
  return std::unique_ptr<Rule>(std::make_unique<PpePreferenceRule>(items));
}

}  // namespace

SYNPREF_BENCHMARK({.name = "ppe-preference",
                   .column = "PPE Pref",
                   .order = 300,
                   .load_file = load_ppe_preference_file,
                   .make_rule = make_ppe_preference_rule});

}  // namespace synpref::eval
