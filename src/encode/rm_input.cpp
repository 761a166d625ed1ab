#include "synpref/encode/rm_input.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "synpref/common/io.h"

namespace synpref::encode {

using chat::Value;

struct RmInputBuilder::Extra {
  std::vector<std::pair<Value, Value>> variables;  // extra_json's entries, in order
};

Result<Truncation> parse_truncation(std::string_view name) {
  if (name == "error") return Truncation::error;
  if (name == "skip") return Truncation::skip;
  if (name == "truncate-left") return Truncation::truncate_left;
  return invalid_argument("unknown truncation '" + std::string(name) +
                          "': expected error, skip or truncate-left");
}

uint64_t RmInput::longest() const {
  uint64_t longest_suffix = 0;
  for (const auto& s : suffixes) longest_suffix = std::max<uint64_t>(longest_suffix, s.size());
  return prefix.size() + longest_suffix;
}

Result<RmInputBuilder> RmInputBuilder::create(tokenizer::Tokenizer tokenizer, RmInputOptions options) {
  std::string source = options.chat_template.empty() ? tokenizer.chat_template() : options.chat_template;
  if (source.empty()) {
    return not_found("tokenizer in " + tokenizer.source_dir() +
                     " has no chat_template (tokenizer_config.json); give one in chat_template");
  }
  auto extra = std::make_shared<Extra>();
  if (!options.extra_json.empty()) {
    auto parsed = Value::parse_json(options.extra_json);
    if (!parsed.is_ok()) return parsed.status().with_context("extra_json");
    if (!parsed->is_dict())
      return invalid_argument("extra_json: expected a JSON object of template variables");
    extra->variables = parsed->entries();
  }
  auto tmpl = chat::Template::compile(source);
  if (!tmpl.is_ok()) return tmpl.status().with_context("chat template");
  return RmInputBuilder(std::move(tokenizer), std::move(options), std::move(tmpl).value(), std::move(extra));
}

Result<std::string> RmInputBuilder::render(const std::vector<data::Turn>& conversation) const {
  std::vector<Value> messages;
  messages.reserve(conversation.size());
  for (const auto& turn : conversation) {
    messages.push_back(
        Value::dict({{Value::string("role"), Value::string(std::string(data::role_name(turn.role)))},
                     {Value::string("content"), Value::string(turn.content)}}));
  }
  // Special tokens the templates read, as transformers passes them; extra_json may override them
  // (a later equal key replaces the value).
  std::vector<std::pair<Value, Value>> extra = {
      {Value::string("bos_token"), Value::string(tokenizer_.bos_token())},
      {Value::string("eos_token"), Value::string(tokenizer_.eos_token())},
      {Value::string("pad_token"), Value::string(tokenizer_.pad_token())}};
  for (const auto& entry : extra_->variables) extra.push_back(entry);
  chat::ChatTemplateArgs args;
  args.add_generation_prompt = false;
  args.extra = Value::dict(std::move(extra));
  args.options.now = options_.date;
  return apply_chat_template(template_, Value::list(std::move(messages)), args);
}

Result<std::vector<int32_t>> RmInputBuilder::encode(const std::vector<data::Turn>& conversation) const {
  SP_ASSIGN_OR_RETURN(std::string text, render(conversation));
  return encode_rendered(text);
}

std::vector<int32_t> RmInputBuilder::encode_rendered(std::string_view text) const {
  std::vector<int32_t> ids = tokenizer_.encode(text, /*add_special_tokens=*/true);
  // Exactly one BOS where the model uses one: collapse a template BOS + tokenizer BOS.
  if (auto bos = tokenizer_.bos_id()) {
    size_t leading = 0;
    while (leading < ids.size() && ids[leading] == *bos) ++leading;
    if (leading > 1) ids.erase(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(leading - 1));
  }
  return ids;
}

template <typename Responses>
Result<RmInput> RmInputBuilder::build_impl(std::span<const data::Turn> context, const Responses& responses,
                                           std::string_view name) const {
  RmInput input;
  if (responses.empty()) return data_error(std::string(name) + ": no responses");
  std::vector<std::vector<int32_t>> full;
  full.reserve(responses.size());
  std::vector<data::Turn> conversation(context.begin(), context.end());
  conversation.push_back({data::Role::assistant, ""});
  for (const auto& response : responses) {
    conversation.back().content = response;
    auto ids = encode(conversation);
    if (!ids.is_ok()) return ids.status().with_context(std::string(name));
    full.push_back(std::move(ids).value());
  }
  // Longest common prefix of all full sequences. Keep at least one token in every suffix, so
  // each response's score is read at a token of its own.
  size_t common = full[0].size();
  for (const auto& ids : full) {
    size_t k = 0;
    while (k < common && k < ids.size() && ids[k] == full[0][k]) ++k;
    common = k;
  }
  for (const auto& ids : full) common = std::min(common, ids.size() - std::min<size_t>(ids.size(), 1));
  input.prefix.assign(full[0].begin(), full[0].begin() + static_cast<std::ptrdiff_t>(common));
  for (auto& ids : full)
    input.suffixes.emplace_back(ids.begin() + static_cast<std::ptrdiff_t>(common), ids.end());

  const uint64_t longest = input.longest();
  if (longest <= options_.max_length) return input;
  const std::string what = std::string(name) + ": " + std::to_string(longest) +
                           " tokens, over the maximum of " + std::to_string(options_.max_length);
  switch (options_.truncation) {
    case Truncation::error:
      return data_error(what + " (set truncation to skip or truncate-left, or raise max_length)");
    case Truncation::skip:
      input.skipped = true;
      input.skip_reason = what;
      return input;
    case Truncation::truncate_left: {
      // Keep a leading BOS, then drop the oldest prefix tokens. The responses (and their end
      // tokens) are never cut: if they alone do not fit, the record cannot be scored.
      size_t keep_head = 0;
      auto bos = tokenizer_.bos_id();
      if (bos && !input.prefix.empty() && input.prefix[0] == *bos) keep_head = 1;
      uint64_t excess = longest - options_.max_length;
      if (excess > input.prefix.size() - keep_head) {
        // Cannot be scored without cutting a response: skipped (and logged by the caller).
        input.skipped = true;
        input.skip_reason = what + "; even without any context the longest response needs " +
                            std::to_string(longest - (input.prefix.size() - keep_head)) + " tokens";
        return input;
      }
      input.prefix.erase(input.prefix.begin() + static_cast<std::ptrdiff_t>(keep_head),
                         input.prefix.begin() + static_cast<std::ptrdiff_t>(keep_head + excess));
      input.truncated_tokens = excess;
      return input;
    }
  }
  return input;
}

Result<RmInput> RmInputBuilder::build(const data::Record& record) const {
  std::vector<std::string_view> responses;
  responses.reserve(record.responses.size());
  for (const auto& response : record.responses) responses.push_back(response.content);
  return build_impl(record.context, responses, "record " + record.id);
}

Result<RmInput> RmInputBuilder::build(std::span<const data::Turn> context,
                                      std::span<const std::string> responses, std::string_view name) const {
  return build_impl(context, responses, name);
}

Result<std::vector<data::Turn>> turns_from_json(std::string_view json_text) {
  const auto messages = nlohmann::ordered_json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (messages.is_discarded()) return data_error("invalid JSON");
  if (!messages.is_array()) return data_error("expected a JSON list of messages");
  std::vector<data::Turn> turns;
  for (size_t i = 0; i < messages.size(); ++i) {
    const auto& m = messages[i];
    std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return data_error(where + ": expected an object with role and content");
    if (!m.contains("role") || !m["role"].is_string())
      return data_error(where + ".role: missing or not a string");
    if (!m.contains("content") || !m["content"].is_string()) {
      return data_error(where + ".content: missing or not a string");
    }
    auto role = data::parse_role(m["role"].get<std::string>());
    if (!role) return data_error(where + ".role: unknown role '" + m["role"].get<std::string>() + "'");
    turns.push_back({*role, m["content"].get<std::string>()});
  }
  if (turns.empty()) return data_error("the message list is empty");
  return turns;
}

Result<RmInputOptions> resolve_options(const RmInputSettings& settings) {
  RmInputOptions options;
  if (settings.max_length < 1) return invalid_argument("max_length must be >= 1");
  options.max_length = settings.max_length;
  auto truncation = parse_truncation(settings.truncation);
  if (!truncation.is_ok()) return truncation.status().with_context("truncation");
  options.truncation = *truncation;
  if (!settings.date.empty()) {
    auto date = chat::LocalDateTime::parse(settings.date);
    if (!date.is_ok()) return date.status().with_context("date");
    options.date = *date;
  }
  if (!settings.chat_template_file.empty()) {
    auto source = io::read_file(settings.chat_template_file, 16 << 20);
    if (!source.is_ok()) return source.status().with_context("chat_template_file");
    options.chat_template = std::move(source).value();
  }
  return options;
}

Result<RmInputBuilder> open_builder(tokenizer::Tokenizer tokenizer, const RmInputSettings& settings) {
  SP_ASSIGN_OR_RETURN(RmInputOptions options, resolve_options(settings));
  return RmInputBuilder::create(std::move(tokenizer), std::move(options));
}

Result<RmInputBuilder> open_builder(const RmInputSettings& settings) {
  if (settings.tokenizer_dir.empty()) return invalid_argument("tokenizer_dir is required");
  auto tokenizer = tokenizer::load_tokenizer(settings.tokenizer_dir);
  if (!tokenizer.is_ok()) return tokenizer.status().with_context("tokenizer_dir");
  return open_builder(std::move(tokenizer).value(), settings);
}

}  // namespace synpref::encode
