// Parallel, in-order building of RM inputs (see ordered_build.h).
#include "synpref/encode/ordered_build.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

namespace synpref::encode {

int resolve_threads(int n_threads) {
  if (n_threads > 0) return n_threads;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

std::string Origin::describe(uint64_t index) const {
  const std::string record_no = "record " + std::to_string(index + 1);
  if (file.empty()) return line ? "line " + std::to_string(line) : record_no;
  if (line) return file + ":" + std::to_string(line);
  return file + ", " + record_no;
}

void parallel_for(size_t count, int n_threads, const std::function<void(size_t)>& job) {
  const size_t n_workers = std::min<size_t>(count, static_cast<size_t>(std::max(1, n_threads)));
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next.fetch_add(1); i < count; i = next.fetch_add(1)) job(i);
  };
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < n_workers; ++t) helpers.emplace_back(work);
  work();
  for (auto& helper : helpers) helper.join();
}

OrderedBuilder::OrderedBuilder(const RmInputBuilder& builder, OrderedBuildOptions options)
    : builder_(builder),
      n_threads_(resolve_threads(options.n_threads)),
      batch_records_(std::max<size_t>(1, options.batch_records)) {}

Status OrderedBuilder::run(const Next& next, const Consume& consume, const Wanted& wanted) const {
  std::vector<BuiltRecord> batch(batch_records_);
  // Build results per slot; Result has no empty state, so a slot holds one only when built.
  std::vector<std::optional<Result<RmInput>>> results(batch_records_);
  uint64_t index = 0;
  bool more = true;
  while (more) {
    // 1. Read a batch (in order, on this thread).
    size_t n = 0;
    while (n < batch.size()) {
      BuiltRecord& slot = batch[n];
      slot.origin = Origin{};
      slot.input.reset();
      SP_ASSIGN_OR_RETURN(more, next(slot.record, slot.origin));
      if (!more) break;
      slot.index = index++;
      ++n;
    }
    // 2. Build it on all threads.
    parallel_for(n, n_threads_, [&](size_t i) {
      results[i].reset();
      if (!wanted || wanted(batch[i].record)) results[i].emplace(builder_.build(batch[i].record));
    });
    // 3. Hand it over in order; the first failure stops everything after it.
    for (size_t i = 0; i < n; ++i) {
      BuiltRecord& slot = batch[i];
      if (results[i]) {
        if (!results[i]->is_ok()) return results[i]->status().with_context(slot.origin.describe(slot.index));
        slot.input.emplace(std::move(*results[i]).value());
        results[i].reset();
      }
      SP_RETURN_IF_ERROR(consume(slot));
    }
  }
  return Status::ok();
}

}  // namespace synpref::encode
