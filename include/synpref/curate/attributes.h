// synpref/curate/attributes.h: preference attributes (report section 3.1, stage 1): a judge
// describes each pair with five attributes, returned as JSON and validated strictly here.
//
//   task_category        one name of a configurable taxonomy (Taxonomy; default_taxonomy())
//   objectivity          "objective" | "normative" | "mixed" | "subjective"
//   controversiality     "none" | "low" | "medium" | "high"
//   desired_attributes   1 to 8 short phrases (a JSON list, or one string separated by ';');
//                        stored in data::Attributes one per line
//   annotation_guideline free text (1 .. kMaxGuidelineBytes bytes)
//
// The answer must be exactly one JSON object with exactly those fields (see parse_attributes for
// the wrappers tolerated around it). An invalid answer is a data_error naming the field; nothing is
// ever defaulted. Value sets and why: docs/curation.md ("Attributes").
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "synpref/chat/value.h"
#include "synpref/common/status.h"
#include "synpref/data/record.h"

namespace synpref::curate {

// The synth data layer (data/synthetic.h) uses objective/normative and none/low: the same sets.
inline constexpr std::array<std::string_view, 4> kObjectivityValues = {"objective", "normative", "mixed",
                                                                       "subjective"};
inline constexpr std::array<std::string_view, 4> kControversialityValues = {"none", "low", "medium", "high"};
inline constexpr size_t kMaxDesiredAttributes = 8;
inline constexpr size_t kMaxDesiredAttributeBytes = 200;
inline constexpr size_t kMaxGuidelineBytes = 4000;

// The task categories a judge may choose from. Names are lowercase [a-z0-9_]+, unique.
struct Taxonomy {
  std::vector<std::string> categories;
  bool contains(std::string_view name) const;
};

// The synth categories (math, comparison, sorting, instruction_following, safety) plus general
// ones (coding, reasoning, knowledge_qa, writing, summarization, translation, chat, roleplay,
// advice, other).
Taxonomy default_taxonomy();

// Parses a taxonomy: a JSON array of names, or an object {"categories": [names]}. Errors name the
// entry ("categories[3]: 'Math' must be lowercase letters, digits and '_'").
Result<Taxonomy> parse_taxonomy(std::string_view json_text);
Result<Taxonomy> load_taxonomy(const std::string& path);  // errors prefixed with the path

// The JSON Schema (text) of a valid answer, sent as response_format to judges that support it.
std::string attributes_json_schema(const Taxonomy& taxonomy);

// The template context for the attributes prompt (prompts.h): messages (the pair's context),
// candidate_1 / candidate_2 (the two responses in the order candidate_swapped() gives for this
// pair, so the judge cannot learn which one the dataset preferred), categories,
// objectivity_values, controversiality_values, json_schema (bool). Precondition: a pair record.
chat::Value attributes_prompt_context(const data::Record& pair, bool swapped, const Taxonomy& taxonomy,
                                      bool json_schema);

// Validates a judge's answer and returns the attributes. Tolerated around the object: surrounding
// whitespace, one leading <think>...</think> block (reasoning models), and one Markdown code fence
// (```json ... ```). Everything else is a data_error naming the problem: no JSON object, invalid
// JSON, a missing/extra/mistyped field ("field 'objectivity' must be one of objective, mixed,
// subjective, found 'neutral'"), a category outside the taxonomy, empty or oversized text.
Result<data::Attributes> parse_attributes(std::string_view answer, const Taxonomy& taxonomy);

// The answer's JSON text with the tolerated wrappers removed (shared with the silver parser).
// Returns the input trimmed when there is no wrapper.
std::string_view strip_answer_wrappers(std::string_view answer);

// The desired attributes as a list (data::Attributes keeps them one per line).
std::vector<std::string> desired_attribute_list(const data::Attributes& attributes);

// The attributes as a template dict {task_category, objectivity, controversiality,
// desired_attributes, annotation_guideline}.
chat::Value attributes_value(const data::Attributes& attributes);

}  // namespace synpref::curate
