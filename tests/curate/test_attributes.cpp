// Attributes: taxonomy parsing, the strict answer parser, the JSON schema and the default prompt.
#include <gtest/gtest.h>

#include <fstream>

#include "synpref/curate/attributes.h"
#include "synpref/curate/prompts.h"
#include "test_util.h"

namespace synpref::curate {
namespace {

const char* kValid = R"({"task_category": "math", "objectivity": "objective", "controversiality": "low",
  "desired_attributes": ["correct final answer", " shows the steps "],
  "annotation_guideline": "Prefer the reply whose final number is correct."})";

data::Record make_pair() {
  data::Record record;
  record.id = "pair-1";
  record.context = {{data::Role::user, "What is 2+3?"}};
  record.responses = {{"5"}, {"6"}};
  return record;
}

TEST(Attributes, ParsesAValidAnswer) {
  auto attributes = parse_attributes(kValid, default_taxonomy());
  ASSERT_TRUE(attributes.is_ok()) << attributes.status().message();
  EXPECT_EQ(attributes->task_category, "math");
  EXPECT_EQ(attributes->objectivity, "objective");
  EXPECT_EQ(attributes->controversiality, "low");
  EXPECT_EQ(attributes->desired_attributes, "correct final answer\nshows the steps");
  EXPECT_EQ(attributes->annotation_guideline, "Prefer the reply whose final number is correct.");
  EXPECT_EQ(desired_attribute_list(*attributes),
            (std::vector<std::string>{"correct final answer", "shows the steps"}));
}

TEST(Attributes, ToleratesThinkBlockAndCodeFence) {
  std::string answer = std::string("<think>the user asks for a sum</think>\n```json\n") + kValid + "\n```\n";
  auto attributes = parse_attributes(answer, default_taxonomy());
  ASSERT_TRUE(attributes.is_ok()) << attributes.status().message();
  EXPECT_EQ(attributes->task_category, "math");
}

