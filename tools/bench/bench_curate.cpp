// Curation workloads: the stage-2 decision pipeline over generated pairs (curate.stage2): decide +
// count per reason and category, chunk by chunk, with pairs/s on one core and peak RSS.
#include <chrono>
#include <fstream>
#include <random>

#include "bench.h"
#include "synpref/curate/stage2.h"

namespace synpref::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Precomputed inputs of the pipeline, as stage 2 reads them from the project: two RMs' scores,
// the aggregated LLM verdict (or none), the pair's category.
struct Pool {
  std::vector<double> best_chosen, best_rejected, gold_chosen, gold_rejected;
  std::vector<int8_t> llm_verdict;
  std::vector<uint16_t> category;
};

Pool generate_pool(size_t n_pairs, size_t n_categories, uint64_t seed) {
  Pool pool;
  pool.best_chosen.resize(n_pairs);
  pool.best_rejected.resize(n_pairs);
  pool.gold_chosen.resize(n_pairs);
  pool.gold_rejected.resize(n_pairs);
  pool.llm_verdict.resize(n_pairs);
  pool.category.resize(n_pairs);
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> score(0.4, 1.5);
  for (size_t i = 0; i < n_pairs; ++i) {
    pool.best_chosen[i] = score(rng);
    pool.best_rejected[i] = score(rng);
    pool.gold_chosen[i] = score(rng);
    pool.gold_rejected[i] = score(rng);
    uint64_t r = rng();
    // A third of the pairs have no LLM label yet; the rest split between agree/disagree/abstain.
    pool.llm_verdict[i] = r % 3 == 0 ? curate::kLlmMissing : static_cast<int8_t>((r >> 8) % 3) - 1;
    pool.category[i] = static_cast<uint16_t>((r >> 16) % (n_categories + 1));
  }
  return pool;
}

Result<RunOnce> setup_stage2(Context& ctx) {
  const size_t n_pairs = static_cast<size_t>(ctx.param("pairs", 10'000'000));
  const size_t chunk = static_cast<size_t>(ctx.param("chunk", 65536));
  const size_t n_categories = 15;
  curate::Stage2Options options{ctx.param("margin", 0.1)};
  SP_RETURN_IF_ERROR(curate::validate(options));
  auto pool = std::make_shared<Pool>(generate_pool(n_pairs, n_categories, 17));
  return RunOnce([=]() -> Result<std::vector<Metric>> {
    std::vector<uint8_t> reasons(n_pairs);
    curate::Stage2Counts counts;
    auto start = Clock::now();
    for (size_t begin = 0; begin < n_pairs; begin += chunk) {
      size_t len = std::min(chunk, n_pairs - begin);
      curate::Stage2Columns columns{{pool->best_chosen.data() + begin, len},
                                    {pool->best_rejected.data() + begin, len},
                                    {pool->gold_chosen.data() + begin, len},
                                    {pool->gold_rejected.data() + begin, len},
                                    {pool->llm_verdict.data() + begin, len}};
      std::span<uint8_t> out(reasons.data() + begin, len);
      curate::decide_chunk(columns, options, out);
      curate::count_reasons(out, {pool->category.data() + begin, len}, n_categories, counts);
    }
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (counts.kept() + counts.dropped() + counts.undecided() != static_cast<int64_t>(n_pairs)) {
      return internal_error("stage-2 counts do not add up to the pairs decided");
    }
    return std::vector<Metric>{
        {"pairs/s", static_cast<double>(n_pairs) / seconds, "pairs/s"},
        {"kept share", static_cast<double>(counts.kept()) / n_pairs, "", true},
        {"pending share", static_cast<double>(counts.undecided()) / n_pairs, "", false},
        {"peak RSS", static_cast<double>(vm_hwm_bytes()) / (1 << 20), "MiB", false},
    };
  });
}

SYNPREF_WORKLOAD(
    "curate.stage2",
    "stage-2 decisions (rule + per-reason/category counts) over generated pairs with precomputed "
    "scores and LLM labels, chunked, one core; params pairs (10M), chunk, margin",
    setup_stage2, 5);

}  // namespace
}  // namespace synpref::bench
