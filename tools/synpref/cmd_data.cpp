// `synpref data ...`: convert, stats, dedup, decontaminate, split, sample.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "command.h"
#include "synpref/common/text.h"
#include "synpref/data/ops.h"
#include "synpref/data/stream.h"

namespace synpref::cli {
namespace {

using data::Record;
using data::RecordStream;
using nlohmann::json;

// Flags shared by every data command.
struct InputFlags {
  std::vector<std::string> inputs;
  std::string format = "auto";
  std::string rejects;
  std::string empty_responses = "auto";
  std::string source;
  uint64_t max_line_bytes = uint64_t{64} << 20;
  bool strict = false;

  void add_to(CLI::App* cmd) {
    cmd->add_option("inputs", inputs, "Input files: JSONL or JSON array, plain, .gz or .zst ('-' = stdin)")
        ->required();
    cmd->add_option("--format", format, "Input format: auto, canonical, chat, prompt, hh, rmb")
        ->capture_default_str();
    cmd->add_option("--rejects", rejects, "Where bad records go (default: <output>.rejects.jsonl)");
    cmd->add_flag("--strict", strict, "Stop at the first bad record instead of logging it");
    cmd->add_option("--max-line-bytes", max_line_bytes, "Reject longer lines")->capture_default_str();
    cmd->add_option("--empty-responses", empty_responses,
                    "auto (reject, but keep hh-rlhf's explicit empty final turns), reject, keep")
        ->capture_default_str();
    cmd->add_option("--source", source, "Set 'source' on records that have none");
  }

