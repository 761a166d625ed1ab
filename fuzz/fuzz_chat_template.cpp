// libFuzzer target: the chat-template engine (src/chat/jinja/) on arbitrary template text, rendered
// against a fixed conversation, and, after a NUL byte, an arbitrary JSON context. Every render is
// bounded by RenderLimits (steps, allocated bytes, output, loops, call depth), so no input may
// crash, exhaust memory or run past libFuzzer's timeout; errors must carry a message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "synpref/chat/template.h"

namespace {

using synpref::chat::Value;

Value conversation() {
  auto msg = [](const char* role, const char* content) {
    return Value::dict(
        {{Value::string("role"), Value::string(role)}, {Value::string("content"), Value::string(content)}});
  };
  Value messages = Value::list(
      {msg("system", "Be brief."), msg("user", "Hi <think>x</think> \u00e9"), msg("assistant", "Hello!\n")});
  return Value::dict({{Value::string("messages"), messages},
                      {Value::string("add_generation_prompt"), Value::boolean(true)},
                      {Value::string("bos_token"), Value::string("<s>")},
                      {Value::string("tools"), Value::none()}});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace synpref::chat;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string source(input.substr(0, nul));
  static const Value fixed_context = conversation();
  Value context = fixed_context;
  if (nul != std::string_view::npos) {
    auto parsed = Value::parse_json(input.substr(nul + 1));
    if (parsed.is_ok() && parsed->is_dict()) context = *parsed;
    if (!parsed.is_ok() && parsed.status().message().empty()) std::abort();
  }
  auto tmpl = Template::compile(source);
  if (!tmpl.is_ok()) {
    if (tmpl.status().message().empty()) std::abort();
    return 0;
  }
  // Limits well below the defaults keep each execution fast; the code paths are the same.
  RenderOptions options;
  options.now = LocalDateTime::parse("2024-07-26T10:00:00").value();
  options.limits.max_steps = 200'000;
  options.limits.max_alloc_bytes = 16u << 20;
  options.limits.max_output_bytes = 1u << 20;
  options.limits.max_loop_iterations = 100'000;
  auto out = tmpl->render(context, options);
  if (!out.is_ok() && out.status().message().empty()) std::abort();
  if (out.is_ok() && out->size() > options.limits.max_output_bytes) std::abort();
  return 0;
}
