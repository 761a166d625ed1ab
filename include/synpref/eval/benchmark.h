// synpref/eval/benchmark.h: the reward-model benchmarks, loaded from their released files.
//
// Benchmarks are registered, not hard-coded: each lives in one file src/eval/benchmarks/<name>.cpp
// holding its loader and its official scoring rule, and registers itself with one line
// (SYNPREF_BENCHMARK, src/eval/registry.h). This header names them by their CLI name.
//
// Every loader reads a benchmark's own published format and field names (JSON array or JSON
// lines; a folder is walked recursively in sorted path order) and turns each record into an Item:
// the benchmark's own id, its category fields, the conversation context, and the responses to
// score in a documented order. That order defines the `scores` array of a --scores file; it is
// stated per benchmark below and in docs/EVAL.md.
//
//   rewardbench     [chosen, rejected]                          id = `id`
//   rewardbench2    [chosen..., rejected...] (num_correct first) id = `id`
//   ppe-preference  [response_1, response_2]                    id = `question_id`
//   ppe-correctness [response_1, ..., response_N]               id = `question_id` or
//                                                                     `question_id|model_name`
//   rmb             pairwise [chosen, reject]; BoN [bon_best, loser_list...]
//                                                               id = `pair_uid` / `bon_uid`
//   rm-bench        [chosen[0..2], rejected[0..2]]              id = `<domain>:<id>`
//   judgebench      [response_A, response_B]                    id = `pair_id`
//
// Ids are unique within a load; a duplicate is refused with both locations named.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "synpref/common/status.h"
#include "synpref/data/record.h"

namespace synpref::eval {

// A registered benchmark, as users see it.
struct BenchmarkInfo {
  std::string_view name;    // CLI and report name: "rewardbench", "ppe-preference", ...
  std::string_view column;  // Table-1 column header: "RB v1", "PPE Pref", ...
};

// Every registered benchmark, in Table-1 column order.
std::vector<BenchmarkInfo> all_benchmarks();
// The benchmark registered as `name`, or nullopt.
std::optional<BenchmarkInfo> find_benchmark(std::string_view name);
// The registered names in Table-1 order, comma-separated (for messages).
std::string benchmark_names();

// One benchmark item. Which fields carry the label depends on the benchmark (see the table at
// the top of this file): chosen-first layouts use n_chosen, JudgeBench and PPE preference use
// label, PPE correctness uses correct.
struct Item {
  std::string id;      // the benchmark's own id, unique within the Dataset
  std::string subset;  // primary category (RewardBench subset, RM-Bench file domain, JudgeBench
                       // source, RMB "<goal>/<set>", PPE correctness benchmark, ...)
  std::vector<std::pair<std::string, std::string>> tags;  // further category fields
  std::vector<data::Turn> context;                        // the conversation before the response
  std::vector<std::string> responses;                     // in the documented order
  int32_t n_chosen = 0;                                   // responses[0, n_chosen) are the preferred ones
  int32_t label = 0;             // JudgeBench: 0 "A>B", 1 "B>A"; PPE preference: 0 model_a, 1 model_b
  std::vector<uint8_t> correct;  // PPE correctness: 1 when responses[i] is correct
  uint32_t file_index = 0;       // into Dataset::files
  uint64_t record_no = 0;        // 1-based record (JSON array) or line (JSON lines) number

  // The value of tag `name`, or "" when absent.
  std::string_view tag(std::string_view name) const;
};

// A data file that contributed items, with content hashes for the report.
struct DataFile {
  std::string path;
  uint64_t bytes = 0;
  std::string sha256;    // 64 lowercase hex digits of the file as stored (compressed or not)
  std::string xxh3_128;  // 32 lowercase hex digits, same bytes
  uint64_t n_items = 0;
};

struct Dataset {
  std::string benchmark;    // the registered name (BenchmarkInfo::name)
  std::vector<Item> items;  // in load order: files in sorted path order, records in file order
  std::vector<DataFile> files;
  // Records read but not turned into items, with the reason (PPE preference ties, which the
  // official accuracy excludes). Empty when none.
  uint64_t n_excluded = 0;
  std::string excluded_reason;
};

struct LoadOptions {
  // rewardbench only: PATH is a princeton-nlp/LLMBar `Dataset` folder (or any folder above
  // LLMBar/Natural and LLMBar/Adversarial/*). Its five sets become RewardBench's llmbar-natural,
  // llmbar-adver-neighbor, -GPTInst, -GPTOut and -manual subsets; Processed/ is skipped.
  bool llmbar = false;
};

// Loads `path` (a file, or a folder walked recursively for *.json / *.jsonl, plain or
// compressed) as the benchmark registered as `benchmark`. Errors name the file, the record or
// line, and the field; an unregistered name is an invalid_argument error listing the names.
Result<Dataset> load_benchmark(std::string_view benchmark, const std::string& path,
                               const LoadOptions& options = {});

}  // namespace synpref::eval
