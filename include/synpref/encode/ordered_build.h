// synpref/encode/ordered_build.h: RM inputs of a record stream, built on worker threads and handed
// back in input order with bounded memory.
//
// Building an input (chat template + tokenizer) is the expensive, independent part of every bulk
// job: tokenizing shards, loading training pairs, scoring. OrderedBuilder reads up to
// `batch_records` records, builds them on `n_threads` threads, then gives them to the consumer one
// by one in the order they were read, and repeats. The results never depend on the thread count:
// each record is built alone by the same deterministic code.
//
//   encode::OrderedBuilder ordered(builder, {.n_threads = 8});
//   SP_RETURN_IF_ERROR(ordered.run(
//       [&](data::Record& r, encode::Origin& o) { return stream->next(r); },
//       [&](encode::BuiltRecord& b) { writer->add(b.record.id, ..., *b.input); return Status::ok(); }));
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "synpref/common/status.h"
#include "synpref/data/record.h"
#include "synpref/encode/rm_input.h"

namespace synpref::encode {

// Where a record came from, for error messages: "<file>:<line>" when both are known.
struct Origin {
  std::string file;
  uint64_t line = 0;                           // 1-based; 0 = unknown
  std::string describe(uint64_t index) const;  // "<file>:<line>", "<file>, record <index+1>", ...
};

// A record and its input, handed to the consumer in input order.
struct BuiltRecord {
  data::Record record;
  Origin origin;
  uint64_t index = 0;            // 0-based position in the input (records only, not rejects)
  std::optional<RmInput> input;  // empty when the `wanted` filter declined the record
};

struct OrderedBuildOptions {
  int n_threads = 0;           // building threads; 0 = all hardware threads
  size_t batch_records = 512;  // records in memory at once (>= 1)
};

class OrderedBuilder {
 public:
  // next(record, origin): fills the next record (and where it came from; may be left empty) and
  // returns true, or false at the end; an error stops the run and is returned as is.
  using Next = std::function<Result<bool>(data::Record& record, Origin& origin)>;
  // Which records to build; the others reach the consumer with an empty `input`.
  using Wanted = std::function<bool(const data::Record& record)>;
  // Called once per record in input order; an error stops the run and is returned as is.
  using Consume = std::function<Status(BuiltRecord& built)>;

  // `builder` must outlive this object.
  OrderedBuilder(const RmInputBuilder& builder, OrderedBuildOptions options = {});

  // Reads every record from `next` and hands each to `consume` in order. A record that fails to
  // build stops the run: the records before it have been consumed, none after it, and the error
  // is prefixed with its origin (e.g. "data.jsonl:7: record r6: ... over the maximum ...").
  Status run(const Next& next, const Consume& consume, const Wanted& wanted = {}) const;

  int n_threads() const { return n_threads_; }

 private:
  const RmInputBuilder& builder_;
  int n_threads_;
  size_t batch_records_;
};

// Runs job(i) for every i in [0, count) on up to n_threads threads (the caller's included) and
// returns when all are done. The split of indices over threads is dynamic, so jobs must be
// independent; callers keep results per index, which makes the outcome independent of the split.
void parallel_for(size_t count, int n_threads, const std::function<void(size_t)>& job);

// n_threads > 0 as given, otherwise the hardware thread count.
int resolve_threads(int n_threads);

}  // namespace synpref::encode
