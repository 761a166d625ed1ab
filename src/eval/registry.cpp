// The benchmark registry: specs added at static initialization by SYNPREF_BENCHMARK, read in
// `order` (Table-1 column order).
#include "eval/registry.h"

#include <algorithm>
#include <deque>

#include "synpref/common/check.h"

namespace synpref::eval {

namespace {

// Function-local so registration from any translation unit's static initializer finds it built;
// a deque so the pointers handed out stay valid when a later spec is added.
std::deque<BenchmarkSpec>& registry() {
  static std::deque<BenchmarkSpec> specs;
  return specs;
}

}  // namespace

bool register_benchmark(const BenchmarkSpec& spec) {
  SP_CHECK(!spec.name.empty() && !spec.column.empty());
  SP_CHECK(spec.load_file != nullptr && spec.make_rule != nullptr);
  for (const BenchmarkSpec& other : registry()) {
    SP_CHECK(other.name != spec.name);
    SP_CHECK(other.order != spec.order);
  }
  registry().push_back(spec);
  return true;
}

const BenchmarkSpec* find_spec(std::string_view name) {
  for (const BenchmarkSpec& spec : registry()) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

std::vector<const BenchmarkSpec*> registered_specs() {
  std::vector<const BenchmarkSpec*> specs;
  for (const BenchmarkSpec& spec : registry()) specs.push_back(&spec);
  std::sort(specs.begin(), specs.end(),
            [](const BenchmarkSpec* a, const BenchmarkSpec* b) { return a->order < b->order; });
  return specs;
}

std::vector<BenchmarkInfo> all_benchmarks() {
  std::vector<BenchmarkInfo> out;
  for (const BenchmarkSpec* spec : registered_specs()) out.push_back({spec->name, spec->column});
  return out;
}

std::optional<BenchmarkInfo> find_benchmark(std::string_view name) {
  const BenchmarkSpec* spec = find_spec(name);
  if (spec == nullptr) return std::nullopt;
  return BenchmarkInfo{spec->name, spec->column};
}

std::string benchmark_names() {
  std::string names;
  for (const BenchmarkSpec* spec : registered_specs()) {
    names += (names.empty() ? "" : ", ") + std::string(spec->name);
  }
  return names;
}

}  // namespace synpref::eval