  Result<data::StreamOptions> options(const std::string& output, const std::string& label) const {
    data::StreamOptions o;
    SP_ASSIGN_OR_RETURN(o.read.format, data::parse_format(format));
    if (empty_responses == "auto")
      o.read.empty_responses = data::EmptyPolicy::auto_detect;
    else if (empty_responses == "reject")
      o.read.empty_responses = data::EmptyPolicy::reject;
    else if (empty_responses == "keep")
      o.read.empty_responses = data::EmptyPolicy::keep;
    else
      return invalid_argument("--empty-responses: expected auto, reject or keep, got '" + empty_responses +
                              "'");
    o.read.max_line_bytes = max_line_bytes;
    o.read.source = source;
    o.strict = strict;
    o.rejects_path = rejects.empty() ? data::default_rejects_path(output) : rejects;
    o.progress = !global_options().quiet;
    o.label = label;
    return o;
  }
};

using Clock = std::chrono::steady_clock;

// Fills the summary fields every command reports.
json stream_summary(const std::string& command, const RecordStream& stream, Clock::time_point start) {
  const auto& c = stream.counters();
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  json by_code = json::object();
  for (auto& [code, n] : c.rejects_by_code) by_code[code] = n;
  return {{"command", command},
          {"files", c.files},
          {"records", c.records},
          {"rejects", c.rejects},
          {"rejects_by_code", by_code},
          {"rejects_file", stream.rejects_path()},
          {"empty_responses_kept", c.empty_responses_kept},
          {"input_bytes", c.bytes_read},
          {"seconds", secs},
          {"input_mb_per_s", secs > 0 ? static_cast<double>(c.bytes_read) / 1e6 / secs : 0.0}};
}

// Prints a summary: JSON (with --json) on stdout, or on stderr when stdout carries data.
void report(const json& summary, const std::string& human, bool stdout_busy) {
  if (global_options().json) {
    std::fprintf(stdout_busy ? stderr : stdout, "%s\n", summary.dump().c_str());
  } else {
    std::fprintf(stderr, "%s", human.c_str());
  }
}

std::string reject_line(const json& s) {
  std::string out = "rejects " + std::to_string(s["rejects"].get<uint64_t>());
  if (s["rejects"].get<uint64_t>() > 0) {
    out += " (";
    bool first = true;
    for (auto& [code, n] : s["rejects_by_code"].items()) {
      out += (first ? "" : ", ") + code + " " + std::to_string(n.get<uint64_t>());
      first = false;
    }
    out += ") -> " + s["rejects_file"].get<std::string>();
  }
  if (s["empty_responses_kept"].get<uint64_t>() > 0) {
    out +=
        "; kept " + std::to_string(s["empty_responses_kept"].get<uint64_t>()) + " explicit empty responses";
  }
  return out;
}

// Runs `per_record` over the inputs and closes the rejects file.
Result<std::unique_ptr<RecordStream>> run_stream(const InputFlags& flags, const std::string& output,
                                                 const std::string& label,
                                                 const std::function<Status(Record&)>& per_record) {
  SP_ASSIGN_OR_RETURN(data::StreamOptions options, flags.options(output, label));
  SP_ASSIGN_OR_RETURN(auto stream, RecordStream::open(flags.inputs, options));
  Record record;
  for (;;) {
    SP_ASSIGN_OR_RETURN(bool more, stream->next(record));
    if (!more) break;
    SP_RETURN_IF_ERROR(per_record(record));
  }
  SP_RETURN_IF_ERROR(stream->close());
  return stream;
}

// ---- convert -----------------------------------------------------------------------------------

void add_convert(CLI::App* data) {
  auto flags = std::make_shared<InputFlags>();
  auto output = std::make_shared<std::string>("-");
  auto* cmd = data->add_subcommand("convert", "Convert any supported format to canonical JSONL");
  flags->add_to(cmd);
  cmd->add_option("-o,--output", *output, "Output canonical JSONL (.gz/.zst compress; '-' = stdout)")
      ->capture_default_str();
  cmd->callback([=] {
    set_action([=]() -> Status {
      auto start = Clock::now();
      SP_ASSIGN_OR_RETURN(auto writer, io::Writer::open(*output));
      uint64_t written = 0;
      SP_ASSIGN_OR_RETURN(auto stream, run_stream(*flags, *output, "convert", [&](Record& r) {
                            data::append_canonical(writer->buffer(), r);
                            writer->maybe_flush();
                            ++written;
                            return Status::ok();
                          }));
      SP_RETURN_IF_ERROR(writer->close());
      json s = stream_summary("convert", *stream, start);
      s["written"] = written;
      s["output"] = *output;
      report(s,
             "convert: " + std::to_string(written) + " records written to " + *output + "; " +
                 reject_line(s) + "\n",
             *output == "-");
      return Status::ok();
    });
  });
}

// ---- stats -------------------------------------------------------------------------------------

void add_stats(CLI::App* data) {
  auto flags = std::make_shared<InputFlags>();
  auto* cmd = data->add_subcommand("stats", "Counts, length histograms and attribute breakdowns");
  flags->add_to(cmd);
  cmd->callback([=] {
    set_action([=]() -> Status {
      auto start = Clock::now();
      data::Stats stats;
      SP_ASSIGN_OR_RETURN(auto stream, run_stream(*flags, "", "stats", [&](Record& r) {
                            stats.add(r);
                            return Status::ok();
                          }));
      json s = stream_summary("stats", *stream, start);
      s["stats"] = json::parse(stats.to_json());
      if (global_options().json) {
        std::printf("%s\n", s.dump().c_str());
      } else {
        std::printf("%s%s\n", stats.to_text().c_str(), reject_line(s).c_str());
      }
      return Status::ok();
    });
  });
}

// ---- dedup -------------------------------------------------------------------------------------

void add_dedup(CLI::App* data) {
  auto flags = std::make_shared<InputFlags>();
  auto output = std::make_shared<std::string>("-");
  auto duplicates = std::make_shared<std::string>();
  auto expected = std::make_shared<uint64_t>(1 << 20);
  auto* cmd = data->add_subcommand(
      "dedup",
      "Global exact dedup on the normalized (context, chosen, rejected) tuple; first occurrence wins");
  flags->add_to(cmd);
  cmd->add_option("-o,--output", *output, "Output canonical JSONL")->capture_default_str();
  cmd->add_option("--duplicates", *duplicates,
                  "Where removed duplicates are listed (default: <output>.duplicates.jsonl)");
  cmd->add_option("--expected", *expected, "Expected number of records (presizes the table)");
  cmd->callback([=] {
    set_action([=]() -> Status {
      auto start = Clock::now();
      SP_ASSIGN_OR_RETURN(auto writer, io::Writer::open(*output));
      std::string dup_path = !duplicates->empty() ? *duplicates
                                                  : (*output == "-" ? "synpref.duplicates.jsonl"
                                                                    : *output + ".duplicates.jsonl");
      SP_ASSIGN_OR_RETURN(auto dups, io::Writer::open(dup_path));
      data::KeySet seen(*expected);
      uint64_t written = 0, removed = 0;
      RecordStream* stream_ptr = nullptr;
      SP_ASSIGN_OR_RETURN(data::StreamOptions options, flags->options(*output, "dedup"));
      SP_ASSIGN_OR_RETURN(auto stream, RecordStream::open(flags->inputs, options));
      stream_ptr = stream.get();
      Record r;
      for (;;) {
        SP_ASSIGN_OR_RETURN(bool more, stream->next(r));
        if (!more) break;
        Hash128 key = data::content_hash(r);
        if (seen.insert(key)) {
          data::append_canonical(writer->buffer(), r);
          writer->maybe_flush();
          ++written;
        } else {
          ++removed;
          std::string& out = dups->buffer();
          out += "{\"id\":";
          text::append_json_string(out, r.id);
          out += ",\"file\":";
          text::append_json_string_lossy(out, stream_ptr->current_file());
          out += ",\"key\":\"" + key.hex() + "\"}\n";
          dups->maybe_flush();
        }
      }
      SP_RETURN_IF_ERROR(stream->close());
      SP_RETURN_IF_ERROR(writer->close());
      SP_RETURN_IF_ERROR(dups->close());
      json s = stream_summary("dedup", *stream, start);
      s["written"] = written;
      s["duplicates_removed"] = removed;
      s["duplicates_file"] = dup_path;
      s["output"] = *output;
      s["table_bytes"] = seen.memory_bytes();
      report(s,
             "dedup: " + std::to_string(written) + " unique records written to " + *output + ", " +
                 std::to_string(removed) + " duplicates removed (listed in " + dup_path + "); " +
                 reject_line(s) + "\n",
             *output == "-");
      return Status::ok();
    });
  });
}

// ---- decontaminate -----------------------------------------------------------------------------

void add_decontaminate(CLI::App* data) {
  auto flags = std::make_shared<InputFlags>();
  auto output = std::make_shared<std::string>("-");
  auto removed_path = std::make_shared<std::string>();
  auto benchmarks = std::make_shared<std::vector<std::string>>();
  auto n = std::make_shared<int>(13);
  auto fields = std::make_shared<std::string>("context");
  auto* cmd =
      data->add_subcommand("decontaminate", "Drop records sharing any word n-gram with benchmark prompts");
  flags->add_to(cmd);
  cmd->add_option("-o,--output", *output, "Output canonical JSONL")->capture_default_str();
  cmd->add_option("-b,--benchmark", *benchmarks,
                  "Benchmark prompts: .txt (one per line) or JSON/JSONL (repeatable)")
      ->required();
  cmd->add_option("--ngram", *n, "n-gram length in words")->capture_default_str()->check(CLI::Range(1, 64));
  cmd->add_option("--fields", *fields,
                  "Text checked: context (the prompt turns) or all (context + responses)")
      ->capture_default_str()
      ->check(CLI::IsMember({"context", "all"}));
  cmd->add_option("--removed", *removed_path,
                  "Where removed records are listed (default: <output>.removed.jsonl)");
  cmd->callback([=] {
    set_action([=]() -> Status {
      auto start = Clock::now();
      data::NgramIndex index(*n);
      uint64_t prompts = 0;
      for (const auto& b : *benchmarks) {
        SP_ASSIGN_OR_RETURN(uint64_t k, data::load_benchmark_prompts(b, index));
        prompts += k;
      }
      SP_ASSIGN_OR_RETURN(auto writer, io::Writer::open(*output));
      std::string rm_path = !removed_path->empty()
                                ? *removed_path
                                : (*output == "-" ? "synpref.removed.jsonl" : *output + ".removed.jsonl");
      SP_ASSIGN_OR_RETURN(auto removed_writer, io::Writer::open(rm_path));
      uint64_t written = 0, removed = 0;
      const bool all = *fields == "all";
      SP_ASSIGN_OR_RETURN(auto stream, run_stream(*flags, *output, "decontaminate", [&](Record& r) {
                            const std::string* hit = nullptr;
                            for (const auto& t : r.context)
                              if (!hit) hit = index.find(t.content);
                            if (all)
                              for (const auto& resp : r.responses)
                                if (!hit) hit = index.find(resp.content);
                            if (hit) {
                              ++removed;
                              std::string& out = removed_writer->buffer();
                              out += "{\"id\":";
                              text::append_json_string(out, r.id);
                              out += ",\"matched\":";
                              text::append_json_string_lossy(out, *hit);
                              out += "}\n";
                              removed_writer->maybe_flush();
                            } else {
                              data::append_canonical(writer->buffer(), r);
                              writer->maybe_flush();
                              ++written;
                            }
                            return Status::ok();
                          }));
      SP_RETURN_IF_ERROR(writer->close());
      SP_RETURN_IF_ERROR(removed_writer->close());
      json s = stream_summary("decontaminate", *stream, start);
      s["written"] = written;
      s["removed"] = removed;
      s["removed_file"] = rm_path;
      s["benchmark_prompts"] = prompts;
      s["benchmark_ngrams"] = index.size();
      s["ngram"] = *n;
      s["output"] = *output;
      report(s,
             "decontaminate: " + std::to_string(written) + " records kept, " + std::to_string(removed) +
                 " removed for sharing a " + std::to_string(*n) + "-gram with " + std::to_string(prompts) +
                 " benchmark prompts (listed in " + rm_path + "); " + reject_line(s) + "\n",
             *output == "-");
      return Status::ok();
    });
  });
}

// ---- split -------------------------------------------------------------------------------------

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
    for (char c : name)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-')
        return invalid_argument("--ratios: split name '" + name +
                                "' may hold only letters, digits, '_' and '-'");
    double w = 0;
    try {
      w = std::stod(part.substr(eq + 1));
    } catch (...) {
      return invalid_argument("--ratios: bad weight in '" + part + "'");
    }
    if (!(w > 0)) return invalid_argument("--ratios: weight of '" + name + "' must be positive");
    out.push_back({name, w});
    total += w;
    pos = comma + 1;
  }
  if (out.empty()) return invalid_argument("--ratios is empty");
  for (auto& [name, w] : out) w /= total;
  return out;
}

