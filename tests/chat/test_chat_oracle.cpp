// Oracle tests: synpref::chat must render byte for byte what python3-jinja2 renders with
// transformers' settings (tests/oracles/chat_jinja2.py), for the real chat templates in
// tests/fixtures/chat/templates/ and ../shared/data over many generated conversations, and for a corpus of
// small templates that exercise the interpreter's Python/Jinja2 semantics one by one.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

#include "oracle_client.h"

namespace synpref::chat::testing {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  EXPECT_TRUE(f.good()) << "cannot read " << path;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string repo_path(const std::string& rel) {
  return std::string(SYNPREF_SOURCE_DIR) + "/" + rel;
}

std::string chat_template_of(const std::string& tokenizer_config) {
  auto j = ojson::parse(read_text(tokenizer_config));
  return j.at("chat_template").get<std::string>();
}

// --- generated conversations -----------------------------------------------------------------------

// Message texts chosen to stress rendering: unicode, whitespace at the edges (trim/strip), template
// and special-token look-alikes, JSON-ish text, empty strings.
const std::vector<std::string> kTexts = {
    "Hello!",
    "What is 2+2?",
    "",
    "  leading and trailing spaces  ",
    "\n\nnewlines around\n\n",
    "tabs\tand\r\nwindows newlines\r\n",
    "Unicode: héllo wörld, 你好，世界, こんにちは, Привет, مرحبا",
    "Emoji 👨‍👩‍👧‍👦 with ZWJ and 🇫🇷 flags and skin tones 👍🏽",
    "Combining: e\u0301 a\u0308 and NBSP\u00a0here\u00a0",
    "Quotes ' \" and backslashes \\ \\n (literal)",
    "Template look-alikes {{ x }} {% if %} {# c #} and <|im_end|> <|eot_id|> [INST] <start_of_turn>",
    "JSON {\"a\": [1, 2, {\"b\": null}], \"c\": \"d\"}",
    "Line separator\u2028and paragraph\u2029and ideographic space\u3000end",
    "A longer answer.\n\nIt has paragraphs, a list:\n- one\n- two\n\n```python\nprint('hi')\n```\n",
    "   ",
    "Ends with a newline\n",
};

struct Gen {
  std::mt19937 rng;
  explicit Gen(uint32_t seed) : rng(seed) {}
  size_t below(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); }
  bool coin(double p = 0.5) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; }
  std::string text() { return kTexts[below(kTexts.size())]; }
  std::string id9() {
    static const char* kAlnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    std::string s;
    for (int i = 0; i < 9; ++i) s += kAlnum[below(62)];
    return s;
  }
};

ojson msg(const std::string& role, const std::string& content) {
  return ojson{{"role", role}, {"content", content}};
}

