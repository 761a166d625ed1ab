// synpref/curate/prompts.h: the judge prompts of the curation engine, as Jinja templates.
//
// Each prompt kind (attributes, silver) is a pair of templates: a system message and a user
// message, rendered with the project's own Jinja engine (synpref/chat/template.h) from a context
// dict that the kind's module builds (attributes.h: attributes_prompt_context, silver.h:
// silver_prompt_context). The defaults live in src/curate/prompts/<kind>.<role>.jinja and are
// compiled into the library; users replace either message with a file of their own. The variables
// each kind offers are listed in docs/curation.md ("Prompt templates").
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "synpref/chat/template.h"
#include "synpref/chat/value.h"
#include "synpref/common/status.h"
#include "synpref/data/record.h"

namespace synpref::curate {

enum class PromptKind { attributes, silver };
std::string_view prompt_kind_name(PromptKind kind);  // "attributes", "silver"

// One chat message of a rendered prompt.
struct PromptMessage {
  std::string role;  // "system" | "user"
  std::string content;
};

// Template sources of one prompt kind. An empty system template means no system message.
struct PromptTemplate {
  PromptKind kind = PromptKind::attributes;
  std::string system;
  std::string user;
};

// The built-in templates.
PromptTemplate default_prompt(PromptKind kind);

// The default templates with the user and/or system message replaced by the contents of a file
// ("" keeps the default). Errors name the file (not_found, io_error, a file that is not UTF-8).
Result<PromptTemplate> load_prompt(PromptKind kind, const std::string& user_template_file,
                                   const std::string& system_template_file = "");

// A compiled PromptTemplate. Renders are independent of each other (thread-safe, const).
class CompiledPrompt {
 public:
  // Syntax errors name the template ("silver user template: template syntax error at line 3 ...").
  static Result<CompiledPrompt> compile(const PromptTemplate& prompt);

  // Renders [system (when the template is not empty), user]. A render error (undefined variable
  // used as a dict, raise_exception, limits) names the template. Precondition: context is a dict.
  // A rendered user message that is empty (only whitespace) is an error: a template must ask
  // something.
  Result<std::vector<PromptMessage>> render(const chat::Value& context) const;

  PromptKind kind() const { return kind_; }
  // Hex XXH3-128 of the two template sources: recorded with runs so a changed template is visible.
  const std::string& fingerprint() const { return fingerprint_; }

 private:
  CompiledPrompt(PromptKind kind, std::optional<chat::Template> system, chat::Template user, std::string fp)
      : kind_(kind), system_(std::move(system)), user_(std::move(user)), fingerprint_(std::move(fp)) {}
  PromptKind kind_;
  std::optional<chat::Template> system_;
  chat::Template user_;
  std::string fingerprint_;
};

// A conversation as the list of {role, content} dicts templates iterate over.
chat::Value messages_value(const std::vector<data::Turn>& turns);

}  // namespace synpref::curate