void add_split(CLI::App* data) {
  auto flags = std::make_shared<InputFlags>();
  auto out_dir = std::make_shared<std::string>();
  auto ratios = std::make_shared<std::string>("train=0.98,test=0.02");
  auto seed = std::make_shared<uint64_t>(0);
  auto* cmd = data->add_subcommand(
      "split", "Split by a seeded hash of each record's id (stable across runs and input order)");
  flags->add_to(cmd);
  cmd->add_option("--out-dir", *out_dir, "Folder for <name>.jsonl per split")->required();
  cmd->add_option("--ratios", *ratios, "name=weight,...")->capture_default_str();
  cmd->add_option("--seed", *seed, "Hash seed")->capture_default_str();
  cmd->callback([=] {
    set_action([=]() -> Status {
      auto start = Clock::now();
      SP_ASSIGN_OR_RETURN(auto parts, parse_ratios(*ratios));
      std::error_code ec;
      std::filesystem::create_directories(*out_dir, ec);
      if (ec) return io_error(*out_dir + ": cannot create folder: " + ec.message());
      std::vector<std::unique_ptr<io::Writer>> writers;
      std::vector<uint64_t> counts(parts.size(), 0);
      for (auto& [name, w] : parts) {
        SP_ASSIGN_OR_RETURN(auto wr, io::Writer::open(*out_dir + "/" + name + ".jsonl"));
        writers.push_back(std::move(wr));
      }
      SP_ASSIGN_OR_RETURN(auto stream, run_stream(*flags, *out_dir + "/split", "split", [&](Record& r) {
                            double u = data::unit_hash(r.id, *seed), acc = 0;
                            size_t k = 0;
                            for (; k + 1 < parts.size(); ++k) {
                              acc += parts[k].second;
                              if (u < acc) break;
                            }
                            r.split = parts[k].first;
                            data::append_canonical(writers[k]->buffer(), r);
                            writers[k]->maybe_flush();
                            ++counts[k];
                            return Status::ok();
                          }));
      std::string human = "split:";
      json s = stream_summary("split", *stream, start);
      for (size_t k = 0; k < parts.size(); ++k) {
        SP_RETURN_IF_ERROR(writers[k]->close());
        s["splits"][parts[k].first] = counts[k];
        human += " " + parts[k].first + " " + std::to_string(counts[k]);
      }
      s["out_dir"] = *out_dir;
      report(s, human + " (in " + *out_dir + "); " + reject_line(s) + "\n", false);
      return Status::ok();
    });
  });
}

