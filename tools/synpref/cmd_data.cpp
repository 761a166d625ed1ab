// `synpref data ...`: convert, stats, dedup, decontaminate, split, sample. Thin wrappers over
// synpref/data/pipeline.h; this file only parses flags and prints summaries.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "command.h"
#include "data_summary.h"
#include "synpref/data/pipeline.h"

namespace synpref::cli {
namespace {

using data::PipelineSummary;
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
    cmd->add_option("--rejects", rejects,
                    "Where bad records are listed (default: <output>.rejects.jsonl; data stats: not listed)");
    cmd->add_flag("--strict", strict, "Stop at the first bad record instead of logging it");
    cmd->add_option("--max-line-bytes", max_line_bytes, "Reject longer lines")->capture_default_str();
    cmd->add_option(
           "--empty-responses", empty_responses,
           "auto (reject, but keep hh-rlhf's explicit empty final turns and canonical input), reject, keep")
        ->capture_default_str();
    cmd->add_option("--source", source, "Set 'source' on records that have none");
  }

  // `output` "" = a command without an output file (stats): rejects are listed only with --rejects.
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
    o.rejects_path = !rejects.empty() ? rejects : output.empty() ? "" : data::default_rejects_path(output);
    o.progress = !global_options().quiet;
    o.label = label;
    return o;
  }
};

std::string side_path(const std::string& given, const std::string& output, const std::string& suffix) {
  if (!given.empty()) return given;
  return output == "-" ? "synpref" + suffix : output + suffix;
}

void add_convert(CLI::App* data) {
  auto flags = std::make_shared<InputFlags>();
  auto output = std::make_shared<std::string>("-");
  auto to = std::make_shared<std::string>("canonical");
  auto* cmd = data->add_subcommand(
      "convert", "Convert any supported format to canonical JSONL, or to what TRL or OpenRLHF read");
  flags->add_to(cmd);
  cmd->add_option("-o,--output", *output, "Output JSONL (.gz/.zst compress; '-' = stdout)")
      ->capture_default_str();
  cmd->add_option("--to", *to,
                  "Output format: canonical; trl (conversational preference: prompt/chosen/rejected message "
                  "lists); openrlhf (the same keys, for --apply_chat_template --prompt_key prompt "
                  "--chosen_key chosen --rejected_key rejected)")
      ->capture_default_str()
      ->check(CLI::IsMember({"canonical", "trl", "openrlhf"}));
  cmd->callback([=] {
    set_action([=]() -> Status {
      SP_ASSIGN_OR_RETURN(auto options, flags->options(*output, "convert"));
      SP_ASSIGN_OR_RETURN(data::OutputFormat format, data::parse_output_format(*to));
      SP_ASSIGN_OR_RETURN(PipelineSummary s, data::convert_files(flags->inputs, *output, options, format));
      report_summary("convert", s, "records written to " + *output, *output == "-");
      return Status::ok();
    });
  });
}

void add_stats(CLI::App* data) {
  auto flags = std::make_shared<InputFlags>();
  auto* cmd = data->add_subcommand("stats", "Counts, length histograms and attribute breakdowns");
  flags->add_to(cmd);
  cmd->callback([=] {
    set_action([=]() -> Status {
      SP_ASSIGN_OR_RETURN(auto options, flags->options("", "stats"));
      SP_ASSIGN_OR_RETURN(auto stream, data::RecordStream::open(flags->inputs, options));
      data::Stats stats;
      data::Record record;
      for (;;) {
        SP_ASSIGN_OR_RETURN(bool more, stream->next(record));
        if (!more) break;
        stats.add(record);
      }
      SP_RETURN_IF_ERROR(stream->close());
      SP_RETURN_IF_ERROR(stream->check_usable());
      PipelineSummary s;
      s.input = stream->counters();
      s.rejects_path = options.rejects_path;
      json j = summary_json("stats", s);
      j["stats"] = json::parse(stats.to_json());
      if (global_options().json) {
        std::printf("%s\n", j.dump().c_str());
      } else {
        std::printf("%s%s\n", stats.to_text().c_str(), rejects_text(s).c_str());
      }
      return Status::ok();
    });
  });
}

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
  cmd->add_option("--expected", *expected, "Expected number of records (presizes the key table)");
  cmd->callback([=] {
    set_action([=]() -> Status {
      SP_ASSIGN_OR_RETURN(auto options, flags->options(*output, "dedup"));
      SP_ASSIGN_OR_RETURN(
          PipelineSummary s,
          data::dedup_files(flags->inputs, *output, side_path(*duplicates, *output, ".duplicates.jsonl"),
                            *expected, options));
      report_summary("dedup", s, "unique records written to " + *output + ", duplicates removed",
                     *output == "-");
      return Status::ok();
    });
  });
}

