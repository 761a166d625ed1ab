// `synpref curate ...`: init, status, export (the project store, synpref/curate/project.h).
// This file parses flags and prints; the work is in src/curate/. Other curate subcommands
// (attributes, label, stage2) live in their own cmd_curate_<what>.cpp files, register with an
// order above 700 and attach to this group with app.get_subcommand("curate").
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "command.h"
#include "curate_cli.h"
#include "synpref/common/io.h"
#include "synpref/curate/project.h"

namespace synpref::cli {
namespace {

using nlohmann::json;

json counts_json(const curate::StageCounts& c) {
  return {{"kept", c.kept}, {"discarded", c.discarded}, {"flipped", c.discarded}};
}

json init_json(const curate::InitSummary& s) {
  return {{"input_records", s.input_records},
          {"pairs", s.pairs},
          {"duplicates", s.duplicates},
          {"rejects", s.rejects},
          {"shards", s.shards},
          {"rejects_by_code", s.rejects_by_code},
          {"resumed", s.resumed},
          {"already_done", s.already_done}};
}

std::string by_code_text(const std::map<std::string, int64_t>& by_code) {
  std::string text;
  for (const auto& [code, n] : by_code) text += (text.empty() ? "" : ", ") + code + " " + std::to_string(n);
  return text.empty() ? "" : " (" + text + ")";
}

void add_init(CLI::App* curate_cmd) {
  struct Flags {
    std::string dir, format = "auto", source;
    std::vector<std::string> pool;
    int64_t shard_records = 100000;
    uint64_t max_line_bytes = uint64_t{64} << 20;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = curate_cmd->add_subcommand(
      "init",
      "Create a curation project: dedup the pool into immutable shards and a SQLite store (resumable)");
  cmd->add_option("dir", flags->dir, "Project folder (new, empty, or an interrupted init of the same pool)")
      ->required();
  cmd->add_option("--pool", flags->pool, "Pool files in any supported format (JSONL/JSON, plain, .gz, .zst)")
      ->required();
  cmd->add_option("--shard-records", flags->shard_records, "Pairs per pool shard")->capture_default_str();
  cmd->add_option("--format", flags->format, "Pool format: auto, canonical, chat, prompt, hh, rmb")
      ->capture_default_str();
  cmd->add_option("--source", flags->source, "Set 'source' on records that have none");
  cmd->add_option("--max-line-bytes", flags->max_line_bytes, "Reject longer lines")->capture_default_str();
  cmd->callback([flags] {
    set_action([flags]() -> Status {
      curate::InitOptions options;
      SP_ASSIGN_OR_RETURN(options.read.format, data::parse_format(flags->format));
      options.read.source = flags->source;
      options.read.max_line_bytes = flags->max_line_bytes;
      options.shard_records = flags->shard_records;
      options.progress = !global_options().quiet;
      curate::InitSummary s;
      SP_ASSIGN_OR_RETURN(auto project, curate::Project::init(flags->dir, flags->pool, options, &s));
      if (global_options().json) {
        json j = init_json(s);
        j["command"] = "curate init";
        j["dir"] = flags->dir;
        std::printf("%s\n", j.dump().c_str());
        return Status::ok();
      }
      if (s.already_done) std::printf("%s: already initialized; nothing to do\n", flags->dir.c_str());
      if (s.resumed) std::printf("%s: resumed an interrupted init\n", flags->dir.c_str());
      std::printf(
          "%lld records read, %lld pairs imported into %lld shards, %lld duplicates dropped, "
          "%lld rejected%s (listed in %s/rejects.jsonl)\n",
          static_cast<long long>(s.input_records), static_cast<long long>(s.pairs),
          static_cast<long long>(s.shards), static_cast<long long>(s.duplicates),
          static_cast<long long>(s.rejects), by_code_text(s.rejects_by_code).c_str(), flags->dir.c_str());
      return Status::ok();
    });
  });
}

json status_json(const curate::ProjectStatus& st) {
  json j = {{"pairs", st.pairs},
            {"shards", st.shards},
            {"pairs_by_category", st.pairs_by_category},
            {"pairs_by_source", st.pairs_by_source},
            {"labels", st.labels_by_kind_source},
            {"gold", st.gold},
            {"silver", st.silver},
            {"stages", st.stages},
            {"rms", st.rms},
            {"runs", st.runs},
            {"rounds", st.rounds},
            {"init", init_json(st.init)}};
  json decisions = json::object();
  for (const auto& stage : st.stages) {
    json by_category = json::object();
    for (const auto& [category, counts] : st.decisions_by_stage_category.at(stage))
      by_category[category] = counts_json(counts);
    decisions[stage] = {{"total", counts_json(st.decisions_by_stage.at(stage))},
                        {"by_category", by_category}};
  }
  j["decisions"] = decisions;
  j["decision_reasons"] = st.decisions_by_stage_reason;
  json by_endpoint = json::object();
  for (const auto& [endpoint, usage] : st.judge_by_endpoint) by_endpoint[endpoint] = usage_json(usage);
  j["judge_usage"] = {{"total", usage_json(st.judge_total)}, {"by_endpoint", by_endpoint}};
  return j;
}

std::string name_or_none(const std::string& name) {
  return name.empty() ? "(none)" : name;
}

void print_status(const std::string& dir, const curate::ProjectStatus& st) {
  std::printf("project %s: %lld pairs in %lld shards\n", dir.c_str(), static_cast<long long>(st.pairs),
              static_cast<long long>(st.shards));
  std::printf("init: %lld records read, %lld duplicates dropped, %lld rejected%s\n",
              static_cast<long long>(st.init.input_records), static_cast<long long>(st.init.duplicates),
              static_cast<long long>(st.init.rejects), by_code_text(st.init.rejects_by_code).c_str());
  std::printf("pairs by category:\n");
  for (const auto& [category, n] : st.pairs_by_category)
    std::printf("  %-28s %lld\n", name_or_none(category).c_str(), static_cast<long long>(n));
  std::printf("pairs by source:\n");
  for (const auto& [source, n] : st.pairs_by_source)
    std::printf("  %-28s %lld\n", name_or_none(source).c_str(), static_cast<long long>(n));
  std::printf("labels:%s\n", st.labels_by_kind_source.empty() ? " none" : "");
  for (const auto& [kind, by_source] : st.labels_by_kind_source)
    for (const auto& [source, n] : by_source)
      std::printf("  %-14s %-13s %lld\n", kind.c_str(), source.c_str(), static_cast<long long>(n));
  std::printf("gold %lld, silver %lld\n", static_cast<long long>(st.gold), static_cast<long long>(st.silver));
  std::printf("decisions:%s\n", st.stages.empty() ? " none" : "");
  for (const auto& stage : st.stages) {
    const auto& total = st.decisions_by_stage.at(stage);
    std::printf("  %s: kept %lld, discarded %lld (flipped %lld)\n", stage.c_str(),
                static_cast<long long>(total.kept), static_cast<long long>(total.discarded),
                static_cast<long long>(total.discarded));
    for (const auto& [category, c] : st.decisions_by_stage_category.at(stage))
      std::printf("    %-26s kept %lld, discarded %lld\n", name_or_none(category).c_str(),
                  static_cast<long long>(c.kept), static_cast<long long>(c.discarded));
  }
  const auto& u = st.judge_total;
  std::printf(
      "judge spend: %lld requests (%lld cached, %lld retries, %lld failures), %lld prompt + %lld "
      "completion tokens, $%.4f\n",
      static_cast<long long>(u.requests), static_cast<long long>(u.cached), static_cast<long long>(u.retries),
      static_cast<long long>(u.failures), static_cast<long long>(u.prompt_tokens),
      static_cast<long long>(u.completion_tokens), u.cost_usd);
  for (const auto& [endpoint, e] : st.judge_by_endpoint)
    std::printf("  %-28s %lld requests, %lld tokens, $%.4f\n", name_or_none(endpoint).c_str(),
                static_cast<long long>(e.requests),
                static_cast<long long>(e.prompt_tokens + e.completion_tokens), e.cost_usd);
}

void add_status(CLI::App* curate_cmd) {
  auto dir = std::make_shared<std::string>();
  auto* cmd = curate_cmd->add_subcommand(
      "status", "Counts per category, source, label kind, stage decision; gold/silver sizes; judge spend");
  cmd->add_option("dir", *dir, "Project folder")->required();
  cmd->callback([dir] {
    set_action([dir]() -> Status {
      curate::OpenOptions options;
      options.verify_shards = false;  // status reads only the db; sizes are still checked
      SP_ASSIGN_OR_RETURN(auto project, curate::Project::open(*dir, options));
      SP_ASSIGN_OR_RETURN(auto st, project->status());
      if (global_options().json)
        std::printf("%s\n", status_json(st).dump().c_str());
      else
        print_status(*dir, st);
      return Status::ok();
    });
  });
}

void add_export(CLI::App* curate_cmd) {
  struct Flags {
    std::string dir, set, output, format = "canonical", stage;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = curate_cmd->add_subcommand(
      "export", "Write gold, silver, kept, discarded or flipped pairs with attributes and provenance");
  cmd->add_option("dir", flags->dir, "Project folder")->required();
  cmd->add_option("--set", flags->set,
                  "gold, silver, kept, discarded, flipped (discarded with chosen/rejected "
                  "swapped)")
      ->required();
  cmd->add_option("-o,--output", flags->output, "Output JSONL (.gz/.zst compress; '-' = stdout)")->required();
  cmd->add_option("--format", flags->format, "canonical, trl or openrlhf")->capture_default_str();
  cmd->add_option("--stage", flags->stage,
                  "Stage whose decisions define kept/discarded/flipped (default: the last)");
  cmd->callback([flags] {
    set_action([flags]() -> Status {
      curate::ExportOptions options;
      SP_ASSIGN_OR_RETURN(options.set, curate::parse_export_set(flags->set));
      SP_ASSIGN_OR_RETURN(options.format, data::parse_output_format(flags->format));
      options.stage = flags->stage;
      SP_RETURN_IF_ERROR(io::check_output_path(flags->output));
      curate::OpenOptions open_options;
      open_options.verify_shards = false;  // export verifies each shard's hash while it streams it
      SP_ASSIGN_OR_RETURN(auto project, curate::Project::open(flags->dir, open_options));
      SP_ASSIGN_OR_RETURN(auto s, curate::export_set(*project, flags->output, options));
      bool to_stdout = flags->output == "-";
      if (global_options().json) {
        json j = {{"command", "curate export"},
                  {"set", flags->set},
                  {"written", s.written},
                  {"output", flags->output}};
        if (!s.stage.empty()) j["stage"] = s.stage;
        std::fprintf(to_stdout ? stderr : stdout, "%s\n", j.dump().c_str());
      } else {
        std::fprintf(to_stdout ? stderr : stdout, "%lld %s pairs written to %s%s\n",
                     static_cast<long long>(s.written), flags->set.c_str(), flags->output.c_str(),
                     s.stage.empty() ? "" : (" (stage " + s.stage + ")").c_str());
      }
      return Status::ok();
    });
  });
}

void add_curate(CLI::App& app) {
  auto* curate_cmd =
      app.add_subcommand("curate", "Curation projects (SynPref pipeline): init, status, export");
  curate_cmd->require_subcommand(1);
  add_init(curate_cmd);
  add_status(curate_cmd);
  add_export(curate_cmd);
}

}  // namespace
SYNPREF_COMMAND(700, add_curate);
}  // namespace synpref::cli
