// synpref/chat/template.h: Hugging Face chat templates (a Jinja2 subset), rendered byte for byte as
// transformers' apply_chat_template renders them.
//
// transformers compiles `chat_template` in a jinja2 ImmutableSandboxedEnvironment with
// trim_blocks=True, lstrip_blocks=True (keep_trailing_newline=False), the loopcontrols extension
// ({% break %}, {% continue %}), a {% generation %} block, and three additions: the global
// raise_exception(msg), the global strftime_now(fmt) and a tojson filter that is json.dumps with
// ensure_ascii=False. Template implements that environment; docs/chat-templates.md lists the
// supported statements, expressions, filters, tests and methods, and what is not supported.
//
// Errors are Status values whose message names the line and column of the template:
//   syntax errors ("template syntax error at line 3, column 7: ..."),
//   constructs this interpreter does not implement ("unsupported template construct at ..."),
//   runtime errors Jinja2 would raise too ("template error at ...: 'foo' is undefined"),
//   raise_exception(msg) ("template raised an exception at ...: <msg>"),
//   and exceeded render limits ("template exceeded the render limit max_alloc_bytes ...", RenderLimits).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "synpref/chat/value.h"
#include "synpref/common/status.h"

namespace synpref::chat {

// A naive local date-time, as Python's datetime.now() returns it.
struct LocalDateTime {
  int year = 1970, month = 1, day = 1;  // month 1-12, day 1-31
  int hour = 0, minute = 0, second = 0, microsecond = 0;

  // Parses "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS[.ffffff]]" (a space may replace 'T').
  static Result<LocalDateTime> parse(std::string_view iso);
  // The current local time of this process.
  static LocalDateTime now();
};

// strftime for a LocalDateTime with Python's semantics for naive datetimes in the C locale
// (%z and %Z are empty, %f is microseconds). Returns an error for a format Python rejects.
Result<std::string> strftime_local(const LocalDateTime& t, std::string_view format);

// Bounds that keep a hostile or buggy template from exhausting memory, stack or time. Exceeding
// one is an error Status, never a crash.
struct RenderLimits {
  uint64_t max_output_bytes = 64ull << 20;    // rendered text, and any single string or list built
  uint64_t max_loop_iterations = 10'000'000;  // total for-loop iterations (all loops) per render
  uint32_t max_call_depth = 200;              // nested macro calls (recursion)
  // Total bytes of the strings, lists and dicts a render creates, counted at creation (cumulative:
  // rebuilding a growing value in a loop pays for every copy). Bounds memory and the time of
  // quadratic loops (`{% set ns.s = ns.s ~ 'x' %}` in a long loop).
  uint64_t max_alloc_bytes = 256ull << 20;
  // Statements and expression nodes evaluated per render. Bounds the time of any template.
  uint64_t max_steps = 50'000'000;
};

struct RenderOptions {
  // The time strftime_now() reports. Unset: the current local time (as transformers does). Set it
  // when renders must be reproducible (e.g. Llama 3.2's "Today Date").
  std::optional<LocalDateTime> now;
  RenderLimits limits;
};

namespace detail {
struct Program;
}

class Template {
 public:
  // Parses `source` (a chat_template string). Syntax errors and unsupported statements are
  // reported here; unknown filters/tests/methods are reported when a render reaches them (as
  // Jinja2 does for names it cannot resolve at compile time).
  static Result<Template> compile(std::string source);

  // Renders with `context` as the template variables. Precondition: context is a dict (string keys)
  // or undefined (no variables). A string in it that is not valid UTF-8 is a data error naming its
  // path (e.g. "context.messages[0].content"). Globals raise_exception, strftime_now, namespace, range, dict
  // are always available; context entries shadow them.
  Result<std::string> render(const Value& context, const RenderOptions& options = {}) const;

  // The normalized source (newlines as "\n", one trailing newline dropped, as Jinja2 does).
  const std::string& source() const;

 private:
  explicit Template(std::shared_ptr<const detail::Program> program) : program_(std::move(program)) {}
  std::shared_ptr<const detail::Program> program_;
};

// What apply_chat_template passes to the template besides the messages.
struct ChatTemplateArgs {
  bool add_generation_prompt = false;
  // Optional tool schemas (a list) and documents; transformers passes None when absent, so the
  // template always sees `tools` and `documents` defined (possibly none).
  Value tools = Value::none();
  Value documents = Value::none();
  // Everything else the template reads: bos_token, eos_token, other special tokens,
  // enable_thinking, date_string, custom_tools, ... (a dict with string keys, or undefined for
  // none; keys shadow the above).
  Value extra;
  RenderOptions options;  // pin `options.now` for reproducible dates
};

// Renders a conversation like transformers' tokenizer.apply_chat_template(messages, tokenize=False,
// add_generation_prompt=..., tools=..., documents=..., **extra): the template variables are
// messages, tools, documents, add_generation_prompt and the entries of args.extra.
// messages must be a list (of message dicts: role, content, and optionally tool_calls, tool_call_id,
// name, reasoning_content...) and args.extra a dict or undefined, else an invalid_argument error;
// every string in the inputs must be valid UTF-8 (a data error naming the path, e.g.
// context.messages[2].content).
Result<std::string> apply_chat_template(const Template& tmpl, const Value& messages,
                                        const ChatTemplateArgs& args = {});
// Convenience: compiles `template_source` and renders once.
Result<std::string> apply_chat_template(std::string_view template_source, const Value& messages,
                                        const ChatTemplateArgs& args = {});

}  // namespace synpref::chat