void add_decontaminate(CLI::App* data) {
  auto flags = std::make_shared<InputFlags>();
  auto output = std::make_shared<std::string>("-");
  auto removed = std::make_shared<std::string>();
  auto benchmarks = std::make_shared<std::vector<std::string>>();
  auto n = std::make_shared<int>(13);
  auto fields = std::make_shared<std::string>("context");
  auto* cmd =
      data->add_subcommand("decontaminate", "Drop records sharing any word n-gram with benchmark prompts");
  flags->add_to(cmd);
  cmd->add_option("-o,--output", *output, "Output canonical JSONL")->capture_default_str();
  // One value per -b (repeat -b for more): a greedy list would swallow the input files that follow.
  cmd->add_option("-b,--benchmark", *benchmarks,
                  "Benchmark prompts: .txt (one per line), JSON/JSONL, or a folder of JSON/JSONL files "
                  "(repeatable: -b A -b B)")
      ->required()
      ->allow_extra_args(false);
  cmd->add_option("--ngram", *n, "n-gram length in words")->capture_default_str()->check(CLI::Range(1, 64));
  cmd->add_option("--fields", *fields,
                  "Text checked: context (the prompt turns) or all (context + responses)")
      ->capture_default_str()
      ->check(CLI::IsMember({"context", "all"}));
  cmd->add_option("--removed", *removed,
                  "Where removed records are listed (default: <output>.removed.jsonl)");
  cmd->callback([=] {
    set_action([=]() -> Status {
      data::NgramIndex index(*n);
      uint64_t prompts = 0;
      for (const auto& b : *benchmarks) {
        SP_ASSIGN_OR_RETURN(uint64_t k, data::load_benchmark_prompts(b, index));
        prompts += k;
      }
      SP_ASSIGN_OR_RETURN(auto options, flags->options(*output, "decontaminate"));
      SP_ASSIGN_OR_RETURN(
          PipelineSummary s,
          data::decontaminate_files(flags->inputs, *output, side_path(*removed, *output, ".removed.jsonl"),
                                    index, *fields == "all", options));
      json extra = {{"benchmark_prompts", prompts}, {"benchmark_ngrams", index.size()}, {"ngram", *n}};
      report_summary("decontaminate", s,
                     "records kept in " + *output + ", removed for sharing a " + std::to_string(*n) +
                         "-gram with " + std::to_string(prompts) + " benchmark prompts",
                     *output == "-", extra);
      return Status::ok();
    });
  });
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
      SP_ASSIGN_OR_RETURN(auto parts, data::parse_ratios(*ratios));
      SP_ASSIGN_OR_RETURN(auto options, flags->options(*out_dir + "/split", "split"));
      SP_ASSIGN_OR_RETURN(PipelineSummary s,
                          data::split_files(flags->inputs, *out_dir, parts, *seed, options));
      report_summary("split", s, "records split into " + *out_dir, false);
      return Status::ok();
    });
  });
}

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
      SP_ASSIGN_OR_RETURN(auto options, flags->options(*output, "sample"));
      SP_ASSIGN_OR_RETURN(PipelineSummary s,
                          data::sample_files(flags->inputs, *output, *count, *fraction, *seed, options));
      report_summary("sample", s, "records written to " + *output + ", not sampled", *output == "-");
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
