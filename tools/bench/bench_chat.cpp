// Chat template workloads: render a typical conversation with real chat templates (compiled once),
// reporting per-render latency (p50/p99, microseconds) and throughput (renders/s, output MB/s).
#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include "bench.h"

#include "synpref/chat/template.h"

namespace synpref::bench {
namespace {

using Clock = std::chrono::steady_clock;
using ojson = nlohmann::ordered_json;

Result<std::string> read_file_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return not_found("cannot read " + path + " (run synpref-bench from the repository root)");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A four-turn conversation with a system prompt; answers of a few hundred bytes, some unicode.
ojson typical_conversation() {
  ojson m = ojson::array();
  m.push_back(
      {{"role", "system"}, {"content", "You are a helpful assistant. Answer concisely and cite sources."}});
  for (int turn = 0; turn < 4; ++turn) {
    m.push_back({{"role", "user"},
                 {"content", "Question " + std::to_string(turn) +
                                 ": how does the café's menu compare, and why? "
                                 "Please explain step by step."}});
    std::string answer = "Here is a comparison, step by step:\n\n";
    for (int k = 0; k < 6; ++k)
      answer += "- Point " + std::to_string(k) + ": prices (€), portions and quality differ.\n";
    m.push_back({{"role", "assistant"}, {"content", answer}});
  }
  return m;
}

Result<RunOnce> setup_render(Context& ctx, const std::string& name) {
  std::string source;
  ojson context;
  context["messages"] = typical_conversation();
  context["add_generation_prompt"] = false;
  context["tools"] = nullptr;
  context["documents"] = nullptr;
  if (name == "qwen3") {
    SP_ASSIGN_OR_RETURN(std::string cfg,
                        read_file_text("../shared/data/tokenizers/qwen3/tokenizer_config.json"));
    source = ojson::parse(cfg).at("chat_template").get<std::string>();
    context["eos_token"] = "<|im_end|>";
  } else {
    SP_ASSIGN_OR_RETURN(source, read_file_text("tests/fixtures/chat/templates/llama-3.1-instruct.jinja"));
    context["bos_token"] = "<|begin_of_text|>";
    context["date_string"] = "26 Jul 2024";
    context["tools"] = ojson::parse(R"([{"type": "function", "function": {"name": "get_weather",
      "description": "Get the weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
      "required": ["city"]}}}])");
  }
  SP_ASSIGN_OR_RETURN(chat::Template tmpl, chat::Template::compile(source));
  SP_ASSIGN_OR_RETURN(const chat::Value value, chat::Value::parse_json(context.dump()));
  const int renders = static_cast<int>(ctx.param("renders", 20000));
  return RunOnce([tmpl, value, renders]() -> Result<std::vector<Metric>> {
    std::vector<double> us;
    us.reserve(static_cast<size_t>(renders));
    uint64_t bytes = 0;
    auto begin = Clock::now();
    for (int i = 0; i < renders; ++i) {
      auto t0 = Clock::now();
      auto out = tmpl.render(value);
      auto t1 = Clock::now();
      if (!out.is_ok()) return out.status();
      bytes += out->size();
      us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    }
    double secs = std::chrono::duration<double>(Clock::now() - begin).count();
    std::sort(us.begin(), us.end());
    return std::vector<Metric>{
        {"p50 latency", us[us.size() / 2], "us", false},
        {"p99 latency", us[us.size() * 99 / 100], "us", false},
        {"renders", renders / secs, "renders/s", true},
        {"output", static_cast<double>(bytes) / secs / 1e6, "MB/s", true},
    };
  });
}

SYNPREF_WORKLOAD(
    "chat.render.qwen3",
    "render a 4-turn conversation with system prompt, Qwen3 template (params: renders=20000)",
    [](Context& ctx) { return setup_render(ctx, "qwen3"); }, 5);
SYNPREF_WORKLOAD(
    "chat.render.llama3_1_tools",
    "render a 4-turn conversation with system prompt and one tool schema, Llama 3.1 template "
    "(params: renders=20000)",
    [](Context& ctx) { return setup_render(ctx, "llama3.1"); }, 5);

}  // namespace
}  // namespace synpref::bench
