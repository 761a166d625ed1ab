// src/curate/prompts.cpp: default prompt templates (embedded at build time), overrides, rendering.
#include "synpref/curate/prompts.h"

#include "curate/prompts_embedded.h"
#include "synpref/common/hash.h"
#include "synpref/common/io.h"
#include "synpref/common/text.h"

namespace synpref::curate {

std::string_view prompt_kind_name(PromptKind kind) {
  switch (kind) {
    case PromptKind::attributes:
      return "attributes";
    case PromptKind::silver:
      return "silver";
  }
  return "?";
}

PromptTemplate default_prompt(PromptKind kind) {
  PromptTemplate prompt;
  prompt.kind = kind;
  if (kind == PromptKind::attributes) {
    prompt.system = std::string(kAttributesSystemJinja);
    prompt.user = std::string(kAttributesUserJinja);
  } else {
    prompt.system = std::string(kSilverSystemJinja);
    prompt.user = std::string(kSilverUserJinja);
  }
  return prompt;
}

namespace {

Result<std::string> read_template_file(const std::string& path) {
  SP_ASSIGN_OR_RETURN(std::string source, io::read_file(path));
  if (!text::is_valid_utf8(source)) {
    return data_error(path + ": prompt template is not valid UTF-8 (byte " +
                      std::to_string(text::first_invalid_utf8(source)) + ")");
  }
  return source;
}

Result<std::string> render_one(const chat::Template& tmpl, const chat::Value& context, PromptKind kind,
                               std::string_view role) {
  auto rendered = tmpl.render(context);
  if (!rendered.is_ok()) {
    return rendered.status().with_context(std::string(prompt_kind_name(kind)) + " " + std::string(role) +
                                          " template");
  }
  return std::move(rendered).value();
}

}  // namespace

Result<PromptTemplate> load_prompt(PromptKind kind, const std::string& user_template_file,
                                   const std::string& system_template_file) {
  PromptTemplate prompt = default_prompt(kind);
  if (!user_template_file.empty()) {
    SP_ASSIGN_OR_RETURN(prompt.user, read_template_file(user_template_file));
  }
  if (!system_template_file.empty()) {
    SP_ASSIGN_OR_RETURN(prompt.system, read_template_file(system_template_file));
  }
  return prompt;
}

Result<CompiledPrompt> CompiledPrompt::compile(const PromptTemplate& prompt) {
  const std::string name(prompt_kind_name(prompt.kind));
  std::optional<chat::Template> system;
  if (!text::trim(prompt.system).empty()) {
    auto compiled = chat::Template::compile(prompt.system);
    if (!compiled.is_ok()) return compiled.status().with_context(name + " system template");
    system = std::move(compiled).value();
  }
  auto user = chat::Template::compile(prompt.user);
  if (!user.is_ok()) return user.status().with_context(name + " user template");
  std::string both = prompt.system;
  both.push_back('\0');
  both += prompt.user;
  return CompiledPrompt(prompt.kind, std::move(system), std::move(user).value(), hash128(both).hex());
}

Result<std::vector<PromptMessage>> CompiledPrompt::render(const chat::Value& context) const {
  std::vector<PromptMessage> messages;
  if (system_) {
    SP_ASSIGN_OR_RETURN(std::string system_text, render_one(*system_, context, kind_, "system"));
    messages.push_back({"system", std::string(text::trim(system_text))});
  }
  SP_ASSIGN_OR_RETURN(std::string user_text, render_one(user_, context, kind_, "user"));
  if (text::trim(user_text).empty()) {
    return invalid_argument(std::string(prompt_kind_name(kind_)) +
                            " user template rendered an empty message; a prompt must ask something");
  }
  messages.push_back({"user", std::string(text::trim(user_text))});
  return messages;
}

chat::Value messages_value(const std::vector<data::Turn>& turns) {
  std::vector<chat::Value> items;
  items.reserve(turns.size());
  for (const data::Turn& turn : turns) {
    items.push_back(chat::Value::dict(
        {{chat::Value::string("role"), chat::Value::string(std::string(data::role_name(turn.role)))},
         {chat::Value::string("content"), chat::Value::string(turn.content)}}));
  }
  return chat::Value::list(std::move(items));
}

}  // namespace synpref::curate