// ---- sample ------------------------------------------------------------------------------------

void add_sample(CLI::App* data) {
  auto flags = std::make_shared<InputFlags>();
  auto output = std::make_shared<std::string>("-");
  auto count = std::make_shared<uint64_t>(0);
  auto fraction = std::make_shared<double>(0);
  auto seed = std::make_shared<uint64_t>(0);
  auto* cmd = data->add_subcommand(
      "sample", "Uniform sample: exactly N records (reservoir) or a fraction (streaming); input order kept");
  flags->add_to(cmd);
  cmd->add_option("-o,--output", *output, "Output canonical JSONL")->capture_default_str();
  auto* n_opt = cmd->add_option("-n,--count", *count, "Exactly this many records (or all, if fewer)");
  auto* f_opt =
      cmd->add_option("--fraction", *fraction, "Keep each record with this probability (hash of id)")
          ->check(CLI::Range(0.0, 1.0));
  n_opt->excludes(f_opt);
  cmd->add_option("--seed", *seed, "Seed")->capture_default_str();
  cmd->callback([=] {
    set_action([=]() -> Status {
      if (*count == 0 && *fraction == 0) return invalid_argument("data sample: give -n N or --fraction F");
      auto start = Clock::now();
      SP_ASSIGN_OR_RETURN(auto writer, io::Writer::open(*output));
      uint64_t written = 0;
      // Reservoir of (priority, input index, canonical line): keeps the N smallest seeded hashes of
      // (id, index), so the choice is uniform, deterministic, and independent of memory layout.
      std::vector<std::tuple<uint64_t, uint64_t, std::string>> heap;
      uint64_t index = 0;
      SP_ASSIGN_OR_RETURN(auto stream, run_stream(*flags, *output, "sample", [&](Record& r) {
                            ++index;
                            if (*fraction > 0) {
                              if (data::unit_hash(r.id, *seed) < *fraction) {
                                data::append_canonical(writer->buffer(), r);
                                writer->maybe_flush();
                                ++written;
                              }
                              return Status::ok();
                            }
                            uint64_t prio = hash64(r.id + "\x1f" + std::to_string(index), *seed);
                            if (heap.size() < *count || prio < std::get<0>(heap.front())) {
                              std::string line;
                              data::append_canonical(line, r);
                              heap.emplace_back(prio, index, std::move(line));
                              std::push_heap(heap.begin(), heap.end());
                              if (heap.size() > *count) {
                                std::pop_heap(heap.begin(), heap.end());
                                heap.pop_back();
                              }
                            }
                            return Status::ok();
                          }));
      if (*fraction == 0) {
        std::sort(heap.begin(), heap.end(), [](auto& a, auto& b) { return std::get<1>(a) < std::get<1>(b); });
        for (auto& item : heap) {
          writer->append(std::get<2>(item));
          ++written;
        }
      }
      SP_RETURN_IF_ERROR(writer->close());
      json s = stream_summary("sample", *stream, start);
      s["written"] = written;
      s["output"] = *output;
      report(s,
             "sample: " + std::to_string(written) + " of " + std::to_string(stream->counters().records) +
                 " records written to " + *output + "; " + reject_line(s) + "\n",
             *output == "-");
      return Status::ok();
    });
  });
}

void add_data(CLI::App& app) {
  auto* data =
      app.add_subcommand("data", "Preference data: convert, stats, dedup, decontaminate, split, sample");
  data->require_subcommand(1);
  add_convert(data);
  add_stats(data);
  add_dedup(data);
  add_decontaminate(data);
  add_split(data);
  add_sample(data);
}

SYNPREF_COMMAND(100, add_data);

}  // namespace
}  // namespace synpref::cli
