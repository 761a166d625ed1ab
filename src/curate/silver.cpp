// src/curate/silver.cpp: candidate order, gold example selection, silver prompt context, answer
// parsing, self-consistency and cross-judge aggregation (all pure).
#include "synpref/curate/silver.h"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>

#include "synpref/common/hash.h"
#include "synpref/common/text.h"
#include "synpref/curate/attributes.h"
#include "synpref/curate/prompts.h"

namespace synpref::curate {

namespace {

uint64_t keyed_hash(uint64_t seed, std::string_view a, std::string_view b = {}) {
  std::string key;
  key.reserve(a.size() + b.size() + 1);
  key.append(a);
  key.push_back('\0');
  key.append(b);
  return hash64(key, seed);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view last_nonempty_line(std::string_view s) {
  s = text::trim(s);
  size_t start = s.rfind('\n');
  return text::trim(start == std::string_view::npos ? s : s.substr(start + 1));
}

Preference parse_text_preference(std::string_view answer) {
  std::string line = lower(last_nonempty_line(answer));
  line.erase(std::remove(line.begin(), line.end(), '*'), line.end());
  std::string_view rest = text::trim(line);
  if (rest.ends_with(".")) rest.remove_suffix(1);
  if (!rest.starts_with("preferred:")) return Preference::unparseable;
  rest = text::trim(rest.substr(10));
  if (rest == "candidate 1") return Preference::candidate_1;
  if (rest == "candidate 2") return Preference::candidate_2;
  return Preference::unparseable;
}

Preference parse_json_preference(std::string_view answer) {
  std::string_view body = strip_answer_wrappers(answer);
  if (!body.starts_with("{")) return Preference::unparseable;
  simdjson::dom::parser parser;
  simdjson::dom::object obj;
  if (parser.parse(body.data(), body.size()).get_object().get(obj)) return Preference::unparseable;
  if (obj.size() != 1) return Preference::unparseable;
  int64_t value = 0;
  if (obj["preferred"].get_int64().get(value)) return Preference::unparseable;
  if (value == 1) return Preference::candidate_1;
  if (value == 2) return Preference::candidate_2;
  return Preference::unparseable;
}

chat::Value example_value(const GoldExample& example, uint64_t seed) {
  bool swapped = candidate_swapped(seed, example.pair.id);
  auto key = [](const char* name) { return chat::Value::string(name); };
  const data::Record& pair = example.pair;
  return chat::Value::dict({
      {key("messages"), messages_value(pair.context)},
      {key("candidate_1"), chat::Value::string(swapped ? pair.rejected().content : pair.chosen().content)},
      {key("candidate_2"), chat::Value::string(swapped ? pair.chosen().content : pair.rejected().content)},
      {key("preferred"), chat::Value::integer(candidate_of_verdict(+1, swapped))},
      {key("attributes"), attributes_value(example.attributes)},
  });
}

SilverLabel abstain(SilverLabel label, std::string reason) {
  label.verdict = 0;
  label.confidence = 0;
  label.reason = std::move(reason);
  return label;
}

}  // namespace

bool candidate_swapped(uint64_t seed, std::string_view pair_id) {
  // The top bit: XXH3's output bits are all well mixed; any one of them is a fair coin.
  return (keyed_hash(seed, "candidate-order", pair_id) >> 63) != 0;
}

int verdict_of_candidate(int candidate, bool swapped) {
  SP_CHECK(candidate == 1 || candidate == 2);
  bool first_is_chosen = !swapped;
  return (candidate == 1) == first_is_chosen ? +1 : -1;
}

int candidate_of_verdict(int verdict, bool swapped) {
  SP_CHECK(verdict == 1 || verdict == -1);
  bool prefers_chosen = verdict == 1;
  return prefers_chosen != swapped ? 1 : 2;
}

std::vector<size_t> select_gold_examples(const std::vector<GoldCandidate>& gold, std::string_view target_id,
                                         std::string_view target_category, uint64_t seed, int max_examples) {
  struct Ranked {
    bool other_category;
    uint64_t key;
    size_t index;
    auto operator<=>(const Ranked&) const = default;
  };
  std::vector<Ranked> ranked;
  ranked.reserve(gold.size());
  for (size_t i = 0; i < gold.size(); ++i) {
    if (gold[i].pair_id == target_id) continue;
    bool other = target_category.empty() || gold[i].task_category != target_category;
    ranked.push_back({other, keyed_hash(seed, target_id, gold[i].pair_id), i});
  }
  size_t n = std::min(ranked.size(), static_cast<size_t>(std::max(0, max_examples)));
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<ptrdiff_t>(n), ranked.end());
  std::vector<size_t> out;
  for (size_t i = 0; i < n; ++i) out.push_back(ranked[i].index);
  return out;
}

chat::Value silver_prompt_context(const data::Record& target, const data::Attributes& target_attributes,
                                  bool swapped, const std::vector<GoldExample>& examples, uint64_t seed,
                                  bool json_schema) {
  SP_CHECK(target.responses.size() == 2);
  std::vector<chat::Value> example_values;
  for (const GoldExample& example : examples) {
    SP_CHECK(example.pair.responses.size() == 2);
    example_values.push_back(example_value(example, seed));
  }
  auto key = [](const char* name) { return chat::Value::string(name); };
  return chat::Value::dict({
      {key("guideline"), chat::Value::string(target_attributes.annotation_guideline)},
      {key("attributes"), attributes_value(target_attributes)},
      {key("examples"), chat::Value::list(std::move(example_values))},
      {key("messages"), messages_value(target.context)},
      {key("candidate_1"),
       chat::Value::string(swapped ? target.rejected().content : target.chosen().content)},
      {key("candidate_2"),
       chat::Value::string(swapped ? target.chosen().content : target.rejected().content)},
      {key("json_schema"), chat::Value::boolean(json_schema)},
  });
}

std::string silver_json_schema() {
  return R"({"type":"object","additionalProperties":false,"required":["preferred"],)"
         R"("properties":{"preferred":{"type":"integer","enum":[1,2]}}})";
}

Preference parse_preference(std::string_view answer, bool json_mode) {
  return json_mode ? parse_json_preference(answer) : parse_text_preference(answer);
}

JudgeVote self_consistency(const std::vector<int>& sample_verdicts) {
  JudgeVote vote;
  vote.n_samples = static_cast<int>(sample_verdicts.size());
  for (int verdict : sample_verdicts) {
    SP_CHECK(verdict >= -1 && verdict <= 1);
    if (verdict == 0) continue;
    ++vote.n_parseable;
    if (verdict > 0) ++vote.n_for_chosen;
  }
  int n_against = vote.n_parseable - vote.n_for_chosen;
  if (vote.n_parseable == 0 || vote.n_for_chosen == n_against) return vote;
  vote.verdict = vote.n_for_chosen > n_against ? +1 : -1;
  vote.confidence = static_cast<double>(std::max(vote.n_for_chosen, n_against)) / vote.n_parseable;
  return vote;
}

Result<AggregateMode> parse_aggregate_mode(std::string_view name) {
  if (name == "majority") return AggregateMode::majority;
  if (name == "unanimity") return AggregateMode::unanimity;
  if (name == "weighted") return AggregateMode::weighted;
  return invalid_argument("aggregate mode '" + std::string(name) +
                          "' is not one of majority, unanimity, weighted");
}

std::string_view aggregate_mode_name(AggregateMode mode) {
  switch (mode) {
    case AggregateMode::majority:
      return "majority";
    case AggregateMode::unanimity:
      return "unanimity";
    case AggregateMode::weighted:
      return "weighted";
  }
  return "?";
}

Status validate(const AggregateOptions& options) {
  for (const auto& [judge, weight] : options.weights) {
    if (!std::isfinite(weight) || weight <= 0) {
      return invalid_argument("weights." + judge + " must be a finite number > 0, found " +
                              std::to_string(weight));
    }
  }
  if (options.min_votes < 1) return invalid_argument("min_votes must be >= 1");
  return Status::ok();
}

SilverLabel aggregate_votes(const std::vector<NamedVote>& votes, const AggregateOptions& options) {
  // Judge-name order makes the weighted sums independent of the caller's order (floating point
  // addition is not associative).
  std::vector<const NamedVote*> sorted;
  for (const NamedVote& vote : votes) sorted.push_back(&vote);
  std::sort(sorted.begin(), sorted.end(),
            [](const NamedVote* a, const NamedVote* b) { return a->judge < b->judge; });

  SilverLabel label;
  label.n_judges = static_cast<int>(votes.size());
  double weight_for = 0, weight_against = 0;
  int n_for = 0, n_against = 0;
  for (const NamedVote* vote : sorted) {
    if (vote->vote.verdict == 0) continue;
    double weight = 1;
    if (options.mode == AggregateMode::weighted) {
      auto it = options.weights.find(vote->judge);
      if (it != options.weights.end()) weight = it->second;
    }
    (vote->vote.verdict > 0 ? weight_for : weight_against) += weight;
    (vote->vote.verdict > 0 ? n_for : n_against) += 1;
  }
  label.n_voting = n_for + n_against;
  if (label.n_voting == 0) return abstain(label, "no_votes");
  if (label.n_voting < options.min_votes) return abstain(label, "too_few_votes");

  switch (options.mode) {
    case AggregateMode::unanimity:
      if (label.n_voting != label.n_judges || (n_for != 0 && n_against != 0))
        return abstain(label, "not_unanimous");
      label.verdict = n_for > 0 ? +1 : -1;
      label.reason = "unanimous";
      break;
    case AggregateMode::majority:
      if (n_for == n_against) return abstain(label, "tie");
      label.verdict = n_for > n_against ? +1 : -1;
      label.reason = "majority";
      break;
    case AggregateMode::weighted:
      // Sums that differ only by rounding are a tie (0.1 + 0.2 against 0.3 must not pick a side).
      if (std::abs(weight_for - weight_against) <= 1e-9 * (weight_for + weight_against))
        return abstain(label, "tie");
      label.verdict = weight_for > weight_against ? +1 : -1;
      label.reason = "weighted";
      break;
  }
  label.confidence = std::max(weight_for, weight_against) / (weight_for + weight_against);
  return label;
}

void PositionBias::add(Preference preference, bool swapped) {
  if (preference == Preference::unparseable) return;
  ++parseable;
  if (preference == Preference::candidate_1) ++preferred_candidate_1;
  if (!swapped) ++chosen_shown_first;
}

double PositionBias::share_candidate_1() const {
  return parseable ? static_cast<double>(preferred_candidate_1) / parseable : std::nan("");
}

double PositionBias::expected_share() const {
  return parseable ? static_cast<double>(chosen_shown_first) / parseable : std::nan("");
}

}  // namespace synpref::curate
