// Request bodies -> scoring work and scores -> response bodies, per endpoint (see requests.h).
#include "serve/requests.h"

#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "common/json.h"
#include "synpref/common/check.h"
#include "synpref/data/reader.h"
#include "synpref/score/scorer.h"

namespace synpref::serve {

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

RequestError bad(std::string message) {
  return {400, std::move(message)};
}
RequestError too_large(std::string message) {
  return {413, std::move(message)};
}

// The parsed body: a parser owns the document's memory, so both live together.
// Views of an element whose type was checked. (value_unsafe() returns into the temporary result,
// which a range-for would keep using after it is gone.)
simdjson::dom::array array_of(element value) {
  simdjson::dom::array array;
  SP_CHECK(!value.get_array().get(array));
  return array;
}
std::string_view string_of(element value) {
  std::string_view text;
  SP_CHECK(!value.get_string().get(text));
  return text;
}

struct Body {
  simdjson::dom::parser parser;
  simdjson::dom::object object;
};

Parsed parse_body(std::string_view text, Body& body) {
  simdjson::padded_string padded(text);
  element root;
  if (auto error = body.parser.parse(padded).get(root))
    return bad(std::string("request body is not valid JSON (") + simdjson::error_message(error) + ")");
  if (root.type() != element_type::OBJECT)
    return bad("request body must be a JSON object, found " + json::type_name(root.type()));
  SP_CHECK(!root.get_object().get(body.object));
  return std::nullopt;
}

std::optional<element> field(simdjson::dom::object object, std::string_view key) {
  element value;
  if (object.at_key(key).get(value)) return std::nullopt;
  return value;
}

Parsed check_count(std::string_view name, size_t count, const RequestLimits& limits) {
  if (count == 0) return bad("field '" + std::string(name) + "' is empty: nothing to score");
  if (static_cast<int64_t>(count) > limits.max_items)
    return too_large("field '" + std::string(name) + "' has " + std::to_string(count) +
                     " items, over this server's limit of " + std::to_string(limits.max_items) +
                     " per request (max_items): split the request");
  return std::nullopt;
}

Parsed check_sequence(const std::string& name, size_t n_tokens, const RequestLimits& limits) {
  if (n_tokens == 0) return bad(name + " is empty (no tokens to score)");
  if (n_tokens > limits.max_length)
    return too_large(name + " has " + std::to_string(n_tokens) + " tokens, over this server's limit of " +
                     std::to_string(limits.max_length) + " (max_length)");
  return std::nullopt;
}

// Every id inside the model's vocabulary: text is tokenized by the tokenizer, whose added tokens may
// reach past the model's embedding table. Checked here so that one request's bad id is its own 400,
// never an engine error failing the other requests of its batch.
Parsed check_vocabulary(const Work& work, const RequestLimits& limits) {
  if (limits.vocab_size <= 0) return std::nullopt;
  auto outside = [&](const std::vector<int32_t>& ids) {
    return std::find_if(ids.begin(), ids.end(),
                        [&](int32_t id) { return id < 0 || id >= limits.vocab_size; });
  };
  for (size_t g = 0; g < work.groups.size(); ++g) {
    const Group& group = work.groups[g];
    std::optional<int32_t> bad_id;
    if (auto it = outside(group.prefix); it != group.prefix.end()) bad_id = *it;
    for (const auto& suffix : group.suffixes)
      if (auto it = outside(suffix); !bad_id && it != suffix.end()) bad_id = *it;
    if (!bad_id) continue;
    size_t item = 0;
    while (item < work.items.size() && work.items[item].group != static_cast<int64_t>(g)) ++item;
    return bad("item " + std::to_string(item) + " has token id " + std::to_string(*bad_id) +
               ", outside the model's vocabulary of " + std::to_string(limits.vocab_size) +
               " (the tokenizer's added tokens do not fit this model)");
  }
  return std::nullopt;
}

Parsed check_total(const Work& work, const RequestLimits& limits) {
  if (auto e = check_vocabulary(work, limits)) return e;
  const uint64_t tokens = work.tokens();
  if (tokens > static_cast<uint64_t>(limits.max_request_tokens))
    return too_large("the request has " + std::to_string(tokens) + " tokens, over this server's limit of " +
                     std::to_string(limits.max_request_tokens) +
                     " per request (max_request_tokens): split it");
  return std::nullopt;
}

// A string or a list of strings in `value` (field `name`), as views into the document.
Parsed texts_of(element value, std::string_view name, std::vector<std::string_view>& texts, bool& single) {
  texts.clear();
  single = value.type() == element_type::STRING;
  if (single) {
    texts.push_back(string_of(value));
    return std::nullopt;
  }
  if (value.type() != element_type::ARRAY)
    return bad("field '" + std::string(name) + "' must be a string or a list of strings, found " +
               json::type_name(value.type()));
  size_t index = 0;
  for (element item : array_of(value)) {
    if (item.type() != element_type::STRING)
      return bad("field '" + std::string(name) + "'[" + std::to_string(index) + "] must be a string, found " +
                 json::type_name(item.type()));
    texts.push_back(string_of(item));
    ++index;
  }
  return std::nullopt;
}

// Token ids given directly: a list of ints (one sequence) or a list of lists.
Parsed ids_of(element value, std::string_view name, const RequestLimits& limits,
              std::vector<std::vector<int32_t>>& sequences, bool& single) {
  auto one = [&](simdjson::dom::array array, const std::string& at, std::vector<int32_t>& ids) -> Parsed {
    for (element id : array) {
      int64_t v = 0;
      if (id.get_int64().get(v) || v < 0 || v >= limits.vocab_size)
        return bad(at + " must hold token ids in [0, " + std::to_string(limits.vocab_size) + ")");
      ids.push_back(static_cast<int32_t>(v));
    }
    return std::nullopt;
  };
  if (value.type() != element_type::ARRAY)
    return bad("field '" + std::string(name) + "' must be a list of token ids or a list of such lists");
  auto array = array_of(value);
  single = array.size() == 0 || array.at(0).type() != element_type::ARRAY;
  if (single) {
    sequences.emplace_back();
    return one(array, "field '" + std::string(name) + "'", sequences.back());
  }
  size_t index = 0;
  for (element item : array) {
    const std::string at = "field '" + std::string(name) + "'[" + std::to_string(index++) + "]";
    if (item.type() != element_type::ARRAY) return bad(at + " must be a list of token ids");
    sequences.emplace_back();
    if (auto e = one(array_of(item), at, sequences.back())) return e;
  }
  return std::nullopt;
}

// One group per sequence, after the per-sequence and per-request limits.
Parsed add_sequences(std::vector<std::vector<int32_t>> sequences, std::string_view name,
                     const RequestLimits& limits, Work& work) {
  if (auto e = check_count(name, sequences.size(), limits)) return e;
  for (size_t i = 0; i < sequences.size(); ++i) {
    const std::string at = std::string(name) + "[" + std::to_string(i) + "]";
    if (auto e = check_sequence(at, sequences[i].size(), limits)) return e;
    ItemRef item;
    item.group = static_cast<int64_t>(work.groups.size());
    item.tokens = sequences[i].size();
    work.items.push_back(std::move(item));
    Group group;
    group.suffixes.push_back(std::move(sequences[i]));
    work.groups.push_back(std::move(group));
  }
  return check_total(work, limits);
}

// OpenRLHF decodes its padded batch with special tokens kept, so a query may carry the batch's
// left or right padding. Pad tokens are cut from both ends, unless the pad token is also the EOS or
// BOS token (then it is part of the input and kept).
std::string_view strip_padding(std::string_view text, const tokenizer::Tokenizer& tokenizer) {
  const std::string& pad = tokenizer.pad_token();
  if (pad.empty() || pad == tokenizer.eos_token() || pad == tokenizer.bos_token()) return text;
  while (text.starts_with(pad)) text.remove_prefix(pad.size());
  while (text.ends_with(pad)) text.remove_suffix(pad.size());
  return text;
}

size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  return static_cast<size_t>(std::mismatch(a.begin(), a.end(), b.begin(), b.end()).first - a.begin());
}