ojson weather_tools() {
  return ojson::parse(R"([
    {"type": "function", "function": {"name": "get_weather", "description": "Get the current weather in a city.",
      "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name, e.g. Paris"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Temperature unit"}}, "required": ["city"]}}},
    {"type": "function", "function": {"name": "search", "description": "Search the web (résumé: «quoted»).",
      "parameters": {"type": "object", "properties": {"query": {"type": "string", "description": "  What to look for "}, "top_k": {"type": ["integer", "string"], "default": 3, "description": "How many results"}, "filters": {"type": "array", "items": {"type": "string"}, "description": "Optional filters"}},
        "required": ["query"]}, "return": {"type": "string"}}}
  ])");
}

ojson tool_call(Gen& g, bool with_id, bool string_arguments) {
  ojson args =
      g.coin() ? ojson{{"city", "Zürich"}, {"unit", "celsius"}} : ojson{{"query", g.text()}, {"top_k", 2}};
  std::string name = args.contains("city") ? "get_weather" : "search";
  ojson call = {{"type", "function"},
                {"function", {{"name", name}, {"arguments", string_arguments ? ojson(args.dump()) : args}}}};
  if (with_id) call["id"] = g.id9();
  return call;
}

enum class Family {
  qwen3,
  qwen25,
  llama3,
  llama31,
  llama32,
  mistral_v3,
  mixtral,
  gemma2,
  gemma3,
  hermes,
  deepseek_r1,
  command_r
};

struct Shape {
  bool tools_ok;   // the template renders tool calls / tool results
  bool system_ok;  // accepts a system message
  bool strict_alternation;
};

Shape shape_of(Family f) {
  switch (f) {
    case Family::qwen3:
    case Family::qwen25:
      return {true, true, false};
    case Family::llama3:
      return {false, true, false};
    case Family::llama31:
    case Family::llama32:
      return {true, true, false};
    case Family::mistral_v3:
      return {true, true, true};
    case Family::mixtral:
      return {false, true, true};
    case Family::gemma2:
      return {false, false, true};
    case Family::gemma3:
      return {false, true, true};
    case Family::hermes:
    case Family::deepseek_r1:
    case Family::command_r:
      return {true, true, false};
  }
  return {};
}

ojson base_context(Family f) {
  switch (f) {
    case Family::llama3:
    case Family::llama31:
    case Family::llama32:
      return {{"bos_token", "<|begin_of_text|>"}, {"eos_token", "<|eot_id|>"}};
    case Family::mistral_v3:
    case Family::mixtral:
      return {{"bos_token", "<s>"}, {"eos_token", "</s>"}};
    case Family::gemma2:
    case Family::gemma3:
      return {{"bos_token", "<bos>"}, {"eos_token", "<eos>"}};
    case Family::hermes:
      return {{"bos_token", "<|begin_of_text|>"}, {"eos_token", "<|im_end|>"}};
    case Family::deepseek_r1:
      return {{"bos_token", "<｜begin▁of▁sentence｜>"}, {"eos_token", "<｜end▁of▁sentence｜>"}};
    case Family::command_r:
      return {{"bos_token", "<BOS_TOKEN>"}, {"eos_token", "<|END_OF_TURN_TOKEN|>"}};
    default:
      return {{"eos_token", "<|im_end|>"}};  // Qwen has no bos_token: it is left undefined
  }
}

// A conversation the template accepts (most of the time: a few deliberately break its rules, so the
// error paths are compared too).
ojson conversation(Family f, Gen& g, bool& used_tools) {
  const Shape sh = shape_of(f);
  ojson messages = ojson::array();
  used_tools = false;
  if (sh.system_ok ? g.coin(0.5) : g.coin(0.05)) messages.push_back(msg("system", g.text()));
  const size_t turns = 1 + g.below(4);
  for (size_t t = 0; t < turns; ++t) {
    std::string user = g.text();
    if (f == Family::qwen3 && g.coin(0.1)) user = "<tool_response>\n" + user + "\n</tool_response>";
    if (f == Family::gemma3 && g.coin(0.2)) {
      messages.push_back(
          {{"role", "user"},
           {"content", ojson::array({ojson{{"type", "image"}}, ojson{{"type", "text"}, {"text", user}}})}});
    } else {
      messages.push_back(msg("user", user));
    }
    const bool last = t + 1 == turns;
    if (last && g.coin(0.5)) break;  // end on a user turn
    if (sh.tools_ok && g.coin(0.3)) {
      used_tools = true;
      size_t n_calls =
          (f == Family::llama31 || f == Family::llama32) ? (g.coin(0.1) ? 2 : 1) : 1 + g.below(2);
      ojson calls = ojson::array();
      bool string_args =
          f == Family::deepseek_r1 || ((f == Family::qwen3 || f == Family::hermes) && g.coin(0.3));
      for (size_t c = 0; c < n_calls; ++c)
        calls.push_back(tool_call(g, f == Family::mistral_v3, string_args));
      ojson assistant = {
          {"role", "assistant"}, {"content", g.coin(0.5) ? "" : g.text()}, {"tool_calls", calls}};
      if (f == Family::mistral_v3 || f == Family::llama31 || f == Family::llama32) assistant.erase("content");
      if (f == Family::deepseek_r1) assistant["content"] = nullptr;
      messages.push_back(assistant);
      for (size_t c = 0; c < n_calls; ++c) {
        ojson result =
            msg("tool", g.coin(0.3) ? std::string(R"({"temperature": 21.5, "sky": "clear"})") : g.text());
        if (f == Family::mistral_v3) result["tool_call_id"] = calls[c]["id"];
        if (f == Family::llama32 && g.coin(0.3))
          result["content"] = ojson{{"temperature", 21.5}, {"unit", "C"}};
        messages.push_back(result);
      }
    }
    std::string answer = g.text();
    ojson assistant = msg("assistant", answer);
    if (f == Family::deepseek_r1 && g.coin(0.3))
      assistant["content"] = "<think>\n" + g.text() + "\n</think>\n\n" + answer;
    if (f == Family::qwen3) {
      double r = std::uniform_real_distribution<double>(0, 1)(g.rng);
      if (r < 0.25)
        assistant["content"] = "<think>\nLet me think: " + g.text() + "\n</think>\n\n" + answer;
      else if (r < 0.4)
        assistant["reasoning_content"] = g.text();
      else if (r < 0.45)
        assistant["reasoning_content"] = nullptr;
    }
    messages.push_back(assistant);
  }
  if (sh.strict_alternation && g.coin(0.04))
    messages.push_back(msg("assistant", "out of turn"));  // must raise
  return messages;
}

std::vector<OracleCase> conversation_cases(Family f, const std::string& name, uint32_t seed, size_t n) {
  Gen g(seed);
  std::vector<OracleCase> cases;
  for (size_t i = 0; i < n; ++i) {
    OracleCase c;
    c.template_name = name;
    c.label = name + " #" + std::to_string(i);
    bool used_tools = false;
    c.context = base_context(f);
    c.context["messages"] = conversation(f, g, used_tools);
    c.context["add_generation_prompt"] = g.coin();
    // transformers always passes tools and documents (None when absent).
    bool needs_tools =
        f == Family::hermes || f == Family::command_r;  // these iterate `tools` unconditionally
    bool offer_tools = shape_of(f).tools_ok && (used_tools || g.coin(needs_tools ? 0.95 : 0.2));
    c.context["tools"] = offer_tools ? weather_tools() : ojson(nullptr);
    c.context["documents"] = nullptr;
    switch (f) {
      case Family::qwen3:
        if (g.coin(0.3)) c.context["enable_thinking"] = g.coin();
        break;
      case Family::llama31:
        if (g.coin(0.3)) c.context["date_string"] = "02 Jan 2025";
        if (g.coin(0.2))
          c.context["builtin_tools"] = ojson::array({"brave_search", "wolfram_alpha", "code_interpreter"});
        if (g.coin(0.2)) c.context["tools_in_user_message"] = false;
        break;
      case Family::llama32:
        c.now = g.coin() ? "2024-09-25T10:30:00" : "2025-02-03T23:59:59";
        if (g.coin(0.2)) c.context["date_string"] = "01 Mar 2025";
        if (g.coin(0.2)) c.context["tools_in_user_message"] = false;
        break;
      default:
        break;
    }
    cases.push_back(std::move(c));
  }
  return cases;
}

struct TemplateUnderTest {
  Family family;
  std::string name;
  std::string path;  // tokenizer_config.json (chat_template) or a .jinja file
};

const std::vector<TemplateUnderTest>& templates_under_test() {
  static const std::vector<TemplateUnderTest> kAll = {
      {Family::qwen3, "qwen3", "../shared/data/tokenizers/qwen3/tokenizer_config.json"},
      {Family::llama3, "llama3", "../shared/data/tokenizers/llama3_1/tokenizer_config.json"},
      {Family::qwen25, "qwen2.5", "tests/fixtures/chat/templates/qwen2.5-instruct.jinja"},
      {Family::llama31, "llama3.1", "tests/fixtures/chat/templates/llama-3.1-instruct.jinja"},
      {Family::llama32, "llama3.2", "tests/fixtures/chat/templates/llama-3.2-instruct.jinja"},
      {Family::mistral_v3, "mistral-v0.3", "tests/fixtures/chat/templates/mistral-7b-instruct-v0.3.jinja"},
      {Family::mistral_v3, "mistral-tools-ns",
       "tests/fixtures/chat/templates/mistral-instruct-tools-ns.jinja"},
      {Family::mixtral, "mixtral", "tests/fixtures/chat/templates/mixtral-8x7b-instruct-v0.1.jinja"},
      {Family::gemma2, "gemma2", "tests/fixtures/chat/templates/gemma-2-it.jinja"},
      {Family::gemma3, "gemma3", "tests/fixtures/chat/templates/gemma-3-it.jinja"},
      {Family::hermes, "hermes3-tools", "tests/fixtures/chat/templates/hermes-3-llama-3.1-tool-use.jinja"},
      {Family::deepseek_r1, "deepseek-r1-distill",
       "tests/fixtures/chat/templates/deepseek-r1-distill-llama-8b.jinja"},
      {Family::command_r, "command-r-plus-tools",
       "tests/fixtures/chat/templates/command-r-plus-tool-use.jinja"},
  };
  return kAll;
}

std::string load_template(const TemplateUnderTest& t) {
  std::string path = t.path.rfind("../", 0) == 0 ? repo_path(t.path) : repo_path(t.path);
  if (t.path.size() > 5 && t.path.substr(t.path.size() - 5) == ".json") return chat_template_of(path);
  return read_text(path);
}

class RealTemplateOracle : public ::testing::TestWithParam<size_t> {};

TEST_P(RealTemplateOracle, RendersLikeJinja2) {
  const auto& t = templates_under_test()[GetParam()];
  std::map<std::string, std::string> templates = {{t.name, load_template(t)}};
  auto cases = conversation_cases(t.family, t.name, 1234u + static_cast<uint32_t>(GetParam()), 300);
  size_t errors = 0;
  std::string first_error;
  size_t matched = compare_with_oracle(templates, cases, &errors, &first_error);
  EXPECT_EQ(matched, cases.size());
  // Most generated conversations are valid: the comparison must mostly be of rendered text.
  EXPECT_LT(errors, cases.size() / 4)
      << "too many conversations were rejected by the template, e.g. " << first_error;
  std::printf("[ %s ] %zu conversations identical to jinja2 (%zu of them raise in both)\n", t.name.c_str(),
              matched, errors);
}

INSTANTIATE_TEST_SUITE_P(Templates, RealTemplateOracle,
                         ::testing::Range<size_t>(0, templates_under_test().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           std::string n = templates_under_test()[info.param].name;
                           for (char& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

// The Qwen3 template renders the final assistant turn (after the last user query) with an empty
// <think>\n\n</think>\n\n block; jinja2 and synpref agree on that byte for byte.
TEST(RealTemplateOracle, Qwen3FinalAssistantHasEmptyThinkBlock) {
  std::string src = chat_template_of(repo_path("../shared/data/tokenizers/qwen3/tokenizer_config.json"));
  ojson ctx = {{"messages", ojson::array({msg("user", "Hi"), msg("assistant", "Hello!")})},
               {"add_generation_prompt", false},
               {"tools", nullptr},
               {"documents", nullptr}};
  auto tmpl = Template::compile(src);
  ASSERT_TRUE(tmpl.is_ok()) << tmpl.status().message();
  auto out = tmpl->render(to_value(ctx));
  ASSERT_TRUE(out.is_ok()) << out.status().message();
  EXPECT_EQ(
      *out,
      "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nHello!<|im_end|>\n");
  OracleCase c{"qwen3", ctx, "", "qwen3 final think"};
  compare_with_oracle({{"qwen3", src}}, {c});
}

// --- semantics corpus ------------------------------------------------------------------------------

struct Snippet {
  const char* source;
  const char* context_json;  // may be ""
};

// Each snippet is rendered by jinja2 and by synpref; results (or failures) must agree.
const Snippet kSnippets[] = {
    // whitespace control
    {"a\n  {% if true %}\n  b\n  {% endif %}\n  {{ 'c' }}\n  {# comment #}\n  d {# c2 #}\ne", ""},
    {"{%- for i in range(3) -%}\n  {{ i }}\n{%- endfor %}", ""},
    {"{% raw %}\n  {{ x }}{% endraw %}x\n  {%- raw -%}  q  {%- endraw -%}  y\n", ""},
    {"  {%+ if true %}x{% endif +%}\n y", ""},
    {"{% if true %}  \n  x{% endif %}|{{- ' a ' -}}  |\n\n  {#- c -#}  \n z", ""},
    {"line\n\n\n", ""},
    {"a\r\nb\rc\n{% if true %}\r\nd{% endif %}", ""},
    {"\t{% if true %}\t\n\tx\n\t{% endif %}\t\ny", ""},
    {"{{ 'a' }}   {% if true %}b{% endif %}", ""},
    {"{% for x in [1,2] %}\n    {{ x }}\n{% endfor %}\n", ""},
    {"x {# c #}  {% if true %}y{% endif %}|{{ 'a' -}}\n   {% if true %}b{% endif %}|{# c #}\n   {% if true "
     "%}c{% endif %}",
     ""},
    {"{% raw %}\n   {% endraw %}|\n   {% raw -%}\n  r  \n  {%- endraw %}|{%+ raw %}x{% endraw +%}\ny", ""},
    {"{{- '  a  ' -}}\n\n{{ 'b' }}{#- trailing -#}   \n   c", ""},
    {"{%- if true %}\u00a0\n\u3000{% if true %}x{% endif %}{% endif %}", ""},
    {"{{ }}", ""},
    {"{{ x|frobnicate }}", ""},
    {"{% for x in xs if x else y %}{% endfor %}", ""},
    {"{{ msgs[0].content.startswith('x') }}", R"({"msgs": [{"content": [{"type": "text"}]}]})"},
    {"{{ '</think>' in m.content }}", R"({"m": {"content": null}})"},
    {"{{ none|trim }}{{ u|upper }}{{ u|join }}{{ u|first }}{{ u|trim }}|{{ u|list }}{{ u|sort }}{{ "
     "u|reverse|list }}",
     ""},
    // found by differential fuzzing against jinja2
    {"{{ u8.title() }}|{{ u8.capitalize() }}|{{ u8.swapcase() }}|{{ u8|title }}|{{ u8|capitalize }}|{{ "
     "u8|lower }}",
     R"({"u8": "ΣΑΣ straße İ ǆx 👍🏽 Ωmega σ AΣ. ΣA"})"},
    {"{{ 'é' % [1] }}|{{ '%s' % [1, 2] }}|{{ 'x' % u }}|{{ '%s!' % u }}|{{ 'n' % {'a': 1} }}", ""},
    {"{{ 5|indent(2) }}", ""},
    {"{{ ['a']|indent(2) }}", ""},
    {"{{ u|indent(2) }}", ""},
    {"{{ u|int }}", ""},
    {"{{ u|float }}", ""},
    // literals and printing
    {"{{ [1, 'a', none, true, 1.5, {'k': \"it's\"}] }}|{{ (1,) }}|{{ (1, 2) }}|{{ () }}|{{ 1e20 }}|{{ 1.0 }}",
     ""},
    {"{{ 1/3 }}|{{ 7 // 2 }}|{{ -7 // 2 }}|{{ -7 % 3 }}|{{ 7 % -3 }}|{{ 2 ** 10 }}|{{ 2 ** -1 }}|{{ 10 / 2 "
     "}}|{{ 2**3**2 }}",
     ""},
    {"{{ 7.5 // 2 }}|{{ -7.5 % 2 }}|{{ 0.1 + 0.2 }}|{{ 1e16 }}|{{ 1e15 }}|{{ 0.0001 }}|{{ 0.00001 }}|{{ -0.0 "
     "}}|{{ 2.5e-7 }}",
     ""},
    {"{{ 'a\\'b\"c' }}|{{ ['a\\'b\"c', \"x'y\", 'é\\n\\x01\\t\\\\'] }}|{{ 'x' 'y' \"z\" }}", ""},
    {"{{ \"\\u00e9\\N{BULLET}\\x41\\101\\q\\U0001F600\" }}", ""},
    {"{{ 0x1F }}|{{ 0o17 }}|{{ 0b101 }}|{{ 1_000 }}|{{ 1_0.5 }}|{{ 12e-1 }}|{{ 1E3 }}", ""},
    {"{{ x }}|{{ y }}|{{ z }}|{{ big }}",
     R"({"x": 1e300, "y": -1.5e-10, "z": 123456789.125, "big": 9007199254740993})"},
    {"{{ true }}{{ True }}{{ false }}{{ none }}{{ None }}{{ undefined_name }}", ""},
    // expressions
    {"{{ 1 == 1.0 }}{{ true == 1 }}{{ 'a' < 'b' }}{{ 1 < 2 < 3 }}{{ 3 > 2 > 5 }}{{ [1,2] == [1,2] }}{{ "
     "{'a':1} == {'a':1} }}",
     ""},
    {"{{ [1,2] < [1,3] }}{{ (1,2) >= (1,2) }}{{ 'abc' > 'abd' }}{{ [1] == (1,) }}{{ none == none }}{{ x == "
     "none }}",
     ""},
    {"{{ '' or 'x' }}|{{ 'a' and 'b' }}|{{ 0 or [] }}|{{ not none }}|{{ 1 if 0 else 2 }}|{{ 'y' if false }}|",
     ""},
    {"{{ 'n=' ~ 3 ~ true ~ none ~ 1.5 ~ [1] ~ x }}", ""},
    {"{{ 'b' in 'abc' }}{{ 2 in [1, 2] }}{{ 'k' in d }}{{ 'q' not in d }}{{ 1 in d }}{{ 'x' in u }}",
     R"({"d": {"k": 1}})"},
    {"{{ -x }}{{ +x }}{{ -(1.5) }}{{ - 3 | abs }}{{ not x is defined }}", R"({"x": 4})"},
    {"{{ [1] + [2] }}{{ 'ab' * 3 }}{{ 2 * 'c' }}{{ [0] * 2 }}{{ (1,) + (2,) }}{{ 'x' * -1 }}", ""},
    {"{{ '%s and %d and %05.2f and %r and %x and %%' % ('x', 3.7, 2.5, 'q', 255) }}", ""},
    {"{{ '%(a)s-%(b)03d' % {'a': 'A', 'b': 7} }}|{{ '%s' % [1, 2] }}|{{ '%-5s|%5s|' % ('l', 'r') }}", ""},
    {"{{ '{} {name} {0!r}'.format(1, name='n') }}|{{ '{:>6}|{:<4}|{:^7}|{:.3f}|{:05d}|{:+d}'.format('r', "
     "'l', 'c', 3.14159, 42, 5) }}",
     ""},
    {"{{ '{{literal}} {}'.format(5) }}", ""},
    // subscripts, attributes, slices
    {"{{ xs[0] }}{{ xs[-1] }}{{ xs[1:] }}{{ xs[:2] }}{{ 'hello'[1:3] }}{{ d['k'] }}{{ d.k }}{{ xs.0 }}",
     R"({"xs": [1, 2, 3], "d": {"k": "v"}})"},
    {"{{ xs[::-1] }}{{ xs[::2] }}{{ xs[1::2] }}{{ xs[-1:0:-1] }}{{ xs[:-2:-1] }}{{ 'abc'[::-1] }}{{ xs[10:] "
     "}}{{ xs[-10:2] }}",
     R"({"xs": [1, 2, 3, 4, 5]})"},
    {"{{ 'héllo'[1] }}{{ 'héllo'[-1] }}{{ 'héllo'[1:4] }}{{ '👍🏽x'[1] }}|{{ [1,2,3][5] }}|{{ "
     "'abc'[10] "
     "}}|{{ (1,2)[0] }}",
     ""},
    {"{{ d.get('a') }}{{ d['items'] }}{{ d.items() | list }}{{ d.get('zz', 9) }}{{ d.get('zz') }}{{ "
     "d.keys()|list }}{{ d.values()|list }}",
     R"({"d": {"a": 1, "items": 5}})"},
    {"{{ d.items() }}|{{ d.keys() }}|{{ d.values() }}|{{ d.items()|length }}",
     R"({"d": {"b": 1, "a": [2]}})"},
    {"{{ x.y }}|{{ x['y'] }}|{{ x.y is defined }}|{{ n.a }}|{{ n[0] }}", R"({"x": {}, "n": null})"},
    {"{{ x.y.z }}", R"({"x": {}})"},
    {"{{ foo.bar }}", ""},
    {"{{ msgs[0].role }}{{ msgs[0]['content'] }}{{ msgs[-1].content|upper }}",
     R"({"msgs": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]})"},
    // statements and scoping
    {"{% for x in [1,2] %}{% if loop.first %}{% set y = 5 %}{% endif %}[{{ y }}]{% endfor %}[{{ y }}]", ""},
    {"{% set y = 1 %}{% for x in [1,2] %}[{{ y }}]{% set y = y + 1 %}[{{ y }}]{% endfor %}[{{ y }}]", ""},
    {"{% if true %}{% set z = 3 %}{% endif %}{{ z }}", ""},
    {"{% macro m(a, b=2) %}{{ a }}-{{ b }}-{{ g }}{% endmacro %}{% set g = 'G' %}{{ m(1) }}{{ m(1, b=3) }}{% "
     "set g = 'H' %}{{ m(0) }}",
     ""},
    {"{% for x in [1,2] %}{% set g = 'L' %}{% macro q() %}{{ g }}{{ x }}{% endmacro %}{{ q() }}{% endfor %}",
     ""},
    {"{% macro m(a, b=a * 2) %}{{ a }},{{ b }},{{ varargs }},{{ kwargs }}{% endmacro %}{{ m(1) }}|{{ m(1, 2, "
     "3, k='v') }}",
     ""},
    {"{% macro m(a) %}{{ a }}{% endmacro %}{{ m() }}|{{ m(1, 2) }}", ""},
    {"{% macro r(n) %}{% if n > 0 %}{{ n }}{{ r(n - 1) }}{% endif %}{% endmacro %}{{ r(5) }}", ""},
    {"{% macro m() %}x{% endmacro %}{{ m }}", ""},
    {"{% for x in [] %}{% else %}{% set q = 1 %}empty{% endfor %}[{{ q }}]", ""},
    {"{% set a = 5 %}{% with a = 1, b = a %}{{ a }}{{ b }}{% endwith %}{{ a }}", ""},
    {"{% filter upper %}{% set fz = 2 %}abc{% endfilter %}[{{ fz }}]", ""},
    {"{% set x %}  block {{ 1 }} {% endset %}[{{ x }}]{% set y | upper | trim %} abc {% endset %}[{{ y }}]",
     ""},
    {"{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c, d = 'xy' %}{{ c }}{{ d }}", ""},
    {"{% set a, b = [1] %}", ""},
    {"{% set ns = namespace(a=1, b=[]) %}{% for i in range(3) %}{% set ns.a = ns.a + i %}{% endfor %}{{ ns.a "
     "}}{{ ns }}|{{ ns.zz }}|{{ ns['a'] }}",
     ""},
    {"{% set ns = namespace({'x': 1}, y=2) %}{{ ns.x }}{{ ns.y }}", ""},
    {"{% set d = {} %}{% set d.a = 1 %}", ""},
    {"{% for a in [1,2,3] %}{{ loop.previtem }},{{ loop.nextitem }},{{ loop.revindex }},{{ loop.revindex0 "
     "}},{{ loop.depth }},{{ loop.length }},{{ loop.cycle('x','y') }};{% endfor %}",
     ""},
    {"{% for a in [1,1,2] %}{{ loop.changed(a) }}{% endfor %}{{ loop }}", ""},
    {"{% for a, b in [[1,2],[3,4]] %}{{ a }}{{ b }}{% endfor %}{% for k, v in {'x': 1, 'y': 2}.items() %}{{ "
     "k }}{{ v }}{% endfor %}",
     ""},
    {"{% for a in [1,2,3,4] if a is odd %}{{ loop.index }}/{{ loop.length }}:{{ a }} {% endfor %}", ""},
    {"{% for n in [1, 2, 3, 4] %}{% if n == 2 %}{% continue %}{% endif %}{% if n == 4 %}{% break %}{% endif "
     "%}{{ n }}{% endfor %}",
     ""},
    {"{% for c in 'héllo' %}[{{ c }}]{% endfor %}{% for k in {'b': 1, 'a': 2} %}{{ k }}{% endfor %}{% for x "
     "in none_thing %}{% endfor %}",
     ""},
    {"{% for x in 5 %}{% endfor %}", ""},
    {"{% for x in [1] %}{% for y in [2, 3] %}{{ loop.index }}{{ x }}{{ y }}{% endfor %}{{ loop.index }}{% "
     "endfor %}",
     ""},
    {"{% print 'a', 1 %}{% generation %}gen {{ 2 }}{% set inner = 1 %}{% endgeneration %}[{{ inner }}]", ""},
    // filters
    {"{{ '  x  ' | trim }}|{{ xs | length }}|{{ 'Ab' | upper }}{{ 'Ab' | lower }}|{{ xs | join('-') }}|{{ xs "
     "| first }}{{ xs | last }}|{{ missing | default('d') }}|{{ 5 | string }}",
     R"({"xs": [1, 2, 3]})"},
    {"{{ 'a' + ' b ' | trim + 'c' }}{{ 'xxaxx'|trim('x') }}", ""},
    {"{{ 'hello wORLD-x(y' | title }}|{{ 'hELLO wORLD' | capitalize }}|{{ 'abc' | list }}|{{ 'a b  c' | "
     "wordcount }}",
     ""},
    {"{{ msgs|selectattr('role', 'equalto', 'user')|list|length }}{{ msgs|rejectattr('role', 'eq', "
     "'user')|map(attribute='content')|first }}{{ msgs|selectattr('x')|list }}{{ msgs|selectattr('x', "
     "'defined')|list }}{{ msgs|selectattr('role', '==', 'user')|map(attribute='content')|join(',') }}",
     R"({"msgs": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b", "x": 1}, {"role": "user", "content": "c"}]})"},
    {"{{ [1,2,3,4]|select('odd')|list }}{{ [1,2,3,4]|reject('even')|list }}{{ [0,1,'',none,'x']|select|list "
     "}}{{ [1,2,3]|select('gt', 1)|list }}{{ ['a','b']|select('in', 'abc')|list }}",
     ""},
    {"{{ [1,2]|join }}{{ ['a','b']|join(', ') }}{{ [{'n':'x'},{'n':'y'}]|join('-', attribute='n') }}{{ "
     "['a','B']|map('upper')|list }}{{ [{'a':{'b':1}}]|map(attribute='a.b')|list }}{{ "
     "[{}]|map(attribute='q', default='D')|list }}",
     ""},
    {"{{ d|items|list }}{{ d|dictsort }}{{ d|dictsort(reverse=true) }}{{ d|dictsort(by='value') }}{{ "
     "undefined_x|items|list }}",
     R"({"d": {"b": 1, "a": 2, "C": 0}})"},
    {"{{ [3,1,2]|sort }}{{ ['b','A','a']|sort }}{{ ['b','A','a']|sort(case_sensitive=true) }}{{ "
     "[3,1,2]|sort(reverse=true) }}{{ [{'n':2},{'n':1}]|sort(attribute='n') }}",
     ""},
    {"{{ [3,1,2]|reverse|list }}{{ 'abc'|reverse }}{{ [1,2,2,1]|unique|list }}{{ ['a','A','b']|unique|list "
     "}}{{ [1,[2]]|first }}",
     ""},
    {"{{ [1,2,3]|sum }}{{ [1,2,3]|max }}{{ [1,2,3]|min }}{{ -3|abs }}{{ 2.567|round(2) }}{{ 2.5|round }}{{ "
     "3.5|round }}{{ 3|round }}{{ 2.567|round(1, 'floor') }}{{ [1,2,3,4,5]|batch(2)|list }}{{ ['a','B']|max "
     "}}",
     ""},
    {"{{ x|default('d') }}{{ ''|default('d') }}{{ ''|default('d', true) }}{{ none|default('d') }}{{ "
     "x|d('dd') }}{{ x|default }}|",
     ""},
    {"{{ '1.9'|int }}{{ 'x'|int }}{{ 'x'|int(7) }}{{ '0x1f'|int(0, 16) }}{{ 3.7|int }}{{ '3'|float }}{{ "
     "true|int }}{{ ' 12 '|int }}{{ '1_000'|int }}{{ 'inf'|float }}{{ none|float }}",
     ""},
    {"{{ \"hello\"|replace(\"l\", \"L\") }}{{ \"hello\"|replace(\"l\", \"L\", 1) }}{{ \"abc\".replace(\"\", "
     "\"-\") }}{{ \"Hello\"|center(9) }}|{{ \"a\\nb\\n\\nc\"|indent(2) }}|{{ \"a\\nb\"|indent(2, true) }}|{{ "
     "\"a\\n\\nb\"|indent('> ', blank=true) }}",
     ""},
    {"{{ \"<a href='x'>&\"|e }}{{ \"<b>\"|escape }}{{ \"<b>\"|safe }}{{ 5|safe }}", ""},
    {"{{ messages|tojson }}|{{ messages|tojson(indent=2) }}",
     R"({"messages": [{"role": "user", "content": "hi \"q\" \\ \n\t\u0001 é 😀 \u2028"}]})"},
    {"{{ {'a': [], 'b': {}}|tojson(indent=2) }}|{{ {'a':1}|tojson(separators=(',',':')) }}|{{ {1: 2, none: "
     "3, true: 4, 1.5: 5}|tojson }}|{{ [1,[2]]|tojson(indent='\\t') }}|{{ "
     "{'b':1,'a':2}|tojson(sort_keys=true) }}|{{ (1,2)|tojson }}|{{ 1.0|tojson }}|{{ "
     "'é'|tojson(ensure_ascii=true) }}",
     ""},
    {"{{ tools|tojson }}|{{ tools[0]|tojson(indent=4) }}",
     R"({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"x": {"type": "number", "minimum": -1.5e-3}}, "required": ["x"]}}}]})"},
    {"{{ undefined_thing|tojson }}", ""},
    {"{{ [1,2]|tojson(4) }}", ""},
    {"{{ 'a b' is string }}{{ 1 is number }}{{ true is number }}{{ true is integer }}{{ 1.0 is float }}{{ "
     "none is none }}{{ {} is mapping }}{{ [] is sequence }}{{ 'x' is sequence }}{{ {} is sequence }}{{ 1 is "
     "iterable }}{{ u is iterable }}{{ u is sequence }}",
     ""},
    {"{{ 5 is divisibleby 3 }}{{ 4 is even }}{{ 'a' is in 'abc' }}{{ 1 is eq 1 }}{{ 2 is gt 1 }}{{ x is "
     "sameas none }}{{ none is sameas none }}{{ 1 is ne 2 }}{{ 3 is le 3 }}",
     ""},
    {"{{ (1 == 1) is true }}{{ 1 is true }}{{ 0 is false }}{{ 'abc' is lower }}{{ 'ABC' is upper }}{{ 'x' is "
     "not none }}{{ x is undefined }}{{ 'tojson' is filter }}{{ 'defined' is test }}{{ range is callable }}",
     ""},
    // string methods
    {"{{ ' x '.strip() }}{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith('x') }}{{ 'ab'.upper() }}{{ 'hello "
     "world'.title() }}{{ ' x '.lstrip() }}|{{ ' x '.rstrip() }}|{{ 'abc'.startswith(('x', 'a')) }}",
     ""},
    {"[{{ '\\n\\nx\\n'.strip('\\n') }}][{{ 'xxay'.lstrip('x') }}][{{ 'ayyx'.rstrip('xy') }}][{{ ' a "
     "'.strip(none) }}][{{ ' \\u00a0x\\u3000 '.strip() }}]",
     ""},
    {"{{ 'a<b>c<b>'.split('<b>') }}{{ ' a  b\\u2003c '.split() }}{{ 'x'.split(',') }}{{ "
     "'r</think>a'.split('</think>')[-1] }}{{ 'a,b,c'.split(',', 1) }}{{ 'a,b,c'.rsplit(',', 1) }}{{ "
     "''.split(',') }}{{ ''.split() }}{{ ' a b '.split(none, 1) }}{{ ' a b '.rsplit(none, 1) }}",
     ""},
    {"{{ 'a\\nb\\r\\nc'.splitlines() }}{{ 'hello'.find('l') }}{{ 'héllo'.find('l') }}{{ 'hello'.rfind('l') "
     "}}{{ 'hello'.find('z') }}{{ 'hello'.count('l') }}{{ '-'.join(['a', 'b']) }}{{ 'hello'.index('e') }}",
     ""},
    {"{{ 'Straße'.upper() }}|{{ 'hello wORLD-x'.title() }}|{{ 'ΣΑΣ'.lower() }}|{{ 'éCOLE'.capitalize() }}|{{ "
     "'aBc'.swapcase() }}",
     ""},
    {"{{ '12'.isdigit() }}{{ 'a1'.isalnum() }}{{ 'ab'.isalpha() }}{{ ' '.isspace() }}{{ 'Ab'.isupper() }}{{ "
     "'ab'.islower() }}{{ ''.isdigit() }}",
     ""},
    {"{{ 'a.b.c'.partition('.') }}{{ 'a.b.c'.rpartition('.') }}{{ 'xy'.ljust(4, '*') }}{{ 'xy'.rjust(4) }}{{ "
     "'xy'.center(5, '-') }}{{ '-5'.zfill(4) }}{{ 'prefix_x'.removeprefix('prefix_') }}",
     ""},
    {"{{ [1, 2, 2].count(2) }}{{ [1, 2].index(2) }}{{ (3, 4).index(4) }}", ""},
    // errors that must match
    {"{{ raise_exception('boom ' ~ 1) }}", ""},
    {"{% if x is not defined %}{{ raise_exception('x is required') }}{% endif %}", ""},
    {"{{ 'a' < 1 }}", ""},
    {"{{ 'x' + 1 }}", ""},
    {"{{ 1 + none }}", ""},
    {"{{ u + 1 }}", ""},
    {"{{ u() }}", ""},
    {"{{ 1 / 0 }}", ""},
    {"{{ [].append(1) }}", ""},
    {"{{ range(200000)|length }}", ""},
    {"{{ range(5)|list }}{{ range(1, 10, 3)|list }}{{ range(5, 0, -2)|list }}{{ dict(a=1, b='x') }}", ""},
    {"{{ strftime_now('%Y-%m-%d %H:%M:%S %a %A %b %B %j %p %I %y %f|%z|%Z %%') }}", ""},
    {"{{ strftime_now('%d %b %Y') }}", ""},
};

