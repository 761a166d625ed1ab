#include "synpref/data/pipeline.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <tuple>

#include "synpref/common/text.h"
#include "synpref/data/writer.h"

namespace synpref::data {

namespace {

using Clock = std::chrono::steady_clock;

// Refuses, before anything is written, any output (including the rejects file) that is one of the
// inputs.
Status check_outputs(const std::vector<std::string>& inputs, const StreamOptions& options,
                     const std::vector<std::string>& outputs) {
  SP_RETURN_IF_ERROR(io::check_not_an_input(options.rejects_path, inputs));
  for (const std::string& output : outputs) SP_RETURN_IF_ERROR(io::check_not_an_input(output, inputs));
  return Status::ok();
}

// Runs `per_record` over the inputs, then closes the rejects file and fills the input counters.
// Fails when no input record was usable.
Status for_each_record(const std::vector<std::string>& inputs, const StreamOptions& options,
                       PipelineSummary& summary,
                       const std::function<Status(RecordStream&, Record&)>& per_record) {
  auto start = Clock::now();
  SP_ASSIGN_OR_RETURN(auto stream, RecordStream::open(inputs, options));
  Record record;
  for (;;) {
    SP_ASSIGN_OR_RETURN(bool more, stream->next(record));
    if (!more) break;
    SP_RETURN_IF_ERROR(per_record(*stream, record));
  }
  SP_RETURN_IF_ERROR(stream->close());
  summary.input = stream->counters();
  summary.rejects_path = options.rejects_path;
  summary.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return stream->check_usable();
}

void write_record(io::Writer& writer, const Record& record) {
  append_canonical(writer.buffer(), record);
  writer.maybe_flush();
}

}  // namespace

Result<PipelineSummary> convert_files(const std::vector<std::string>& inputs, const std::string& output,
                                      const StreamOptions& options, OutputFormat to) {
  SP_RETURN_IF_ERROR(check_outputs(inputs, options, {output}));
  PipelineSummary summary;
  summary.output = output;
  SP_ASSIGN_OR_RETURN(auto writer, io::Writer::open(output));
  SP_RETURN_IF_ERROR(for_each_record(inputs, options, summary, [&](RecordStream& stream, Record& r) {
    SP_RETURN_IF_ERROR(append_record(writer->buffer(), r, to).with_context(stream.current_file()));
    writer->maybe_flush();
    ++summary.written;
    return Status::ok();
  }));
  SP_RETURN_IF_ERROR(writer->close());
  return summary;
}

Result<PipelineSummary> dedup_files(const std::vector<std::string>& inputs, const std::string& output,
                                    const std::string& duplicates_path, uint64_t expected_records,
                                    const StreamOptions& options) {
  SP_RETURN_IF_ERROR(check_outputs(inputs, options, {output, duplicates_path}));
  PipelineSummary summary;
  summary.output = output;
  summary.removed_path = duplicates_path;
  SP_ASSIGN_OR_RETURN(auto writer, io::Writer::open(output));
  SP_ASSIGN_OR_RETURN(auto dups, io::Writer::open(duplicates_path));
  KeySet seen(expected_records);
  SP_RETURN_IF_ERROR(for_each_record(inputs, options, summary, [&](RecordStream& stream, Record& r) {
    Hash128 key = content_hash(r);
    if (seen.insert(key)) {
      write_record(*writer, r);
      ++summary.written;
      return Status::ok();
    }
    ++summary.removed;
    std::string& out = dups->buffer();
    out += "{\"id\":";
    text::append_json_string(out, r.id);
    out += ",\"file\":";
    text::append_json_string_lossy(out, stream.current_file());
    out += ",\"key\":\"" + key.hex() + "\"}\n";
    dups->maybe_flush();
    return Status::ok();
  }));
  summary.table_bytes = seen.memory_bytes();
  SP_RETURN_IF_ERROR(writer->close());
  SP_RETURN_IF_ERROR(dups->close());
  return summary;
}

Result<PipelineSummary> decontaminate_files(const std::vector<std::string>& inputs, const std::string& output,
                                            const std::string& removed_path, const NgramIndex& index,
                                            bool all_fields, const StreamOptions& options) {
  SP_RETURN_IF_ERROR(check_outputs(inputs, options, {output, removed_path}));
  PipelineSummary summary;
  summary.output = output;
  summary.removed_path = removed_path;
  SP_ASSIGN_OR_RETURN(auto writer, io::Writer::open(output));
  SP_ASSIGN_OR_RETURN(auto removed, io::Writer::open(removed_path));
  SP_RETURN_IF_ERROR(for_each_record(inputs, options, summary, [&](RecordStream&, Record& r) {
    const std::string* hit = nullptr;
    for (const auto& turn : r.context)
      if (!hit) hit = index.find(turn.content);
    if (all_fields)
      for (const auto& resp : r.responses)
        if (!hit) hit = index.find(resp.content);
    if (!hit) {
      write_record(*writer, r);
      ++summary.written;
      return Status::ok();
    }
    ++summary.removed;
    std::string& out = removed->buffer();
    out += "{\"id\":";
    text::append_json_string(out, r.id);
    out += ",\"matched\":";
    text::append_json_string_lossy(out, *hit);
    out += "}\n";
    removed->maybe_flush();
    return Status::ok();
  }));
  SP_RETURN_IF_ERROR(writer->close());
  SP_RETURN_IF_ERROR(removed->close());
  return summary;
}

Result<std::vector<std::pair<std::string, double>>> parse_ratios(const std::string& spec) {
  std::vector<std::pair<std::string, double>> out;
  double total = 0;
  size_t pos = 0;
  while (pos < spec.size()) {
    size_t comma = spec.find(',', pos);
    if (comma == std::string::npos) comma = spec.size();
    std::string part = spec.substr(pos, comma - pos);
    size_t eq = part.find('=');
    if (eq == std::string::npos || eq == 0)
      return invalid_argument("--ratios: expected name=weight,..., got '" + part + "'");
    std::string name = part.substr(0, eq);
    for (char c : name) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-')
        return invalid_argument("--ratios: split name '" + name +
                                "' may hold only letters, digits, '_' and '-'");
    }
    for (auto& [seen, w] : out)
      if (seen == name) return invalid_argument("--ratios: split '" + name + "' given twice");
    char* end = nullptr;
    std::string weight = part.substr(eq + 1);
    double w = std::strtod(weight.c_str(), &end);
    if (weight.empty() || *end != '\0') return invalid_argument("--ratios: bad weight in '" + part + "'");
    if (!(w > 0)) return invalid_argument("--ratios: weight of '" + name + "' must be positive");
    out.push_back({name, w});
    total += w;
    pos = comma + 1;
  }
  if (out.empty()) return invalid_argument("--ratios is empty");
  for (auto& [name, w] : out) w /= total;
  return out;
}

