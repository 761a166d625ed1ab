// tests/chat/oracle_client.h: runs tests/oracles/chat_jinja2.py (python3-jinja2 with transformers' chat
// template settings) once for a batch of cases and compares its output with synpref::chat.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "json_value.h"
#include "synpref/chat/template.h"

namespace synpref::chat::testing {

using ojson = nlohmann::ordered_json;

struct OracleCase {
  std::string template_name;
  ojson context = ojson::object();
  std::string now;  // ISO date-time pinned for strftime_now; empty: not pinned
  std::string label;
};

struct OracleResult {
  bool ok = false;
  std::string text;     // when ok
  std::string type;     // exception class when not ok
  std::string message;  // exception message when not ok
};

// Runs the oracle on all cases in one python process. Fails the test (and returns empty) if the
// oracle cannot run: /usr/bin/python3 with python3-jinja2 is a test requirement (scripts/setup.sh).
inline std::vector<OracleResult> run_oracle(const std::map<std::string, std::string>& templates,
                                            const std::vector<OracleCase>& cases) {
  ojson request;
  request["templates"] = ojson::object();
  for (const auto& [name, src] : templates) request["templates"][name] = src;
  request["cases"] = ojson::array();
  for (const auto& c : cases) {
    ojson jc;
    jc["template"] = c.template_name;
    jc["context"] = c.context;
    jc["now"] = c.now.empty() ? ojson(nullptr) : ojson(c.now);
    request["cases"].push_back(std::move(jc));
  }
  const std::string dir = ::testing::TempDir();
  const std::string in_path = dir + "synpref_chat_oracle_in_" + std::to_string(::getpid()) + ".json";
  const std::string out_path = dir + "synpref_chat_oracle_out_" + std::to_string(::getpid()) + ".json";
  {
    std::ofstream f(in_path, std::ios::binary);
    f << request.dump();
  }
  const std::string cmd = "/usr/bin/python3 " + std::string(SYNPREF_SOURCE_DIR) +
                          "/tests/oracles/chat_jinja2.py < " + in_path + " > " + out_path;
  int rc = std::system(cmd.c_str());
  std::remove(in_path.c_str());
  if (rc != 0) {
    ADD_FAILURE() << "the oracle failed to run (exit " << rc << "): " << cmd
                  << "\n(needs /usr/bin/python3 with python3-jinja2; see scripts/setup.sh)";
    std::remove(out_path.c_str());
    return {};
  }
  std::ifstream f(out_path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  std::remove(out_path.c_str());
  ojson response = ojson::parse(ss.str());
  std::vector<OracleResult> results;
  for (const auto& r : response["results"]) {
    OracleResult o;
    o.ok = r["ok"].get<bool>();
    if (o.ok) {
      o.text = r["text"].get<std::string>();
    } else {
      o.type = r["type"].get<std::string>();
      o.message = r["message"].get<std::string>();
    }
    results.push_back(std::move(o));
  }
  EXPECT_EQ(results.size(), cases.size()) << "the oracle returned a different number of results";
  return results;
}

// A readable description of the first byte where two renders differ.
inline std::string describe_diff(const std::string& want, const std::string& got) {
  size_t i = 0;
  while (i < want.size() && i < got.size() && want[i] == got[i]) ++i;
  auto window = [&](const std::string& s) {
    size_t b = i > 60 ? i - 60 : 0;
    return ojson(s.substr(b, 120)).dump(-1, ' ', false, ojson::error_handler_t::replace);
  };
  std::ostringstream os;
  os << "first difference at byte " << i << " (expected " << want.size() << " bytes, got " << got.size()
     << ")\n  jinja2: " << window(want) << "\n  synpref: " << window(got);
  return os.str();
}

// Renders every case with synpref and compares with the oracle; reports the first few mismatches
// in full. Returns the number of cases that rendered identically (or failed alike).
inline size_t compare_with_oracle(const std::map<std::string, std::string>& templates,
                                  const std::vector<OracleCase>& cases, size_t* oracle_errors = nullptr,
                                  std::string* first_oracle_error = nullptr) {
  auto expected = run_oracle(templates, cases);
  if (expected.size() != cases.size()) return 0;
  std::map<std::string, Result<Template>> compiled;
  for (const auto& [name, src] : templates) compiled.emplace(name, Template::compile(src));
  size_t matched = 0, reported = 0, errors = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    const auto& want = expected[i];
    const auto& tmpl = compiled.at(c.template_name);
    Result<std::string> got = tmpl.is_ok() ? Result<std::string>(Status(StatusCode::internal, "unset"))
                                           : Result<std::string>(tmpl.status());
    if (tmpl.is_ok()) {
      RenderOptions opts;
      if (!c.now.empty()) opts.now = LocalDateTime::parse(c.now).value();
      got = tmpl->render(to_value(c.context), opts);
    }
    std::string problem;
    if (want.ok) {
      if (!got.is_ok())
        problem = "jinja2 rendered it, synpref failed: " + got.status().message();
      else if (*got != want.text)
        problem = describe_diff(want.text, *got);
    } else {
      if (errors++ == 0 && first_oracle_error) *first_oracle_error = want.type + ": " + want.message;
      if (got.is_ok()) {
        problem = "jinja2 raised " + want.type + " (" + want.message + "), synpref rendered " +
                  ojson(*got).dump(-1, ' ', false, ojson::error_handler_t::replace);
      } else if ((want.type == "TemplateError" || want.type == "UndefinedError") &&
                 got.status().message().find(want.message) == std::string::npos) {
        problem = "both failed but the messages differ:\n  jinja2: " + want.type + ": " + want.message +
                  "\n  synpref: " + got.status().message();
      }
    }
    if (problem.empty()) {
      ++matched;
    } else if (reported++ < 5) {
      ADD_FAILURE() << "case " << i << " [" << c.label << "] template '" << c.template_name << "'\n"
                    << problem << "\n  context: "
                    << c.context.dump(-1, ' ', false, ojson::error_handler_t::replace).substr(0, 2000);
    }
  }
  if (oracle_errors) *oracle_errors = errors;
  EXPECT_EQ(matched, cases.size()) << (cases.size() - matched) << " of " << cases.size() << " cases differ";
  return matched;
}

}  // namespace synpref::chat::testing