TEST(SemanticsOracle, SnippetsRenderLikeJinja2) {
  std::map<std::string, std::string> templates;
  std::vector<OracleCase> cases;
  size_t i = 0;
  for (const auto& s : kSnippets) {
    std::string name = "snippet" + std::to_string(i++);
    templates[name] = s.source;
    OracleCase c;
    c.template_name = name;
    c.label = s.source;
    if (*s.context_json) c.context = ojson::parse(s.context_json);
    c.now = "2024-07-26T14:05:09.123456";
    cases.push_back(std::move(c));
  }
  size_t matched = compare_with_oracle(templates, cases);
  std::printf("[ semantics ] %zu of %zu snippets identical to jinja2\n", matched, cases.size());
}

// --- differential fuzzing ----------------------------------------------------------------------------

// Random expressions over a context of every value kind (strings with Unicode, numbers, None, lists,
// dicts, nested structures, undefined names), wrapped in {{ }} or a for loop. Each must render like
// jinja2 or fail like jinja2. Filters whose output Python prints as Markup('...') (e, safe) and
// generators not converted with |list are left out: those are documented differences.
class ExprGen {
 public:
  explicit ExprGen(uint32_t seed) : rng_(seed) {}
  std::string pick(const std::vector<std::string>& v) { return v[rng_() % v.size()]; }
  double uniform() { return std::uniform_real_distribution<double>(0, 1)(rng_); }
  std::string expr(int depth = 0) {
    double r = uniform();
    if (depth > 3 || r < 0.3) return pick(atoms_);
    if (r < 0.45) return expr(depth + 1) + "|" + pick(filters_);
    if (r < 0.55)
      return "(" + expr(depth + 1) + " is " + (uniform() < 0.5 ? "not " : "") + pick(tests_) + ")";
    if (r < 0.65) return pick(atoms_) + "." + pick(methods_);
    if (r < 0.85) return "(" + expr(depth + 1) + " " + pick(binops_) + " " + expr(depth + 1) + ")";
    if (r < 0.9) return "(" + expr(depth + 1) + " if " + expr(depth + 1) + " else " + expr(depth + 1) + ")";
    if (r < 0.95) return "(not " + expr(depth + 1) + ")";
    return "[" + expr(depth + 1) + ", " + expr(depth + 1) + "]";
  }