Result<PipelineSummary> split_files(const std::vector<std::string>& inputs, const std::string& out_dir,
                                    const std::vector<std::pair<std::string, double>>& ratios, uint64_t seed,
                                    const StreamOptions& options) {
  SP_CHECK(!ratios.empty());
  std::vector<std::string> outputs;
  for (auto& [name, w] : ratios) outputs.push_back(out_dir + "/" + name + ".jsonl");
  SP_RETURN_IF_ERROR(check_outputs(inputs, options, outputs));
  PipelineSummary summary;
  summary.output = out_dir;
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) return io_error(out_dir + ": cannot create folder: " + ec.message());
  std::vector<std::unique_ptr<io::Writer>> writers;
  for (auto& [name, w] : ratios) {
    SP_ASSIGN_OR_RETURN(auto writer, io::Writer::open(out_dir + "/" + name + ".jsonl"));
    writers.push_back(std::move(writer));
    summary.splits.push_back({name, 0});
  }
  SP_RETURN_IF_ERROR(for_each_record(inputs, options, summary, [&](RecordStream&, Record& r) {
    double u = unit_hash(r.id, seed), acc = 0;
    size_t k = 0;
    for (; k + 1 < ratios.size(); ++k) {
      acc += ratios[k].second;
      if (u < acc) break;
    }
    r.split = ratios[k].first;
    write_record(*writers[k], r);
    ++summary.splits[k].second;
    ++summary.written;
    return Status::ok();
  }));
  for (auto& w : writers) SP_RETURN_IF_ERROR(w->close());
  return summary;
}

Result<PipelineSummary> sample_files(const std::vector<std::string>& inputs, const std::string& output,
                                     uint64_t count, double fraction, uint64_t seed,
                                     const StreamOptions& options) {
  if (count == 0 && !(fraction > 0 && fraction <= 1)) {
    return invalid_argument("sample: give a count or a fraction in (0, 1]");
  }
  SP_RETURN_IF_ERROR(check_outputs(inputs, options, {output}));
  PipelineSummary summary;
  summary.output = output;
  SP_ASSIGN_OR_RETURN(auto writer, io::Writer::open(output));
  // Reservoir of (priority, input index, canonical line): the `count` smallest seeded hashes of
  // (id, index) form a uniform sample that does not depend on memory layout or thread count.
  std::vector<std::tuple<uint64_t, uint64_t, std::string>> heap;
  uint64_t index = 0;
  SP_RETURN_IF_ERROR(for_each_record(inputs, options, summary, [&](RecordStream&, Record& r) {
    ++index;
    if (count == 0) {
      if (unit_hash(r.id, seed) < fraction) {
        write_record(*writer, r);
        ++summary.written;
      }
      return Status::ok();
    }
    uint64_t prio = hash64(r.id + "\x1f" + std::to_string(index), seed);
    if (heap.size() < count || prio < std::get<0>(heap.front())) {
      std::string line;
      append_canonical(line, r);
      heap.emplace_back(prio, index, std::move(line));
      std::push_heap(heap.begin(), heap.end());
      if (heap.size() > count) {
        std::pop_heap(heap.begin(), heap.end());
        heap.pop_back();
      }
    }
    return Status::ok();
  }));
  if (count > 0) {
    std::sort(heap.begin(), heap.end(), [](auto& a, auto& b) { return std::get<1>(a) < std::get<1>(b); });
    for (auto& item : heap) writer->append(std::get<2>(item));
    summary.written = heap.size();
  }
  summary.removed = summary.input.records - summary.written;
  SP_RETURN_IF_ERROR(writer->close());
  return summary;
}

}  // namespace synpref::data