// Sequences with the same key (OpenRLHF: the same prompt) become one group: their longest common
// token prefix is computed once. Exact: the engine scores context + response as the whole sequence.
void group_by_key(std::vector<std::vector<int32_t>>& sequences, const std::vector<std::string_view>& keys,
                  Work& work) {
  std::unordered_map<std::string_view, std::vector<size_t>> members;
  std::vector<std::string_view> order;
  for (size_t i = 0; i < sequences.size(); ++i) {
    auto [it, inserted] = members.try_emplace(keys[i]);
    if (inserted) order.push_back(keys[i]);
    it->second.push_back(i);
  }
  work.items.assign(sequences.size(), ItemRef{});
  for (std::string_view key : order) {
    const std::vector<size_t>& idx = members[key];
    size_t prefix = sequences[idx[0]].size();
    for (size_t k = 1; k < idx.size(); ++k)
      prefix = std::min(prefix, common_prefix(sequences[idx[0]], sequences[idx[k]]));
    if (idx.size() == 1) prefix = 0;
    Group group;
    group.prefix.assign(sequences[idx[0]].begin(),
                        sequences[idx[0]].begin() + static_cast<std::ptrdiff_t>(prefix));
    for (size_t k = 0; k < idx.size(); ++k) {
      std::vector<int32_t>& ids = sequences[idx[k]];
      ItemRef& item = work.items[idx[k]];
      item.group = static_cast<int64_t>(work.groups.size());
      item.response = static_cast<uint32_t>(k);
      item.tokens = ids.size();
      group.suffixes.emplace_back(ids.begin() + static_cast<std::ptrdiff_t>(prefix), ids.end());
    }
    work.groups.push_back(std::move(group));
  }
}

