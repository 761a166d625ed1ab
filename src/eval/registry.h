// src/eval/registry.h: the benchmark registry. One benchmark = one file + one registry line.
//
// Each src/eval/benchmarks/<name>.cpp holds a benchmark's loader (its released format and field
// names) and its official scoring rule, and ends with the one line that registers them:
//
//   SYNPREF_BENCHMARK({.name = "judgebench", .column = "JudgeBench", .order = 700,
//                      .load_file = load_judgebench_file, .make_rule = make_judgebench_rule});
//
// Everything else is generic and finds the benchmark by name: load_benchmark() walks the data
// files and calls load_file, evaluate() builds the rule with make_rule and bootstraps it, the
// report and `synpref eval table` take columns from all_benchmarks(). CMake picks the file up by
// its folder (src/eval/CMakeLists.txt); docs/EVAL.md "Adding a benchmark" walks through it.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "eval/load.h"
#include "eval/rules.h"
#include "synpref/common/status.h"
#include "synpref/eval/benchmark.h"

namespace synpref::eval {

struct BenchmarkSpec {
  std::string_view name;    // CLI and report name, unique
  std::string_view column;  // Table-1 column header
  // Table-1 column position, unique; files register in an unspecified order.
  int order = 0;
  // Reads one released data file into `builder`; called once per data file, files in sorted path
  // order, after builder.begin_file(path). Errors name the file, record or line, and field.
  Status (*load_file)(DatasetBuilder& builder, const std::string& path) = nullptr;
  // Builds the official rule over the scored items (never empty). Refuses data the rule cannot
  // score, naming what is missing.
  Result<std::unique_ptr<Rule>> (*make_rule)(std::span<const ScoredItem> items) = nullptr;
  // Optional: loads a variant layout that LoadOptions asks for (RewardBench's `llmbar`) instead
  // of the per-file loop; nullptr = the benchmark has no variant and such options are refused.
  // `files` are the data files under `path`, in sorted order.
  Status (*load_variant)(DatasetBuilder& builder, const std::string& path,
                         const std::vector<std::string>& files, const LoadOptions& options) = nullptr;
};

// Adds `spec` to the registry; returns true so it can initialize a static. A spec without a
// name, loader or rule, or reusing a name or order, is a programming error (SP_CHECK).
bool register_benchmark(const BenchmarkSpec& spec);

// The spec registered as `name`, or nullptr.
const BenchmarkSpec* find_spec(std::string_view name);

// Every registered spec, by `order`.
std::vector<const BenchmarkSpec*> registered_specs();

}  // namespace synpref::eval

#define SYNPREF_BENCHMARK_CONCAT_INNER(a, b) a##b
#define SYNPREF_BENCHMARK_CONCAT(a, b) SYNPREF_BENCHMARK_CONCAT_INNER(a, b)
// Registers a benchmark at static initialization: SYNPREF_BENCHMARK({.name = ..., ...});
#define SYNPREF_BENCHMARK(...)                                                                \
  [[maybe_unused]] static const bool SYNPREF_BENCHMARK_CONCAT(synpref_benchmark_, __LINE__) = \
      ::synpref::eval::register_benchmark(::synpref::eval::BenchmarkSpec __VA_ARGS__)
