// Data-layer workloads: parse + validate + write canonical (data.convert*), and global dedup at
// scale with peak memory (data.dedup).
#include <chrono>
#include <fstream>

#include "bench.h"
#include "synpref/data/ops.h"
#include "synpref/data/reader.h"
#include "synpref/data/synthetic.h"
#include "synpref/data/writer.h"

namespace synpref::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Resets the kernel's peak-RSS counter (VmHWM) so a workload measures only its own peak.
void reset_peak_rss() {
  std::ofstream("/proc/self/clear_refs") << "5";
}

// Parses every record of `source`, validates it and formats canonical JSONL into a writer that
// discards bytes (the formatting work is done; only the write syscall is skipped).
struct ConvertCounts {
  uint64_t records = 0, rejects = 0, out_bytes = 0;
};
Result<ConvertCounts> convert_all(std::unique_ptr<io::ByteSource> source, data::KeySet* dedup,
                                  uint64_t* duplicates) {
  SP_ASSIGN_OR_RETURN(auto reader, data::RecordReader::from_source(std::move(source), {}));
  SP_ASSIGN_OR_RETURN(auto writer, io::Writer::open(""));
  data::Record record;
  data::Reject reject;
  ConvertCounts counts;
  for (;;) {
    SP_ASSIGN_OR_RETURN(auto outcome, reader->next(record, reject));
    if (outcome == data::RecordReader::Outcome::end) break;
    if (outcome == data::RecordReader::Outcome::reject) {
      ++counts.rejects;
      continue;
    }
    ++counts.records;
    if (dedup && !dedup->insert(data::content_hash(record))) {
      ++*duplicates;
      continue;
    }
    data::append_canonical(writer->buffer(), record);
    writer->maybe_flush();
  }
  counts.out_bytes = writer->bytes_written();
  SP_RETURN_IF_ERROR(writer->close());
  return counts;
}

Result<RunOnce> setup_convert(Context& ctx, const std::string& format) {
  auto data = std::make_shared<std::string>();
  data::SyntheticOptions options;
  options.format = ctx.param_str("format", format);
  options.seed = 7;
  const double mb = ctx.param("mb", 256);
  uint64_t idx = 0;
  while (static_cast<double>(data->size()) < mb * 1e6) data::append_synthetic_record(*data, options, idx++);
  return RunOnce([data]() -> Result<std::vector<Metric>> {
    auto start = Clock::now();
    SP_ASSIGN_OR_RETURN(ConvertCounts counts, convert_all(io::memory_source(*data), nullptr, nullptr));
    double secs = std::chrono::duration<double>(Clock::now() - start).count();
    if (counts.rejects != 0) return internal_error("generated data was rejected");
    return std::vector<Metric>{
        {"input MB/s (1 core)", static_cast<double>(data->size()) / 1e6 / secs, "MB/s"},
        {"records/s", static_cast<double>(counts.records) / secs, "rec/s"},
        {"avg record bytes", static_cast<double>(data->size()) / static_cast<double>(counts.records), "B"},
        {"output MB/s", static_cast<double>(counts.out_bytes) / 1e6 / secs, "MB/s"},
    };
  });
}

SYNPREF_WORKLOAD(
    "data.convert.chat", "parse + validate + write canonical JSONL, chat message lists (params: mb=256)",
    [](Context& ctx) { return setup_convert(ctx, "chat"); }, 5);
SYNPREF_WORKLOAD(
    "data.convert.hh", "parse + validate + write canonical JSONL, hh-rlhf transcripts (params: mb=256)",
    [](Context& ctx) { return setup_convert(ctx, "hh"); }, 5);

Result<RunOnce> setup_dedup(Context& ctx) {
  data::SyntheticOptions options;
  options.records = static_cast<uint64_t>(ctx.param("pairs", 10e6));
  options.duplicate_fraction = ctx.param("dup", 0.1);
  options.seed = 11;
  options.format = "chat";
  return RunOnce([options]() -> Result<std::vector<Metric>> {
    reset_peak_rss();
    uint64_t base_rss = current_rss_bytes();
    auto start = Clock::now();
    data::KeySet seen;  // default size, grows like the CLI's
    uint64_t duplicates = 0;
    SP_ASSIGN_OR_RETURN(ConvertCounts counts,
                        convert_all(data::synthetic_source(options), &seen, &duplicates));
    double secs = std::chrono::duration<double>(Clock::now() - start).count();
    return std::vector<Metric>{
        {"pairs", static_cast<double>(counts.records), "pairs"},
        {"duplicates removed", static_cast<double>(duplicates), "pairs"},
        {"pairs/s (generate+parse+hash+write)", static_cast<double>(counts.records) / secs, "pairs/s"},
        {"peak RSS", static_cast<double>(vm_hwm_bytes()) / (1 << 20), "MiB", false},
        {"RSS before run", static_cast<double>(base_rss) / (1 << 20), "MiB", false},
        {"key table", static_cast<double>(seen.memory_bytes()) / (1 << 20), "MiB", false},
    };
  });
}

SYNPREF_WORKLOAD("data.dedup", "global exact dedup of generated pairs, peak RSS (params: pairs=1e7, dup=0.1)",
                 setup_dedup, 1, 0);

}  // namespace
}  // namespace synpref::bench