 private:
  std::mt19937 rng_;
  const std::vector<std::string> atoms_ = {"s",
                                           "e",
                                           "ws",
                                           "n",
                                           "m",
                                           "f",
                                           "z",
                                           "t",
                                           "no",
                                           "l",
                                           "ls",
                                           "d",
                                           "msgs",
                                           "nested",
                                           "undef",
                                           "u8",
                                           "u8[2:7]",
                                           "1",
                                           "0",
                                           "-1",
                                           "2.0",
                                           "'x'",
                                           "''",
                                           "'a,b'",
                                           "[1, 2]",
                                           "[]",
                                           "{'k': 1}",
                                           "none",
                                           "true",
                                           "false",
                                           "(1, 2)",
                                           "1.5e3",
                                           "'é'",
                                           "d.role",
                                           "d['content']",
                                           "msgs[0]",
                                           "msgs[-1].role",
                                           "nested.a.b[1].c",
                                           "l[1:]",
                                           "s[::-1]",
                                           "s[2:5]",
                                           "u8[::-1]"};
  const std::vector<std::string> filters_ = {"length",
                                             "upper",
                                             "lower",
                                             "trim",
                                             "first",
                                             "last",
                                             "list",
                                             "string",
                                             "int",
                                             "float",
                                             "tojson",
                                             "join(',')",
                                             "sort",
                                             "reverse|list",
                                             "unique|list",
                                             "default('D')",
                                             "d('x', true)",
                                             "title",
                                             "capitalize",
                                             "abs",
                                             "round",
                                             "sum",
                                             "max",
                                             "min",
                                             "items|list",
                                             "dictsort",
                                             "selectattr('role')|list",
                                             "map(attribute='role')|list",
                                             "select|list",
                                             "reject('none')|list",
                                             "replace('l', 'L')",
                                             "indent(2)",
                                             "center(12)",
                                             "wordcount",
                                             "batch(2)|list",
                                             "tojson(indent=1)",
                                             "count",
                                             "format(1)",
                                             "tojson(sort_keys=true)"};
  const std::vector<std::string> tests_ = {"defined",       "undefined", "none",      "string",  "number",
                                           "mapping",       "iterable",  "sequence",  "integer", "float",
                                           "boolean",       "true",      "false",     "odd",     "even",
                                           "divisibleby 2", "eq 1",      "in [1, 2]", "lower",   "upper"};
  const std::vector<std::string> methods_ = {
      "strip()",        "upper()",           "split()",        "split(',')",   "startswith('H')",
      "endswith('d')",  "replace('o', '0')", "lower()",        "title()",      "find('l')",
      "count('l')",     "get('role')",       "get('zz', 5)",   "items()|list", "keys()|list",
      "values()|list",  "lstrip()",          "rstrip('\\n')",  "format(1)",    "isdigit()",
      "index(1)",       "splitlines()",      "swapcase()",     "capitalize()", "isupper()",
      "split(None, 2)", "rsplit(None, 1)",   "partition(' ')", "zfill(9)"};
  const std::vector<std::string> binops_ = {"+",  "-", "*", "/",  "//", "%",  "**",     "~",   "==",
                                            "!=", "<", ">", "<=", ">=", "in", "not in", "and", "or"};
};

