// Helpers for the annotate tests: a small curation project with attributes, and a store on it.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "synpref/annotate/store.h"
#include "synpref/curate/project.h"
#include "test_util.h"

namespace synpref::testing {

// The pair texts of pair `idx`; pair 3 is hostile (script tags, event handlers, a javascript:
// link, HTML entities) and pair 4 carries markdown with a fenced code block.
inline std::string hostile_text() {
  return "<script>window.__xss = 1</script><img src=x onerror=\"window.__xss = 2\"> "
         "[click](javascript:window.__xss=3) &lt;b&gt; <b>bold?</b>";
}

// Canonical JSONL of n pairs "p000".."p<n-1>" whose attributes cycle so that the default priority
// (objectivity, then controversiality) orders them: objectivity cycles subjective, objective,
// mixed, normative; controversiality high, none, low, medium; categories math, code, chat.
inline std::string annotate_pool(int n) {
  static const char* kObjectivity[] = {"subjective", "objective", "mixed", "normative"};
  static const char* kControversy[] = {"high", "none", "low", "medium"};
  static const char* kCategory[] = {"math", "code", "chat"};
  nlohmann::json lines = nlohmann::json::array();
  std::string text;
  for (int idx = 0; idx < n; ++idx) {
    char id[16];
    std::snprintf(id, sizeof(id), "p%03d", idx);
    std::string question = "question " + std::to_string(idx);
    std::string chosen = "good answer " + std::to_string(idx);
    std::string rejected = "bad answer " + std::to_string(idx);
    if (idx == 3) question = chosen = rejected = hostile_text() + " " + std::to_string(idx);
    if (idx == 3) rejected += " (rejected)";
    if (idx == 4)
      chosen = "Here is code:\n\n```python\nprint(\"<script>\")\n```\n\n- **bold** item\n- `x < y`";
    nlohmann::json j = {
        {"id", id},
        {"kind", "pair"},
        {"source", "unit"},
        {"context", {{{"role", "user"}, {"content", question}}}},
        {"chosen", {{"content", chosen}}},
        {"rejected", {{"content", rejected}}},
        {"attributes",
         {{"task_category", kCategory[idx % 3]},
          {"objectivity", kObjectivity[idx % 4]},
          {"controversiality", kControversy[(idx / 4) % 4]},
          {"desired_attributes", "correct, concise"},
          {"annotation_guideline", idx == 3 ? hostile_text() : "Prefer the correct answer."}}}};
    text += j.dump() + "\n";
  }
  return text;
}

// A project of n pairs in `dir`/p (created from `dir`/pool.jsonl).
inline std::unique_ptr<curate::Project> make_annotate_project(const std::string& dir, int n) {
  spit(dir + "/pool.jsonl", annotate_pool(n));
  auto project = curate::Project::init(dir + "/p", {dir + "/pool.jsonl"}, {});
  EXPECT_TRUE(project.is_ok()) << project.status().message();
  return project.is_ok() ? std::move(project).value() : nullptr;
}

// Store options for tests: cheap argon2 (the KDF is the same, only its cost is lower).
inline annotate::StoreOptions test_store_options() {
  annotate::StoreOptions o;
  o.argon2_memory_kib = 64;
  o.argon2_iterations = 1;
  o.seed = 7;
  return o;
}

}  // namespace synpref::testing
