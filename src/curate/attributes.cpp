// src/curate/attributes.cpp: taxonomy, answer schema, prompt context and the strict answer parser.
#include "synpref/curate/attributes.h"

#include <simdjson.h>

#include <algorithm>
#include <set>

#include "common/json.h"
#include "synpref/common/io.h"
#include "synpref/common/text.h"
#include "synpref/curate/prompts.h"

namespace synpref::curate {

namespace {

bool valid_category_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

std::string quoted_list(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += ", ";
    text::append_json_string(out, names[i]);
  }
  return out;
}

template <size_t N>
std::vector<std::string> to_strings(const std::array<std::string_view, N>& values) {
  return {values.begin(), values.end()};
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) out += (i ? ", " : "") + names[i];
  return out;
}

// One of a closed set of strings.
Result<std::string> get_enum(simdjson::dom::object obj, std::string_view key,
                             const std::vector<std::string>& allowed) {
  SP_ASSIGN_OR_RETURN(std::string_view value, json::get_string(obj, key, {}, "attributes answer"));
  if (std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
    return data_error("field '" + std::string(key) + "' must be one of " + joined(allowed) + ", found '" +
                      std::string(value) + "'");
  }
  return std::string(value);
}

Result<std::string> get_desired_attributes(simdjson::dom::object obj) {
  std::vector<std::string> items;
  auto field = json::find_field(obj, "desired_attributes");
  std::string_view joined_items;
  if (field && field->get_string().get(joined_items) == simdjson::SUCCESS) {
    // One string of phrases separated by ';' (what many judges write when not held to a schema).
    while (!joined_items.empty()) {
      size_t end = joined_items.find(';');
      items.emplace_back(joined_items.substr(0, end));
      if (end == std::string_view::npos) break;
      joined_items.remove_prefix(end + 1);
    }
  } else {
    SP_ASSIGN_OR_RETURN(items, json::get_string_array(obj, "desired_attributes", {}, "attributes answer"));
  }
  if (items.empty() || items.size() > kMaxDesiredAttributes) {
    return data_error("field 'desired_attributes' must hold 1 to " + std::to_string(kMaxDesiredAttributes) +
                      " phrases, found " + std::to_string(items.size()));
  }
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string where = "field 'desired_attributes[" + std::to_string(i) + "]'";
    std::string_view item = text::trim(items[i]);
    if (item.empty()) return data_error(where + " is empty");
    if (item.size() > kMaxDesiredAttributeBytes) {
      return data_error(where + " is longer than " + std::to_string(kMaxDesiredAttributeBytes) + " bytes");
    }
    if (item.find('\n') != std::string_view::npos || item.find('\r') != std::string_view::npos) {
      return data_error(where + " contains a line break; each attribute must be a short phrase");
    }
    if (i) out.push_back('\n');
    out += item;
  }
  return out;
}

Status check_fields(simdjson::dom::object obj) {
  static const std::set<std::string_view> kFields = {"task_category", "objectivity", "controversiality",
                                                     "desired_attributes", "annotation_guideline"};
  for (auto field : obj) {
    if (!kFields.count(field.key)) {
      return data_error("unexpected field '" + std::string(field.key) +
                        "' (an attributes answer has exactly task_category, objectivity, controversiality, "
                        "desired_attributes, annotation_guideline)");
    }
  }
  return Status::ok();
}

}  // namespace

bool Taxonomy::contains(std::string_view name) const {
  return std::find(categories.begin(), categories.end(), name) != categories.end();
}

Taxonomy default_taxonomy() {
  return Taxonomy{{"math", "comparison", "sorting", "instruction_following", "safety", "coding", "reasoning",
                   "knowledge_qa", "writing", "summarization", "translation", "chat", "roleplay", "advice",
                   "other"}};
}

Result<Taxonomy> parse_taxonomy(std::string_view json_text) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto error = parser.parse(json_text.data(), json_text.size()).get(root)) {
    return data_error(std::string("taxonomy is not valid JSON: ") + simdjson::error_message(error));
  }
  simdjson::dom::array names;
  if (root.is_object()) {
    SP_ASSIGN_OR_RETURN(names,
                        json::get_array(root.get_object().value_unsafe(), "categories", {}, "taxonomy"));
  } else if (root.is_array()) {
    names = root.get_array().value_unsafe();
  } else {
    return data_error("taxonomy must be a JSON array of category names or an object {\"categories\": [...]}");
  }
  Taxonomy taxonomy;
  size_t index = 0;
  for (simdjson::dom::element entry : names) {
    const std::string where = "categories[" + std::to_string(index++) + "]";
    std::string_view name;
    if (entry.get_string().get(name)) return data_error(where + " must be a string");
    if (!valid_category_name(name)) {
      return data_error(where + ": '" + std::string(name) +
                        "' must be 1 to 64 lowercase letters, digits and '_'");
    }
    if (taxonomy.contains(name)) return data_error(where + ": '" + std::string(name) + "' appears twice");
    taxonomy.categories.emplace_back(name);
  }
  if (taxonomy.categories.empty())
    return data_error("categories is empty; a taxonomy needs at least one category");
  return taxonomy;
}

Result<Taxonomy> load_taxonomy(const std::string& path) {
  SP_ASSIGN_OR_RETURN(std::string json_text, io::read_file(path, 1 << 20));
  auto taxonomy = parse_taxonomy(json_text);
  if (!taxonomy.is_ok()) return taxonomy.status().with_context(path);
  return taxonomy;
}