TEST(SemanticsOracle, RandomExpressionsRenderLikeJinja2) {
  const ojson ctx =
      ojson::parse(R"({"s": "Héllo World", "e": "", "ws": "  a b\n", "n": 7, "m": -3, "f": 2.5, "z": 0,
    "t": true, "no": null, "l": [3, 1, 2], "ls": ["b", "A", "c"], "d": {"role": "user", "content": "hi", "k": [1, 2]},
    "msgs": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b",
             "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1}}}]}],
    "nested": {"a": {"b": [1, {"c": "deep"}]}}, "u8": "ΣΑΣ straße İ ǆx 👍🏽 Ωmega σ"})");
  ExprGen gen(2024);
  std::map<std::string, std::string> templates;
  std::vector<OracleCase> cases;
  for (int i = 0; i < 2500; ++i) {
    std::string src = "{{ " + gen.expr() + " }}";
    if (gen.uniform() < 0.2)
      src = "{% for x in " + gen.expr(2) + " %}[{{ loop.index }}:{{ x }}]{% else %}E{% endfor %}";
    std::string name = "fuzz" + std::to_string(i);
    templates[name] = src;
    cases.push_back({name, ctx, "", src});
  }
  size_t errors = 0;
  size_t matched = compare_with_oracle(templates, cases, &errors);
  std::printf("[ fuzz ] %zu of %zu random expressions identical to jinja2 (%zu fail in both)\n", matched,
              cases.size(), errors);
}