void expect_error(const std::string& answer, const std::string& fragment) {
  auto attributes = parse_attributes(answer, default_taxonomy());
  ASSERT_FALSE(attributes.is_ok()) << "accepted: " << answer;
  EXPECT_NE(attributes.status().message().find(fragment), std::string::npos) << attributes.status().message();
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

TEST(Attributes, RejectsInvalidAnswersNamingTheField) {
  expect_error("The pair is about math.", "not a JSON object");
  expect_error("{\"task_category\": ", "not valid JSON");
  expect_error("[1, 2]", "not a JSON object");
  expect_error(std::string(kValid) + " trailing words", "not valid JSON");
  expect_error(replaced(kValid, "\"math\"", "\"astrology\""), "field 'task_category' must be one of");
  expect_error(replaced(kValid, "\"objective\"", "\"neutral\""), "field 'objectivity'");
  expect_error(replaced(kValid, "\"low\"", "3"), "controversiality");
  expect_error(replaced(kValid, "\"task_category\": \"math\", ", ""), "task_category");
  expect_error(replaced(kValid, "[\"correct final answer\", \" shows the steps \"]", "[]"),
               "desired_attributes");
  expect_error(replaced(kValid, "[\"correct final answer\", \" shows the steps \"]", "3"),
               "desired_attributes");
  expect_error(replaced(kValid, "\" shows the steps \"", "\"  \""), "desired_attributes[1]");
  expect_error(replaced(kValid, "\" shows the steps \"", "\"two\\nlines\""), "line break");
  expect_error(replaced(kValid, "\"Prefer the reply whose final number is correct.\"", "\" \""),
               "annotation_guideline");
  expect_error(replaced(kValid, "\"Prefer the reply whose final number is correct.\"",
                        "\"" + std::string(kMaxGuidelineBytes + 1, 'x') + "\""),
               "annotation_guideline");
  expect_error(replaced(kValid, "\"low\",", "\"low\", \"confidence\": 0.9,"),
               "unexpected field 'confidence'");
  std::string nine = "[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\"]";
  expect_error(replaced(kValid, "[\"correct final answer\", \" shows the steps \"]", nine), "1 to 8");
}

TEST(Attributes, DesiredAttributesMayBeOneSemicolonSeparatedString) {
  auto attributes = parse_attributes(
      replaced(kValid, "[\"correct final answer\", \" shows the steps \"]", "\"correct; concise \""),
      default_taxonomy());
  ASSERT_TRUE(attributes.is_ok()) << attributes.status().message();
  EXPECT_EQ(attributes->desired_attributes, "correct\nconcise");
  auto empty_item = parse_attributes(
      replaced(kValid, "[\"correct final answer\", \" shows the steps \"]", "\"correct;;x\""),
      default_taxonomy());
  ASSERT_FALSE(empty_item.is_ok());
  EXPECT_NE(empty_item.status().message().find("desired_attributes[1]"), std::string::npos);
  // The synth data layer's values are valid answers.
  auto synth =
      parse_attributes(replaced(replaced(kValid, "\"objective\"", "\"normative\""), "\"low\"", "\"none\""),
                       default_taxonomy());
  EXPECT_TRUE(synth.is_ok()) << synth.status().message();
}

TEST(Attributes, CategoryMustBeInTheConfiguredTaxonomy) {
  auto taxonomy = parse_taxonomy(R"({"categories": ["coding", "math"]})");
  ASSERT_TRUE(taxonomy.is_ok()) << taxonomy.status().message();
  EXPECT_TRUE(parse_attributes(kValid, *taxonomy).is_ok());
  auto only_coding = parse_taxonomy(R"(["coding"])");
  ASSERT_TRUE(only_coding.is_ok());
  auto rejected = parse_attributes(kValid, *only_coding);
  ASSERT_FALSE(rejected.is_ok());
  EXPECT_NE(rejected.status().message().find("must be one of coding"), std::string::npos);
}

TEST(Attributes, TaxonomyErrorsNameTheEntry) {
  EXPECT_NE(parse_taxonomy(R"(["math", "Math"])").status().message().find("categories[1]"),
            std::string::npos);
  EXPECT_NE(parse_taxonomy(R"(["math", "math"])").status().message().find("twice"), std::string::npos);
  EXPECT_NE(parse_taxonomy(R"([])").status().message().find("empty"), std::string::npos);
  EXPECT_NE(parse_taxonomy(R"([3])").status().message().find("categories[0]"), std::string::npos);
  EXPECT_FALSE(parse_taxonomy("{").is_ok());
  Taxonomy defaults = default_taxonomy();
  for (const char* synth : {"math", "comparison", "sorting", "instruction_following", "safety"}) {
    EXPECT_TRUE(defaults.contains(synth)) << synth;
  }
}

TEST(Attributes, SchemaIsJsonListingTheTaxonomy) {
  std::string schema = attributes_json_schema(default_taxonomy());
  auto parsed = chat::Value::parse_json(schema);
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().message();
  EXPECT_NE(schema.find("\"instruction_following\""), std::string::npos);
  EXPECT_NE(schema.find("\"additionalProperties\":false"), std::string::npos);
}

TEST(Attributes, DefaultPromptShowsCandidatesInTheGivenOrder) {
  auto prompt = CompiledPrompt::compile(default_prompt(PromptKind::attributes));
  ASSERT_TRUE(prompt.is_ok()) << prompt.status().message();
  data::Record pair = make_pair();
  for (bool swapped : {false, true}) {
    auto messages = prompt->render(attributes_prompt_context(pair, swapped, default_taxonomy(), false));
    ASSERT_TRUE(messages.is_ok()) << messages.status().message();
    ASSERT_EQ(messages->size(), 2u);
    EXPECT_EQ((*messages)[0].role, "system");
    const std::string& user = (*messages)[1].content;
    EXPECT_NE(user.find("What is 2+3?"), std::string::npos);
    EXPECT_NE(user.find("instruction_following"), std::string::npos);
    size_t one = user.find("# Candidate 1\n");
    size_t two = user.find("# Candidate 2\n");
    ASSERT_NE(one, std::string::npos);
    ASSERT_NE(two, std::string::npos);
    EXPECT_EQ(user.substr(one + 14, 1), swapped ? "6" : "5");
    EXPECT_EQ(user.substr(two + 14, 1), swapped ? "5" : "6");
  }
}

TEST(Attributes, UserTemplateOverrideFromAFile) {
  testing::TempDir dir;
  std::string path = dir.path() + "/mine.jinja";
  std::ofstream(path) << "Classify: {{ messages[0].content }} as one of {{ categories | length }} categories";
  auto loaded = load_prompt(PromptKind::attributes, path);
  ASSERT_TRUE(loaded.is_ok()) << loaded.status().message();
  auto prompt = CompiledPrompt::compile(*loaded);
  ASSERT_TRUE(prompt.is_ok());
  auto messages = prompt->render(attributes_prompt_context(make_pair(), false, default_taxonomy(), true));
  ASSERT_TRUE(messages.is_ok()) << messages.status().message();
  EXPECT_EQ(messages->back().content, "Classify: What is 2+3? as one of 15 categories");
  EXPECT_NE(prompt->fingerprint(),
            CompiledPrompt::compile(default_prompt(PromptKind::attributes))->fingerprint());

  std::ofstream(path) << "{% if %}";
  auto broken = CompiledPrompt::compile(*load_prompt(PromptKind::attributes, path));
  ASSERT_FALSE(broken.is_ok());
  EXPECT_NE(broken.status().message().find("attributes user template"), std::string::npos);
  EXPECT_EQ(load_prompt(PromptKind::attributes, dir.path() + "/missing.jinja").status().code(),
            StatusCode::not_found);
}

}  // namespace
}  // namespace synpref::curate