nlohmann::json score_of(const Work& work, const Scores& scores, size_t item) {
  const ItemRef& ref = work.items[item];
  return scores[static_cast<size_t>(ref.group)][ref.response];
}

}  // namespace

uint64_t Work::tokens() const {
  uint64_t n = 0;
  for (const Group& g : groups) n += g.tokens();
  return n;
}

Parsed parse_get_reward(std::string_view text, const encode::RmInputBuilder& builder,
                        const RequestLimits& limits, Work& work) {
  Body body;
  if (auto e = parse_body(text, body)) return e;
  auto query = field(body.object, "query");
  if (!query) return bad("field 'query' is required: a list of prompt + response strings");
  std::vector<std::string_view> texts;
  if (auto e = texts_of(*query, "query", texts, work.single)) return e;
  if (auto e = check_count("query", texts.size(), limits)) return e;
  // prompts: optional; when given (as OpenRLHF does) it must match the queries one to one.
  std::vector<std::string_view> keys(texts.size());
  if (auto prompts = field(body.object, "prompts"); prompts && !prompts->is_null()) {
    if (prompts->type() != element_type::ARRAY || array_of(*prompts).size() != texts.size())
      return bad("field 'prompts' must be a list with one entry per query (" + std::to_string(texts.size()) +
                 ")");
    size_t i = 0;
    for (element p : array_of(*prompts)) {
      // A non-string prompt groups with nothing: its key is its own query.
      keys[i] = p.type() == element_type::STRING ? string_of(p) : texts[i];
      ++i;
    }
  } else {
    for (size_t i = 0; i < texts.size(); ++i) keys[i] = texts[i];  // only identical queries group
  }
  std::vector<std::vector<int32_t>> sequences(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    sequences[i] = builder.encode_rendered(strip_padding(texts[i], builder.tokenizer()));
    if (auto e = check_sequence("query[" + std::to_string(i) + "]", sequences[i].size(), limits)) return e;
  }
  work.kind = Work::Kind::text;
  group_by_key(sequences, keys, work);
  return check_total(work, limits);
}

Parsed parse_classify(std::string_view text, const encode::RmInputBuilder& builder,
                      const RequestLimits& limits, Work& work) {
  Body body;
  if (auto e = parse_body(text, body)) return e;
  std::vector<std::vector<int32_t>> sequences;
  if (auto value = field(body.object, "text")) {
    std::vector<std::string_view> texts;
    if (auto e = texts_of(*value, "text", texts, work.single)) return e;
    if (auto e = check_count("text", texts.size(), limits)) return e;
    for (std::string_view t : texts) sequences.push_back(builder.encode_rendered(t));
    return add_sequences(std::move(sequences), "text", limits, work);
  }
  if (auto value = field(body.object, "input_ids")) {
    if (auto e = ids_of(*value, "input_ids", limits, sequences, work.single)) return e;
    return add_sequences(std::move(sequences), "input_ids", limits, work);
  }
  return bad("field 'text' (a string or a list of rendered conversations) or 'input_ids' is required");
}