// Random templates mixing text, whitespace (incl. NBSP and CRLF), output tags, comments, raw blocks
// and nested if/for/set with every whitespace-control modifier: the lexer's trim_blocks,
// lstrip_blocks, '-' and '+' handling must agree with jinja2's byte for byte.
class WhitespaceGen {
 public:
  explicit WhitespaceGen(uint32_t seed) : rng_(seed) {}
  std::string block(int depth) {
    std::string out;
    int n = static_cast<int>(rng_() % 6);
    for (int i = 0; i < n; ++i) out += segment(depth);
    return out;
  }
  std::string ending() { return pick({"", "\n", "\n\n", " \n"}); }

 private:
  std::string pick(const std::vector<std::string>& v) { return v[rng_() % v.size()]; }
  double uniform() { return std::uniform_real_distribution<double>(0, 1)(rng_); }
  std::string sign() { return pick({"", "", "-", "+"}); }
  std::string text() {
    return pick({"\n", " ", "\t", "  ", "a", "b\n", "\n\n", "  \n  ", "\u00a0", "\r\n", "x ", " y", "\n   "});
  }
  std::string tag(const std::string& body) { return "{%" + sign() + " " + body + " " + sign() + "%}"; }
  std::string segment(int depth) {
    double r = uniform();
    if (r < 0.35) return text();
    if (r < 0.5) return "{{" + pick({"", "-", "+"}) + " 'v' " + pick({"", "-"}) + "}}";
    if (r < 0.6) return "{#" + sign() + " c " + sign() + "#}";
    if (r < 0.67)
      return "{%" + sign() + " raw " + pick({"", "-"}) + "%}" + text() + "r" + text() + "{%" + sign() +
             " endraw " + sign() + "%}";
    if (r < 0.8 && depth < 3) {
      std::string s = tag("if true") + block(depth + 1);
      if (uniform() < 0.3) s += tag("else") + block(depth + 1);
      return s + tag("endif");
    }
    if (r < 0.9 && depth < 3) return tag("for i in [1, 2]") + block(depth + 1) + tag("endfor");
    if (depth < 3) return tag("set x = 1");
    return text();
  }
  std::mt19937 rng_;
};

TEST(SemanticsOracle, RandomWhitespaceControlLikeJinja2) {
  WhitespaceGen gen(99);
  std::map<std::string, std::string> templates;
  std::vector<OracleCase> cases;
  for (int i = 0; i < 2000; ++i) {
    std::string src = gen.block(0) + gen.ending();
    std::string name = "ws" + std::to_string(i);
    templates[name] = src;
    cases.push_back({name, ojson::object(), "", ojson(src).dump()});
  }
  size_t matched = compare_with_oracle(templates, cases);
  std::printf("[ whitespace ] %zu of %zu random templates identical to jinja2\n", matched, cases.size());
}

}  // namespace
}  // namespace synpref::chat::testing
