// Unit tests of the chat template interpreter: each feature with its expected output (the values are
// what python3-jinja2 renders with transformers' settings; test_chat_oracle checks the same kind of
// snippets against the live reference), error messages with positions, limits and the public API.
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "json_value.h"
#include "synpref/chat/template.h"

namespace synpref::chat {
namespace {

using ojson = nlohmann::ordered_json;
using testing::to_value;

std::string render(const std::string& src, const ojson& ctx = ojson::object(),
                   const RenderOptions& opts = {}) {
  auto t = Template::compile(src);
  if (!t.is_ok()) return "COMPILE ERROR: " + t.status().message();
  auto r = t->render(to_value(ctx), opts);
  if (!r.is_ok()) return "RENDER ERROR: " + r.status().message();
  return *r;
}

Status render_status(const std::string& src, const ojson& ctx = ojson::object(),
                     const RenderOptions& opts = {}) {
  auto t = Template::compile(src);
  if (!t.is_ok()) return t.status();
  auto r = t->render(to_value(ctx), opts);
  return r.is_ok() ? Status::ok() : r.status();
}

// --- whitespace and lexing --------------------------------------------------------------------------

TEST(ChatTemplateWhitespace, TrimBlocksAndLstripBlocks) {
  EXPECT_EQ(render("a\n  {% if true %}\n  b\n  {% endif %}\nc"), "a\n  b\nc");
  EXPECT_EQ(render("{% for i in [1,2] %}\n{{ i }}\n{% endfor %}\n"), "1\n2\n");
  // lstrip only when the tag starts its line; trim removes exactly one newline.
  EXPECT_EQ(render("x {% if true %}y{% endif %}\n\nz"), "x y\nz");
  EXPECT_EQ(render("  {{ 'v' }}  \n"),
            "  v  ");  // variables are not lstripped; one trailing newline is dropped
}

TEST(ChatTemplateWhitespace, MinusAndPlusModifiers) {
  EXPECT_EQ(render("a   {{- 'b' -}}   c"), "abc");
  EXPECT_EQ(render("a \n {%- if true -%} \n b {%- endif %}"), "ab");
  EXPECT_EQ(render("  {%+ if true %}x{% endif %}"), "  x");  // '+' disables lstrip
  EXPECT_EQ(render("{% if true +%}\nx{% endif %}"), "\nx");  // '+' disables trim_blocks
  EXPECT_EQ(render("a {#- comment -#} b"), "ab");
}

TEST(ChatTemplateWhitespace, CommentsRawAndNewlines) {
  EXPECT_EQ(render("a{# gone #}b"), "ab");
  EXPECT_EQ(render("{% raw %}{{ x }}{% if %}{% endraw %}"), "{{ x }}{% if %}");
  EXPECT_EQ(render("a\r\nb\rc\n"), "a\nb\nc");  // newlines normalized, one trailing newline dropped
  EXPECT_EQ(render("x\n\n"), "x\n");
}

TEST(ChatTemplateLexer, StringLiteralsAndNumbers) {
  EXPECT_EQ(render("{{ 'a\\nb\\t\\'q\\'' }}"), "a\nb\t'q'");
  EXPECT_EQ(render("{{ \"\\u00e9\\x41\\101\\N{BULLET}\" }}"), "\u00e9AA\u2022");
  EXPECT_EQ(render("{{ 'x' 'y' }}"), "xy");  // adjacent literals concatenate
  EXPECT_EQ(render("{{ 0x1F }} {{ 0o17 }} {{ 0b11 }} {{ 1_000 }} {{ 1.5e3 }} {{ 12e-1 }}"),
            "31 15 3 1000 1500.0 1.2");
  EXPECT_EQ(render("{{ {'a': {'b': 1}}['a']['b'] }}"),
            "1");  // '}}' inside a dict literal does not end the tag
}

// --- expressions ------------------------------------------------------------------------------------

TEST(ChatTemplateExpressions, ArithmeticFollowsPython) {
  EXPECT_EQ(
      render("{{ 7 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 1 + 2.5 }}"),
      "3.5 3 -4 2 1024 0.5 3.5");
  EXPECT_EQ(render("{{ 2**3**2 }}"), "64");  // Jinja2's ** is left-associative
  EXPECT_EQ(render("{{ 0.1 + 0.2 }} {{ 1e16 }} {{ 1e15 }} {{ 1e-5 }} {{ -0.0 }} {{ 10 / 2 }}"),
            "0.30000000000000004 1e+16 1000000000000000.0 1e-05 -0.0 5.0");
  EXPECT_EQ(render("{{ 'ab' * 2 }}{{ [1] + [2] }}{{ 'n' ~ 1 ~ none ~ true }}"), "abab[1, 2]n1NoneTrue");
  EXPECT_EQ(render("{{ true + 1 }}"), "2");
}

TEST(ChatTemplateExpressions, ComparisonsLogicAndMembership) {
  EXPECT_EQ(render("{{ 1 < 2 < 3 }} {{ 3 > 2 > 5 }} {{ 1 == 1.0 }} {{ [1] == (1,) }} {{ 'a' != 'b' }}"),
            "True False True False True");
  EXPECT_EQ(render("{{ '' or 'x' }}|{{ 'a' and 'b' }}|{{ 0 and 1 }}|{{ not [] }}"), "x|b|0|True");
  EXPECT_EQ(
      render("{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in d }} {{ 'q' not in d }}", {{"d", {{"k", 1}}}}),
      "True True True True");
  EXPECT_EQ(render("{{ 'yes' if x else 'no' }}[{{ 'y' if false }}]", {{"x", true}}), "yes[]");
}

TEST(ChatTemplateExpressions, SubscriptsAttributesAndSlices) {
  ojson ctx = {{"xs", {1, 2, 3, 4, 5}}, {"m", {{"role", "user"}, {"content", "hi"}}}};
  EXPECT_EQ(render("{{ xs[0] }}{{ xs[-1] }}{{ xs[1:3] }}{{ xs[::-1] }}{{ xs[::2] }}{{ xs[-2:] }}", ctx),
            "15[2, 3][5, 4, 3, 2, 1][1, 3, 5][4, 5]");
  EXPECT_EQ(render("{{ m.role }}/{{ m['content'] }}/{{ m.missing }}/{{ xs[10] }}/{{ xs.0 }}", ctx),
            "user/hi///1");
  EXPECT_EQ(render("{{ 'héllo'[1] }}{{ 'héllo'[1:4] }}{{ 'abc'[::-1] }}"), "ééllcba");
  // dict methods win over keys for attribute access; subscripts prefer keys.
  ojson d = {{"d", {{"items", 5}, {"a", 1}}}};
  EXPECT_EQ(render("{{ d['items'] }} {{ d.items()|list }} {{ d.get('a') }} {{ d.get('z', 0) }}", d),
            "5 [('items', 5), ('a', 1)] 1 0");
}

TEST(ChatTemplateExpressions, StringMethods) {
  EXPECT_EQ(render("[{{ '  x '.strip() }}][{{ '\\n\\nx\\n'.strip('\\n') }}][{{ 'xxay'.lstrip('x') }}][{{ 'a  "
                   "'.rstrip() }}]"),
            "[x][x][ay][a]");
  EXPECT_EQ(
      render("{{ 'a</think>b'.split('</think>')[-1] }} {{ ' a  b '.split() }} {{ 'a,b,c'.split(',', 1) }}"),
      "b ['a', 'b'] ['a', 'b,c']");
  EXPECT_EQ(render("{{ 'abc'.startswith('ab') }} {{ 'abc'.endswith(('x', 'c')) }} {{ 'Ab'.upper() }}{{ "
                   "'Ab'.lower() }}"),
            "True True ABab");
  EXPECT_EQ(render("{{ 'a-b'.replace('-', '+') }} {{ 'hello world'.title() }} {{ '{} {n}'.format(1, n=2) }}"),
            "a+b Hello World 1 2");
  EXPECT_EQ(render("{{ '\\u00a0x\\u3000'.strip() }}|{{ 'Straße'.upper() }}"), "x|STRASSE");  // Unicode-aware
}

TEST(ChatTemplateExpressions, ReprAndStrOfContainers) {
  EXPECT_EQ(render("{{ [1, 'a', none, true, 1.5, {'k': \"it's\"}] }}"),
            "[1, 'a', None, True, 1.5, {'k': \"it's\"}]");
  EXPECT_EQ(render("{{ (1,) }}{{ ('a', 'b') }}{{ 'é\\n\\x01' ~ '' }}{{ ['é\\n\\x01'] }}"),
            "(1,)('a', 'b')é\n\x01['é\\n\\x01']");
}

// --- statements and scoping -------------------------------------------------------------------------

TEST(ChatTemplateStatements, IfElifElse) {
  const char* src =
      "{% for n in [1, 2, 3] %}{% if n == 1 %}one{% elif n == 2 %}two{% else %}many{% endif %},{% endfor %}";
  EXPECT_EQ(render(src), "one,two,many,");
}

TEST(ChatTemplateStatements, ForLoopVariables) {
  EXPECT_EQ(render("{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}"
                   "{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }};{% endfor %}",
                   {{"xs", {"a", "b"}}}),
            "10TrueFalse221;21FalseTrue210;");
  EXPECT_EQ(render("{% for x in [1, 2, 3] %}{{ loop.previtem }}|{{ loop.nextitem }};{% endfor %}"),
            "|2;1|3;2|;");
  EXPECT_EQ(render("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(
      render(
          "{% for x in [1, 2, 3, 4] if x is even %}{{ loop.index }}/{{ loop.length }}:{{ x }} {% endfor %}"),
      "1/2:2 2/2:4 ");
  EXPECT_EQ(
      render("{% for n in [1, 2, 3, 4] %}{% if n == 2 %}{% continue %}{% endif %}{% if n == 4 %}{% break %}"
             "{% endif %}{{ n }}{% endfor %}"),
      "13");
  EXPECT_EQ(render("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", {{"d", {{"b", 1}, {"a", 2}}}}),
            "b=1;a=2;");
  EXPECT_EQ(render("{% for x in [1, 2] %}{{ loop.cycle('odd', 'even') }}{% endfor %}"), "oddeven");
}

TEST(ChatTemplateStatements, ScopingLikeJinja2) {
  // Sets inside a loop body are per iteration; sets inside if blocks are visible afterwards.
  EXPECT_EQ(render("{% set y = 1 %}{% for x in [1, 2] %}[{{ y }}]{% set y = y + 1 %}{% endfor %}[{{ y }}]"),
            "[1][1][1]");
  EXPECT_EQ(render("{% if true %}{% set z = 3 %}{% endif %}{{ z }}"), "3");
  EXPECT_EQ(render("{% set a = 5 %}{% with a = 1, b = a %}{{ a }}{{ b }}{% endwith %}{{ a }}"), "155");
}

TEST(ChatTemplateStatements, NamespaceCarriesStateOutOfLoops) {
  EXPECT_EQ(render("{% set ns = namespace(total=0, seen=false) %}{% for x in [1, 2, 3] %}"
                   "{% set ns.total = ns.total + x %}{% if x == 2 %}{% set ns.seen = true %}{% endif %}"
                   "{% endfor %}{{ ns.total }} {{ ns.seen }} {{ ns }}"),
            "6 True <Namespace {'total': 6, 'seen': True}>");
  EXPECT_NE(
      render("{% set d = {} %}{% set d.a = 1 %}").find("cannot assign attribute on non-namespace object"),
      std::string::npos);
}

TEST(ChatTemplateStatements, MacrosAndCalls) {
  EXPECT_EQ(
      render(
          "{% macro m(a, b=2) %}{{ a }}-{{ b }}{% endmacro %}{{ m(1) }} {{ m(1, b=3) }} {{ m(b=4, a=0) }}"),
      "1-2 1-3 0-4");
  EXPECT_EQ(render("{% macro m(a) %}{{ a }},{{ varargs }},{{ kwargs }}{% endmacro %}{{ m(1, 2, k='v') }}"),
            "1,(2,),{'k': 'v'}");
  EXPECT_EQ(render("{% macro r(n) %}{% if n > 0 %}{{ n }}{{ r(n - 1) }}{% endif %}{% endmacro %}{{ r(3) }}"),
            "321");
  // a macro sees the template's variables as they are when it is called
  EXPECT_EQ(render("{% macro m() %}{{ g }}{% endmacro %}{% set g = 1 %}{{ m() }}{% set g = 2 %}{{ m() }}"),
            "12");
  EXPECT_NE(render("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}").find("takes not more than 1 argument"),
            std::string::npos);
}

TEST(ChatTemplateStatements, BlockSetFilterBlockAndGeneration) {
  EXPECT_EQ(render("{% set x %}  block {{ 1 }} {% endset %}[{{ x }}]"), "[  block 1 ]");
  EXPECT_EQ(render("{% set y | upper | trim %} abc {% endset %}[{{ y }}]"), "[ABC]");
  EXPECT_EQ(render("{% filter upper %}abc{% endfilter %}"), "ABC");
  EXPECT_EQ(render("{% generation %}gen{% endgeneration %}"), "gen");
  EXPECT_EQ(render("{% print 'a', 1 %}"), "a1");
}

// --- filters and tests ------------------------------------------------------------------------------

TEST(ChatTemplateFilters, Common) {
  ojson ctx = {{"xs", {3, 1, 2}},
               {"msgs", {{{"role", "user"}, {"content", "a"}}, {{"role", "assistant"}, {"content", "b"}}}}};
  EXPECT_EQ(
      render("{{ '  x  '|trim }}|{{ xs|length }}|{{ xs|join('-') }}|{{ xs|first }}{{ xs|last }}|{{ xs|sort }}"
             "|{{ xs|reverse|list }}|{{ xs|sum }}{{ xs|max }}{{ xs|min }}",
             ctx),
      "x|3|3-1-2|32|[1, 2, 3]|[2, 1, 3]|631");
  EXPECT_EQ(render("{{ msgs|selectattr('role', 'equalto', 'user')|list|length }}"
                   "{{ msgs|rejectattr('role', 'eq', 'user')|map(attribute='content')|join }}"
                   "{{ msgs|map(attribute='role')|list }}",
                   ctx),
            "1b['user', 'assistant']");
  EXPECT_EQ(render("{{ x|default('d') }}{{ ''|default('d', true) }}{{ x|d }}|{{ 'hELLO wORLD'|capitalize }}"
                   "|{{ 'a-b c'|title }}|{{ 'x'|upper }}{{ 'X'|lower }}"),
            "dd|Hello world|A-B C|Xx");
  EXPECT_EQ(render("{{ '1.9'|int }}{{ 'x'|int(7) }}{{ 3|float }}{{ 5|string|length }}{{ 'abc'|list }}"),
            "173.01['a', 'b', 'c']");
  EXPECT_EQ(
      render("{{ 'hello'|replace('l', 'L', 1) }}|{{ 'a\nb'|indent(2) }}|{{ d|items|list }}|{{ d|dictsort }}",
             {{"d", {{"b", 1}, {"a", 2}}}}),
      "heLlo|a\n  b|[('b', 1), ('a', 2)]|[('a', 2), ('b', 1)]");
  EXPECT_EQ(render("{{ '<b>'|e }}{{ '<b>'|safe }}{{ 2.567|round(2) }}{{ 2.5|round }}{{ -3|abs }}"),
            "&lt;b&gt;<b>2.572.03");
}

TEST(ChatTemplateFilters, ToJsonMatchesPythonJsonDumps) {
  ojson ctx = {
      {"v",
       ojson::parse(
           R"({"s": "é \"q\" \\ \n\u0001", "n": [1, 2.5, -0.0, 1e300, null, true], "e": {}, "l": []})")}};
  EXPECT_EQ(render("{{ v|tojson }}", ctx),
            "{\"s\": \"é \\\"q\\\" \\\\ \\n\\u0001\", \"n\": [1, 2.5, -0.0, 1e+300, null, true], \"e\": {}, "
            "\"l\": []}");
  EXPECT_EQ(render("{{ {'a': [1, {'b': 2}], 'c': []}|tojson(indent=2) }}"),
            "{\n  \"a\": [\n    1,\n    {\n      \"b\": 2\n    }\n  ],\n  \"c\": []\n}");
  EXPECT_EQ(render("{{ {'a': 1, 'b': 2}|tojson(separators=(',', ':')) }}"), "{\"a\":1,\"b\":2}");
  EXPECT_EQ(render("{{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }}"), "{\"a\": 2, \"b\": 1}");
  EXPECT_EQ(render("{{ 'é😀'|tojson(ensure_ascii=true) }}"), "\"\\u00e9\\ud83d\\ude00\"");
  EXPECT_EQ(render("{{ {1: 'a', none: 'b', true: 'c'}|tojson }}"), "{\"1\": \"c\", \"null\": \"b\"}");
  EXPECT_NE(render("{{ nothing|tojson }}").find("Object of type Undefined is not JSON serializable"),
            std::string::npos);
}

TEST(ChatTemplateTests, IsTests) {
  EXPECT_EQ(
      render("{{ x is defined }}{{ y is undefined }}{{ n is none }}{{ s is string }}{{ d is mapping }}"
             "{{ l is sequence }}{{ l is iterable }}{{ 1 is number }}{{ true is boolean }}{{ true is true }}"
             "{{ 0 is false }}{{ 3 is odd }}{{ 4 is even }}{{ 9 is divisibleby 3 }}{{ 1 is integer }}{{ 1.5 "
             "is float }}",
             {{"x", 1}, {"n", nullptr}, {"s", "s"}, {"d", ojson::object()}, {"l", ojson::array()}}),
      "TrueTrueTrueTrueTrueTrueTrueTrueTrueTrueFalseTrueTrueTrueTrueTrue");
  EXPECT_EQ(
      render(
          "{{ 1 is equalto 1 }}{{ 1 is eq 2 }}{{ 'a' is in 'abc' }}{{ x is not none }}{{ 'abc' is lower }}"),
      "TrueFalseTrueTrueTrue");
}

// --- undefined ---------------------------------------------------------------------------------------

TEST(ChatTemplateUndefined, PrintsEmptyIsFalsyAndErrorsOnUse) {
  EXPECT_EQ(render("[{{ missing }}]{% if missing %}x{% else %}falsy{% endif %}{{ missing|length }}"
                   "{% for x in missing %}{% else %}empty{% endfor %}{{ missing is defined }}"),
            "[]falsy0emptyFalse");
  EXPECT_EQ(render("{{ m.missing is defined }}{{ m.missing }}|{{ n.anything }}",
                   {{"m", ojson::object()}, {"n", nullptr}}),
            "False|");
  Status st = render_status("{{ foo.bar }}");
  EXPECT_EQ(st.message(), "template error at line 1, column 7: 'foo' is undefined");
  st = render_status("\n{{ m.missing.x }}", {{"m", ojson::object()}});
  EXPECT_EQ(st.message(), "template error at line 2, column 13: 'dict object' has no attribute 'missing'");
  st = render_status("{{ missing + 1 }}");
  EXPECT_EQ(st.message(), "template error at line 1, column 12: 'missing' is undefined");
}

// --- errors with positions ---------------------------------------------------------------------------

TEST(ChatTemplateErrors, SyntaxErrorsNameLineAndColumn) {
  Status st = render_status("ok\n{% if x %}\nno end");
  EXPECT_EQ(st.code(), StatusCode::data_error);
  EXPECT_NE(st.message().find("template syntax error at line 3"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("'endif'"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("'if' at line 2"), std::string::npos) << st.message();

  st = render_status("{{ 1 + }}");
  EXPECT_EQ(st.message(), "template syntax error at line 1, column 8: unexpected '}}'");
  st = render_status("ab {{ x ! }}");
  EXPECT_EQ(st.message(), "template syntax error at line 1, column 9: unexpected char '!'");
  st = render_status("{% endfor %}");
  EXPECT_NE(st.message().find("line 1, column 4: unexpected 'endfor' tag"), std::string::npos)
      << st.message();
  st = render_status("{% frobnicate %}");
  EXPECT_EQ(st.message(), "template syntax error at line 1, column 4: unknown tag 'frobnicate'");
  st = render_status("{{ 'unterminated }}");
  EXPECT_NE(st.message().find("unterminated string literal"), std::string::npos);
  st = render_status("{{ x ]}}");
  EXPECT_NE(st.message().find("unexpected ']'"), std::string::npos);
  st = render_status("{# never closed");
  EXPECT_NE(st.message().find("missing end of comment tag"), std::string::npos);
  st = render_status("{% for x in y %}{% break %}{% endfor %}{% break %}");
  EXPECT_NE(st.message().find("'break' outside of a for loop"), std::string::npos);
}

TEST(ChatTemplateErrors, UnsupportedConstructsNameThePosition) {
  Status st = render_status("x\n  {% extends 'base.html' %}");
  EXPECT_EQ(st.code(), StatusCode::unsupported);
  EXPECT_EQ(st.message(),
            "unsupported template construct at line 2, column 6: the 'extends' tag is not supported");
  st = render_status("{% include 'x' %}");
  EXPECT_EQ(st.code(), StatusCode::unsupported);
  st = render_status("{% for x in y recursive %}{% endfor %}");
  EXPECT_NE(st.message().find("recursive for loops are not supported"), std::string::npos);
  st = render_status("{% call m() %}{% endcall %}");
  EXPECT_EQ(st.code(), StatusCode::unsupported);
  // Unknown filters are reported when reached (Jinja2 reports them at compile time outside branches).
  EXPECT_EQ(render("{% if false %}{{ x|wordwrap }}{% endif %}ok"), "ok");
  st = render_status("{{ 'x'|wordwrap }}");
  EXPECT_EQ(st.code(), StatusCode::unsupported);
  EXPECT_EQ(st.message(),
            "unsupported template construct at line 1, column 8: the filter 'wordwrap' is not implemented");
}

TEST(ChatTemplateErrors, RaiseExceptionSurfacesTheMessage) {
  Status st = render_status(
      "{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}",
      {{"messages", {{{"role", "system"}, {"content", "x"}}}}});
  EXPECT_EQ(st.code(), StatusCode::data_error);
  EXPECT_EQ(st.message(), "template raised an exception at line 1, column 56: System role not supported");
}

TEST(ChatTemplateErrors, PythonTypeErrorsAreErrors) {
  EXPECT_NE(render("{{ 'x' + 1 }}").find("can only concatenate str (not \"int\") to str"), std::string::npos);
  EXPECT_NE(render("{{ 'a' < 1 }}").find("'<' not supported between instances of 'str' and 'int'"),
            std::string::npos);
  EXPECT_NE(render("{{ 1 / 0 }}").find("division by zero"), std::string::npos);
  EXPECT_NE(render("{{ [].append(1) }}").find("unsafe"), std::string::npos);
  EXPECT_NE(render("{% for x in 5 %}{% endfor %}").find("'int' object is not iterable"), std::string::npos);
}

// --- limits (the sandbox) ----------------------------------------------------------------------------

TEST(ChatTemplateLimits, DeepNestingIsAnErrorNotACrash) {
  std::string deep = "{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}";
  Status st = render_status(deep);
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("nesting deeper than"), std::string::npos);
  std::string ifs;
  for (int i = 0; i < 1000; ++i) ifs += "{% if true %}";
  st = render_status(ifs);
  EXPECT_NE(st.message().find("nesting deeper than"), std::string::npos);
  std::string nots = "{{ " + std::string(0, ' ');
  for (int i = 0; i < 5000; ++i) nots += "not ";
  st = render_status(nots + "x }}");
  EXPECT_NE(st.message().find("nesting deeper than"), std::string::npos);
}

TEST(ChatTemplateLimits, RecursionLoopsAndOutputAreBounded) {
  Status st = render_status("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}");
  EXPECT_NE(st.message().find("RenderLimits::max_call_depth"), std::string::npos) << st.message();

  RenderOptions small;
  small.limits.max_loop_iterations = 1000;
  st = render_status("{% for i in range(100) %}{% for j in range(100) %}{% endfor %}{% endfor %}", {}, small);
  EXPECT_NE(st.message().find("RenderLimits::max_loop_iterations"), std::string::npos) << st.message();

  small.limits.max_output_bytes = 1000;
  st = render_status("{% for i in range(200) %}0123456789{% endfor %}", {}, small);
  EXPECT_NE(st.message().find("RenderLimits::max_output_bytes"), std::string::npos) << st.message();
  st = render_status("{{ 'x' * 100000000000 }}");
  EXPECT_NE(st.message().find("RenderLimits::max_output_bytes"), std::string::npos) << st.message();
  st = render_status("{{ range(1000000)|length }}");
  EXPECT_NE(st.message().find("MAX_RANGE"), std::string::npos) << st.message();
  st = render_status("{{ 9223372036854775807 + 1 }}");
  EXPECT_EQ(st.code(), StatusCode::unsupported);
}

// Random token soup must never crash: it either renders or returns an error naming a position.
// Issue 12 item 6: before RenderLimits::max_alloc_bytes the doubling list exhausted memory and aborted,
// and the string loop ran for minutes (quadratic copying under the iteration cap).
TEST(ChatTemplateLimits, GrowingValuesHitTheAllocationLimit) {
  const std::string doubling =
      "{% set ns = namespace(l=[1]) %}{% for i in range(60) %}{% set ns.l = ns.l + ns.l %}{% endfor %}"
      "{{ ns.l|length }}";
  Status st = render_status(doubling);
  EXPECT_EQ(st.code(), StatusCode::data_error);
  EXPECT_NE(st.message().find("RenderLimits::max_alloc_bytes"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("268435456 bytes allocated"), std::string::npos) << st.message();

  const std::string appending =
      "{% set ns = namespace(s='') %}{% for i in range(99999) %}{% set ns.s = ns.s ~ 'x' %}{% endfor %}"
      "{{ ns.s|length }}";
  st = render_status(appending);
  EXPECT_NE(st.message().find("RenderLimits::max_alloc_bytes"), std::string::npos) << st.message();

  // The limit is an option: a smaller one stops sooner, and templates under it render.
  RenderOptions small;
  small.limits.max_alloc_bytes = 1 << 20;
  EXPECT_EQ(render("{% set ns = namespace(l=[1]) %}{% for i in range(10) %}{% set ns.l = ns.l + ns.l %}"
                   "{% endfor %}{{ ns.l|length }}",
                   ojson::object(), small),
            "1024");
  st = render_status(
      "{% set ns = namespace(s='') %}{% for i in range(5000) %}{% set ns.s = ns.s ~ 'x' %}"
      "{% endfor %}",
      ojson::object(), small);
  EXPECT_NE(st.message().find("more than 1048576 bytes allocated"), std::string::npos) << st.message();
}

TEST(ChatTemplateLimits, WorkIsBoundedBySteps) {
  // 9,999,900 iterations (under max_loop_iterations) of a few nodes each: more than 50M steps.
  Status st = render_status(
      "{% for j in range(100) %}{% for i in range(99999) %}{% set x = i + i + i %}{% endfor %}{% endfor %}");
  EXPECT_EQ(st.code(), StatusCode::data_error);
  EXPECT_NE(st.message().find("RenderLimits::max_steps"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("at line 1"), std::string::npos) << st.message();

  // A linear scan counts as many steps as items scanned: 99,999 scans of 99,999 items.
  st = render_status(
      "{% set l = range(99999)|list %}{% for i in range(99999) %}{% if -1 in l %}{% endif %}{% endfor %}");
  EXPECT_NE(st.message().find("RenderLimits::max_steps"), std::string::npos) << st.message();

  RenderOptions small;
  small.limits.max_steps = 1000;
  st = render_status("{% for i in range(2000) %}{{ i }}{% endfor %}", ojson::object(), small);
  EXPECT_NE(st.message().find("more than 1000 evaluation steps (RenderLimits::max_steps)"), std::string::npos)
      << st.message();
  EXPECT_EQ(render("{% for i in range(3) %}{{ i }}{% endfor %}", ojson::object(), small), "012");
}

// Found by fuzz_chat_template: huge field widths and indents were allocated before any size check
// (bad_alloc abort, or minutes of padding) and long width digit strings overflowed int64.
TEST(ChatTemplateLimits, HugeWidthsHitTheOutputLimit) {
  for (const char* src :
       {"{{ '%100000000000d'|format(1) }}", "{{ '%.100000000000f'|format(1.5) }}",
        "{{ '%*d'|format(-9223372036854775807 - 1, 1) }}", "{{ '%99999999999999999999999999d'|format(1) }}",
        "{{ '{:>100000000000}'.format(1) }}", "{{ '{:.100000000000f}'.format(1.5) }}",
        "{{ '{:99999999999999999999999999}'.format(1) }}", "{{ 'a\nb'|indent(100000000000) }}",
        "{{ 'x'.center(100000000000) }}"}) {
    Status st = render_status(src);
    EXPECT_NE(st.message().find("RenderLimits::max_output_bytes"), std::string::npos)
        << src << " -> " << st.message();
  }
  EXPECT_EQ(
      render("{{ '%5d|%-4s|%.2f'|format(42, 'ab', 1.5) }}{{ '{:>4}'.format(7) }}{{ 'a\nb'|indent(2) }}"),
      "   42|ab  |1.50   7a\n  b");
}

TEST(ChatTemplateLimits, HostileTemplatesFailCleanly) {
  const std::vector<std::string> pieces = {
      "{{",        "}}",    "{%",       "%}",       "{#",     "#}",    "{%-",      "-%}",   "if",
      "for",       "in",    "endif",    "endfor",   "set",    "x",     "ns",       "=",     "(",
      ")",         "[",     "]",        "{",        "}",      ",",     ":",        "|",     "~",
      "+",         "*",     "**",       "'s'",      "\"q",    "1",     "1.5e",     ".",     "is",
      "not",       "and",   "or",       "loop",     "macro",  "m",     "endmacro", "raw",   "endraw",
      "namespace", "\n",    " ",        "é",        "\\",     "range", "tojson",   "upper", "else",
      "elif",      "break", "continue", "messages", "[::-1]", "-",     "%",        "//"};
  std::mt19937 rng(7);
  ojson ctx = {{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"x", {1, 2}}};
  RenderOptions opts;
  opts.limits.max_loop_iterations = 10000;
  opts.limits.max_output_bytes = 1 << 16;
  int errors = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string src;
    size_t n = 1 + rng() % 30;
    for (size_t k = 0; k < n; ++k) src += pieces[rng() % pieces.size()];
    Status st = render_status(src, ctx, opts);
    if (!st.is_ok()) {
      ++errors;
      EXPECT_NE(st.message().find(" at line "), std::string::npos) << src << " -> " << st.message();
    }
  }
  EXPECT_GT(errors, 0);
}

TEST(ChatTemplateLimits, InvalidUtf8IsRejected) {
  auto t = Template::compile("bad \xff byte");
  ASSERT_FALSE(t.is_ok());
  EXPECT_NE(t.status().message().find("not valid UTF-8"), std::string::npos);
  auto ok = Template::compile("{{ x }}");
  ASSERT_TRUE(ok.is_ok());
  Value ctx = Value::dict({{Value::string("x"), Value::string(std::string("\xc3\x28"))}});
  auto r = ok->render(ctx);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("context.x is not valid UTF-8"), std::string::npos)
      << r.status().message();
}

// --- API ------------------------------------------------------------------------------------------------

TEST(ChatTemplateApi, ApplyChatTemplatePassesTransformersVariables) {
  const char* src =
      "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
      "{% if add_generation_prompt %}<assistant>{% endif %}|{{ tools is none }}|{{ documents is none }}|{{ "
      "extra }}";
  ojson messages =
      ojson::parse(R"([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}])");
  ChatTemplateArgs args;
  args.add_generation_prompt = true;
  args.extra = to_value({{"bos_token", "<s>"}, {"extra", 7}});
  auto out = apply_chat_template(src, to_value(messages), args);
  ASSERT_TRUE(out.is_ok()) << out.status().message();
  EXPECT_EQ(*out, "<s><user>Hi<assistant>Yo<assistant>|True|True|7");

  auto bad = apply_chat_template(src, to_value(ojson::object()), args);
  EXPECT_EQ(bad.status().code(), StatusCode::invalid_argument);
}

TEST(ChatTemplateApi, StrftimeNowIsPinnable) {
  RenderOptions opts;
  opts.now = LocalDateTime::parse("2024-07-26T14:05:09").value();
  EXPECT_EQ(render("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%A %B %j %H:%M:%S %p %f') }}", {}, opts),
            "26 Jul 2024|Friday July 208 14:05:09 PM 000000");
  // Llama 3.2's system block reads the date through strftime_now.
  const char* llama =
      "{{- \"Cutting Knowledge Date: December 2023\\n\" }}{{- \"Today Date: \" + strftime_now(\"%d %b %Y\") "
      "}}";
  EXPECT_EQ(render(llama, {}, opts), "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024");
  EXPECT_FALSE(LocalDateTime::parse("2024-02-30").is_ok());
  EXPECT_FALSE(LocalDateTime::parse("yesterday").is_ok());
  EXPECT_EQ(LocalDateTime::parse("2024-01-02 03:04:05.5").value().microsecond, 500000);
  // Without a pinned time, strftime_now reports the local clock (shape only).
  EXPECT_EQ(render("{{ strftime_now('%Y')|length }}"), "4");
}

TEST(ChatTemplateApi, JsonKeyOrderIsKept) {
  ojson ctx = ojson::parse(R"({"d": {"z": 1, "a": 2, "m": 3}})");
  EXPECT_EQ(render("{{ d|tojson }} {% for k in d %}{{ k }}{% endfor %}", ctx),
            "{\"z\": 1, \"a\": 2, \"m\": 3} zam");
  // parse_json keeps the order of the text; a repeated key keeps its first position, last value.
  Value v = Value::parse_json(R"({"z": 1, "a": 2, "z": 3})").value();
  ASSERT_TRUE(v.is_dict());
  ASSERT_EQ(v.entries().size(), 2u);
  EXPECT_EQ(v.entries()[0].first.as_string(), "z");
  EXPECT_EQ(v.entries()[0].second.as_int(), 3);
  Value big = Value::parse_json("18446744073709551615").value();
  EXPECT_TRUE(big.is_float());
  auto bad = Value::parse_json("{\"a\": \"\xff\"}");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().code(), StatusCode::data_error);
  EXPECT_FALSE(Value::parse_json("[1, 2").is_ok());
  EXPECT_FALSE(Value::parse_json(std::string(600, '[') + std::string(600, ']')).is_ok());
}

TEST(ChatTemplateApi, ValueAccessors) {
  Value d = Value::dict({{Value::string("k"), Value::integer(1)},
                         {Value::integer(1), Value::string("one")},
                         {Value::boolean(true), Value::string("true replaces 1")}});
  ASSERT_EQ(d.entries().size(), 2u);  // True == 1 as a dict key, as in Python
  EXPECT_EQ(d.entries()[1].second.as_string(), "true replaces 1");
  ASSERT_NE(d.find("k"), nullptr);
  EXPECT_EQ(d.find("k")->as_int(), 1);
  EXPECT_EQ(d.find("missing"), nullptr);
  auto t = Template::compile("{{ d.k }}{{ d[1] }}");
  ASSERT_TRUE(t.is_ok());
  auto r = t->render(Value::dict({{Value::string("d"), d}}));
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(*r, "1true replaces 1");
  EXPECT_EQ(t->source(), "{{ d.k }}{{ d[1] }}");
}

TEST(ChatTemplateApi, ContextFromJsonText) {
  auto t = Template::compile("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}");
  ASSERT_TRUE(t.is_ok());
  auto ctx = Value::parse_json(R"({"d": {"a": 2, "b": 1}})");
  ASSERT_TRUE(ctx.is_ok()) << ctx.status().message();
  auto r = t->render(*ctx);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(*r, "a=2;b=1;");
}

// A compiled Template is immutable: concurrent renders share it safely and agree.
TEST(ChatTemplateApi, ConcurrentRendersAgree) {
  auto t = Template::compile(
      "{% set ns = namespace(n=0) %}{% macro m(x) %}<{{ x|upper }}>{% endmacro %}"
      "{% for msg in messages %}{% set ns.n = ns.n + 1 %}{{ m(msg.content) }}{% endfor %}{{ ns.n }}");
  ASSERT_TRUE(t.is_ok());
  ojson json_ctx = {{"messages", ojson::array()}};
  for (int i = 0; i < 50; ++i)
    json_ctx["messages"].push_back({{"role", "user"}, {"content", "m" + std::to_string(i)}});
  const Value ctx = to_value(json_ctx);
  const std::string expected = *t->render(ctx);
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      for (int i = 0; i < 200; ++i) {
        auto r = t->render(ctx);
        if (!r.is_ok() || *r != expected) ++mismatches[static_cast<size_t>(k)];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int k = 0; k < 4; ++k) EXPECT_EQ(mismatches[static_cast<size_t>(k)], 0);
}

}  // namespace
}  // namespace synpref::chat