Parsed parse_pooling(std::string_view text, const encode::RmInputBuilder& builder,
                     const RequestLimits& limits, Work& work) {
  Body body;
  if (auto e = parse_body(text, body)) return e;
  auto value = field(body.object, "input");
  if (!value) return bad("field 'input' is required: a string, a list of strings or token ids");
  std::vector<std::vector<int32_t>> sequences;
  const bool ids = value->type() == element_type::ARRAY && array_of(*value).size() > 0 &&
                   array_of(*value).at(0).type() != element_type::STRING;
  if (ids) {
    if (auto e = ids_of(*value, "input", limits, sequences, work.single)) return e;
  } else {
    std::vector<std::string_view> texts;
    if (auto e = texts_of(*value, "input", texts, work.single)) return e;
    if (auto e = check_count("input", texts.size(), limits)) return e;
    for (std::string_view t : texts) sequences.push_back(builder.encode_rendered(t));
  }
  return add_sequences(std::move(sequences), "input", limits, work);
}

namespace {

// An RM input built by the builder (records, conversations) becomes one group.
void add_input(encode::RmInput&& input, std::string id, Work& work) {
  ItemRef item;
  item.id = std::move(id);
  item.truncated_tokens = input.truncated_tokens;
  if (input.skipped) {
    item.skip_reason = input.skip_reason;
    work.items.push_back(std::move(item));
    return;
  }
  item.group = static_cast<int64_t>(work.groups.size());
  Group group{std::move(input.prefix), std::move(input.suffixes)};
  item.tokens = group.tokens();
  work.groups.push_back(std::move(group));
  work.items.push_back(std::move(item));
}

Parsed parse_records(element records, simdjson::dom::object object, const encode::RmInputBuilder& builder,
                     const RequestLimits& limits, Work& work) {
  if (records.type() != element_type::ARRAY)
    return bad("field 'records' must be a list of records, found " + json::type_name(records.type()));
  data::ReadOptions options;
  if (auto format = field(object, "format")) {
    std::string_view name;
    if (format->get_string().get(name)) return bad("field 'format' must be a string");
    auto parsed = data::parse_format(name);
    if (!parsed.is_ok()) return bad("field 'format': " + parsed.status().message());
    options.format = *parsed;
  }
  auto array = array_of(records);
  if (auto e = check_count("records", array.size(), limits)) return e;
  work.kind = Work::Kind::records;
  size_t index = 0, sequences = 0;
  data::Record record;
  std::string code, reason;
  for (element item : array) {
    const std::string at = "records[" + std::to_string(index++) + "]";
    const std::string json_text = simdjson::minify(item);
    record.clear();
    if (!data::parse_record_json(json_text, options, record, code, reason))
      return bad(at + ": " + reason + " (" + code + ")");
    sequences += record.responses.size();
    if (static_cast<int64_t>(sequences) > limits.max_items)
      return too_large("field 'records' holds more than " + std::to_string(limits.max_items) +
                       " responses, this server's limit per request (max_items): split the request");
    auto input = builder.build(record);
    if (!input.is_ok()) return bad(at + ": " + input.status().message());
    add_input(std::move(input).value(), record.id, work);
  }
  return check_total(work, limits);
}

Parsed parse_conversations(element conversations, const encode::RmInputBuilder& builder,
                           const RequestLimits& limits, Work& work) {
  if (conversations.type() != element_type::ARRAY)
    return bad("field 'conversations' must be a list of message lists, found " +
               json::type_name(conversations.type()));
  auto array = array_of(conversations);
  if (auto e = check_count("conversations", array.size(), limits)) return e;
  work.kind = Work::Kind::conversations;
  size_t index = 0;
  for (element item : array) {
    const std::string at = "conversations[" + std::to_string(index++) + "]";
    auto turns = encode::turns_from_json(simdjson::minify(item));
    if (!turns.is_ok()) return bad(at + ": " + turns.status().message());
    if (turns->size() < 2 || turns->back().role != data::Role::assistant)
      return bad(at + " must end with the assistant turn to score, after at least one other turn");
    const std::vector<std::string> response = {turns->back().content};
    const std::span<const data::Turn> context(turns->data(), turns->size() - 1);
    auto input = builder.build(context, response, at);
    if (!input.is_ok()) return bad(input.status().message());
    add_input(std::move(input).value(), std::to_string(index - 1), work);
  }
  return check_total(work, limits);
}

}  // namespace