std::string attributes_json_schema(const Taxonomy& taxonomy) {
  std::string schema = R"({"type":"object","additionalProperties":false,)"
                       R"("required":["task_category","objectivity","controversiality","desired_attributes",)"
                       R"("annotation_guideline"],"properties":{)";
  schema += R"("task_category":{"type":"string","enum":[)" + quoted_list(taxonomy.categories) + "]},";
  schema +=
      R"("objectivity":{"type":"string","enum":[)" + quoted_list(to_strings(kObjectivityValues)) + "]},";
  schema += R"("controversiality":{"type":"string","enum":[)" +
            quoted_list(to_strings(kControversialityValues)) + "]},";
  schema += R"("desired_attributes":{"type":"array","minItems":1,"maxItems":)" +
            std::to_string(kMaxDesiredAttributes) +
            R"(,"items":{"type":"string","minLength":1,"maxLength":)" +
            std::to_string(kMaxDesiredAttributeBytes) + "}},";
  schema += R"("annotation_guideline":{"type":"string","minLength":1,"maxLength":)" +
            std::to_string(kMaxGuidelineBytes) + "}}}";
  return schema;
}

chat::Value attributes_prompt_context(const data::Record& pair, bool swapped, const Taxonomy& taxonomy,
                                      bool json_schema) {
  SP_CHECK(pair.responses.size() == 2);
  auto strings = [](const std::vector<std::string>& names) {
    std::vector<chat::Value> items;
    for (const auto& name : names) items.push_back(chat::Value::string(name));
    return chat::Value::list(std::move(items));
  };
  const std::string& first = swapped ? pair.rejected().content : pair.chosen().content;
  const std::string& second = swapped ? pair.chosen().content : pair.rejected().content;
  auto key = [](const char* name) { return chat::Value::string(name); };
  return chat::Value::dict({
      {key("messages"), messages_value(pair.context)},
      {key("candidate_1"), chat::Value::string(first)},
      {key("candidate_2"), chat::Value::string(second)},
      {key("categories"), strings(taxonomy.categories)},
      {key("objectivity_values"), strings(to_strings(kObjectivityValues))},
      {key("controversiality_values"), strings(to_strings(kControversialityValues))},
      {key("json_schema"), chat::Value::boolean(json_schema)},
  });
}

std::string_view strip_answer_wrappers(std::string_view answer) {
  std::string_view s = text::trim(answer);
  if (s.starts_with("<think>")) {
    size_t end = s.find("</think>");
    if (end != std::string_view::npos) s = text::trim(s.substr(end + 8));
  }
  if (s.starts_with("```")) {
    size_t line_end = s.find('\n');
    size_t close = s.rfind("```");
    if (line_end != std::string_view::npos && close != std::string_view::npos && close > line_end) {
      s = text::trim(s.substr(line_end + 1, close - line_end - 1));
    }
  }
  return s;
}

Result<data::Attributes> parse_attributes(std::string_view answer, const Taxonomy& taxonomy) {
  std::string_view body = strip_answer_wrappers(answer);
  if (!body.starts_with("{")) return data_error("the answer is not a JSON object");
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto error = parser.parse(body.data(), body.size()).get(root)) {
    return data_error(std::string("the answer is not valid JSON: ") + simdjson::error_message(error));
  }
  simdjson::dom::object obj;
  if (root.get_object().get(obj)) return data_error("the answer is not a JSON object");
  SP_RETURN_IF_ERROR(check_fields(obj));

  data::Attributes attributes;
  SP_ASSIGN_OR_RETURN(attributes.task_category, get_enum(obj, "task_category", taxonomy.categories));
  SP_ASSIGN_OR_RETURN(attributes.objectivity, get_enum(obj, "objectivity", to_strings(kObjectivityValues)));
  SP_ASSIGN_OR_RETURN(attributes.controversiality,
                      get_enum(obj, "controversiality", to_strings(kControversialityValues)));
  SP_ASSIGN_OR_RETURN(attributes.desired_attributes, get_desired_attributes(obj));
  SP_ASSIGN_OR_RETURN(std::string_view guideline,
                      json::get_string(obj, "annotation_guideline", {}, "attributes answer"));
  guideline = text::trim(guideline);
  if (guideline.empty()) return data_error("field 'annotation_guideline' is empty");
  if (guideline.size() > kMaxGuidelineBytes) {
    return data_error("field 'annotation_guideline' is longer than " + std::to_string(kMaxGuidelineBytes) +
                      " bytes");
  }
  attributes.annotation_guideline = std::string(guideline);
  return attributes;
}

std::vector<std::string> desired_attribute_list(const data::Attributes& attributes) {
  std::vector<std::string> items;
  std::string_view rest = attributes.desired_attributes;
  while (!rest.empty()) {
    size_t end = rest.find('\n');
    std::string_view item = text::trim(rest.substr(0, end));
    if (!item.empty()) items.emplace_back(item);
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end + 1);
  }
  return items;
}

chat::Value attributes_value(const data::Attributes& attributes) {
  auto entry = [](const char* key, const std::string& value) {
    return std::pair{chat::Value::string(key), chat::Value::string(value)};
  };
  return chat::Value::dict({entry("task_category", attributes.task_category),
                            entry("objectivity", attributes.objectivity),
                            entry("controversiality", attributes.controversiality),
                            entry("desired_attributes", attributes.desired_attributes),
                            entry("annotation_guideline", attributes.annotation_guideline)});
}

}  // namespace synpref::curate
