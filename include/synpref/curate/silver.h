// synpref/curate/silver.h: gold-guided pairwise silver labels (report section 3.2 and appendix D.3).
//
// One silver label comes from this chain of pure functions:
//   1. candidate_swapped(seed, pair id): the pair's two responses are shown as "Candidate 1" and
//      "Candidate 2" in an order that is a pure function of (seed, id), so a rerun shows the same
//      prompt (and hits the judge cache) and a verdict maps back to chosen/rejected.
//   2. select_gold_examples: up to 8 human-verified gold pairs, same task category first.
//   3. silver_prompt_context -> CompiledPrompt::render (prompts.h): guideline, examples with their
//      attributes, then the target pair.
//   4. parse_preference: each sampled answer -> Candidate 1, Candidate 2 or unparseable.
//   5. self_consistency: a judge's n samples -> one vote (majority of parseable samples; a tie or
//      no parseable sample abstains); confidence = agreement share.
//   6. aggregate_votes: the judges' votes -> one label (majority, unanimity or weighted); ties and
//      abstentions never become labels.
// Verdicts follow curate::Label: +1 = the pair's chosen is better, -1 = rejected is better,
// 0 = abstain. Choices the report leaves open and why: docs/curation.md ("Silver labels").
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "synpref/chat/value.h"
#include "synpref/common/status.h"
#include "synpref/data/record.h"

namespace synpref::curate {

inline constexpr int kMaxGoldExamples = 8;

// ---- 1. Candidate order

// True when the pair's rejected response is shown as Candidate 1. Roughly half the pairs are
// swapped, independently of the id's form.
bool candidate_swapped(uint64_t seed, std::string_view pair_id);

// The verdict (+1/-1) a preferred candidate (1 or 2) means for a pair shown in this order.
int verdict_of_candidate(int candidate, bool swapped);
// The candidate (1 or 2) that shows the response a verdict (+1/-1) prefers.
int candidate_of_verdict(int verdict, bool swapped);

// ---- 2. Gold examples

struct GoldCandidate {
  std::string pair_id;
  std::string task_category;
};

// Indices into `gold` of up to `max_examples` examples for the target pair: gold pairs of the
// target's category first, then the others, each group ordered by a hash of (seed, target id,
// gold id) so different targets see different examples but a rerun sees the same ones. The
// target itself is never its own example.
std::vector<size_t> select_gold_examples(const std::vector<GoldCandidate>& gold, std::string_view target_id,
                                         std::string_view target_category, uint64_t seed,
                                         int max_examples = kMaxGoldExamples);

// ---- 3. Prompt context

struct GoldExample {
  data::Record pair;            // a gold pair (its chosen is the human-verified better response)
  data::Attributes attributes;  // its attributes
};

// The silver template context: guideline (the target's annotation guideline), attributes (dict),
// examples (list of {messages, candidate_1, candidate_2, preferred (1|2), attributes}, each shown
// in its own seeded order), messages, candidate_1, candidate_2 (the target in order `swapped`),
// json_schema (bool). Precondition: pair records.
chat::Value silver_prompt_context(const data::Record& target, const data::Attributes& target_attributes,
                                  bool swapped, const std::vector<GoldExample>& examples, uint64_t seed,
                                  bool json_schema);

// The JSON Schema of a structured answer: {"preferred": 1|2}.
std::string silver_json_schema();

// ---- 4. Answer parsing

enum class Preference : int8_t { unparseable = 0, candidate_1 = 1, candidate_2 = 2 };

// Text answers: the last non-empty line must read "Preferred: Candidate 1" or "... 2" (case and
// surrounding whitespace, Markdown emphasis '*' and a final '.' ignored). JSON answers (json_mode):
// exactly one object {"preferred": 1|2} (integer), with the wrappers strip_answer_wrappers allows.
// Anything else is unparseable, never a default.
Preference parse_preference(std::string_view answer, bool json_mode);

// ---- 5. Self-consistency of one judge

struct JudgeVote {
  int verdict = 0;        // +1, -1, 0 = abstain
  double confidence = 0;  // share of parseable samples agreeing with the verdict (0 when abstaining)
  int n_samples = 0;      // answers received
  int n_parseable = 0;    // of which parseable
  int n_for_chosen = 0;   // parseable samples preferring the pair's chosen
};

// sample_verdicts: one per sample, +1 / -1, 0 for an unparseable sample. The vote is the majority
// of the parseable samples; a tie, or no parseable sample, abstains.
JudgeVote self_consistency(const std::vector<int>& sample_verdicts);

// ---- 6. Cross-judge aggregation

enum class AggregateMode { majority, unanimity, weighted };
Result<AggregateMode> parse_aggregate_mode(std::string_view name);  // "majority" | "unanimity" | "weighted"
std::string_view aggregate_mode_name(AggregateMode mode);

struct AggregateOptions {
  AggregateMode mode = AggregateMode::majority;
  // weighted: judge name -> weight (> 0, finite); a judge without an entry weighs 1.
  std::map<std::string, double> weights;
  // Judges that must have voted for a label: fewer voting (non-abstaining) judges abstain.
  int min_votes = 1;
};
Status validate(const AggregateOptions& options);  // errors name the field ("weights.judge-a")

struct NamedVote {
  std::string judge;
  JudgeVote vote;
};

struct SilverLabel {
  int verdict = 0;        // +1, -1, 0 = abstain
  double confidence = 0;  // weight share of the voting judges that agree (0 when abstaining)
  int n_judges = 0, n_voting = 0;
  std::string
      reason;  // "majority", "unanimous", "weighted", "tie", "no_votes", "too_few_votes", "not_unanimous"
};

// majority: more voting judges for one side than the other. unanimity: every judge (abstainers
// included) voted the same side. weighted: sign of the weighted vote sum. Ties abstain. The result
// does not depend on the order of `votes` (weights are summed in judge-name order).
// Precondition: validate(options) is ok; judge names are unique.
SilverLabel aggregate_votes(const std::vector<NamedVote>& votes, const AggregateOptions& options);

// ---- Position bias

// Per judge: how often it preferred Candidate 1, against how often Candidate 1 was the response
// the dataset prefers (what an unbiased judge that agreed with the dataset would show).
struct PositionBias {
  int64_t parseable = 0;
  int64_t preferred_candidate_1 = 0;
  int64_t chosen_shown_first = 0;  // parseable answers whose pair showed its chosen as Candidate 1
  void add(Preference preference, bool swapped);
  double share_candidate_1() const;  // NaN when nothing parseable
  double expected_share() const;     // NaN when nothing parseable
};

}  // namespace synpref::curate