Parsed parse_score(std::string_view text, const encode::RmInputBuilder& builder, const RequestLimits& limits,
                   Work& work) {
  Body body;
  if (auto e = parse_body(text, body)) return e;
  auto records = field(body.object, "records");
  auto conversations = field(body.object, "conversations");
  if (records && conversations) return bad("give either 'records' or 'conversations', not both");
  if (records) return parse_records(*records, body.object, builder, limits, work);
  if (conversations) return parse_conversations(*conversations, builder, limits, work);
  return bad("field 'records' (pairs or response sets) or 'conversations' (message lists) is required");
}

std::string render_get_reward(const Work& work, const Scores& scores) {
  nlohmann::json rewards = nlohmann::json::array(), tokens = nlohmann::json::array();
  for (size_t i = 0; i < work.items.size(); ++i) {
    rewards.push_back(score_of(work, scores, i));
    tokens.push_back(work.items[i].tokens);
  }
  // OpenRLHF reads "rewards" (and "scores" when present) and logs each "extra_logs" entry.
  const nlohmann::json out = {
      {"rewards", rewards}, {"scores", rewards}, {"extra_logs", {{"rm_tokens", tokens}}}};
  return out.dump();
}

std::string render_classify(const Work& work, const Scores& scores) {
  nlohmann::json list = nlohmann::json::array();
  for (size_t i = 0; i < work.items.size(); ++i) {
    list.push_back({{"index", i},
                    {"embedding", {score_of(work, scores, i)}},
                    {"meta_info", {{"prompt_tokens", work.items[i].tokens}}}});
  }
  return (work.single ? list[0] : list).dump();
}

std::string render_pooling(const Work& work, const Scores& scores, const std::string& model_name,
                           uint64_t request_no) {
  nlohmann::json data = nlohmann::json::array();
  uint64_t tokens = 0;
  for (size_t i = 0; i < work.items.size(); ++i) {
    data.push_back({{"index", i}, {"object", "pooling"}, {"data", {score_of(work, scores, i)}}});
    tokens += work.items[i].tokens;
  }
  const nlohmann::json out = {{"id", "pool-" + std::to_string(request_no)},
                              {"object", "list"},
                              {"created", static_cast<int64_t>(std::time(nullptr))},
                              {"model", model_name},
                              {"data", data},
                              {"usage",
                               {{"prompt_tokens", tokens},
                                {"total_tokens", tokens},
                                {"completion_tokens", 0},
                                {"prompt_tokens_details", nullptr}}}};
  return out.dump();
}

std::string render_score(const Work& work, const Scores& scores) {
  // Each result is the line `synpref score` writes for the record (append_score_line), byte for byte.
  std::string out = "{\"results\":[";
  std::string line;
  for (size_t i = 0; i < work.items.size(); ++i) {
    const ItemRef& item = work.items[i];
    if (i > 0) out += ',';
    if (item.group < 0) {
      const nlohmann::json skipped = {{"id", item.id}, {"skipped", item.skip_reason}};
      out += skipped.dump();
      continue;
    }
    line.clear();
    score::append_score_line(line, item.id, scores[static_cast<size_t>(item.group)]);
    line.pop_back();  // its '\n'
    out += line;
  }
  out += "],\"usage\":{\"tokens\":" + std::to_string(work.tokens()) + "}}";
  return out;
}

std::string first_non_finite(const Work& work, const Scores& scores) {
  for (size_t i = 0; i < work.items.size(); ++i) {
    const ItemRef& item = work.items[i];
    if (item.group < 0) continue;
    const auto& group_scores = scores[static_cast<size_t>(item.group)];
    for (float s : group_scores) {
      if (std::isfinite(s)) continue;
      return "item " + std::to_string(i) + (item.id.empty() ? "" : " (" + item.id + ")") + ": " +
             (std::isnan(s) ? "NaN" : "infinity");
    }
  }
  return "";
}

}  // namespace synpref::serve
