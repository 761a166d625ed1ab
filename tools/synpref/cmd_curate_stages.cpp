// `synpref curate attributes|gold|label|stage2`: the curation steps (synpref/curate/steps.h). This file
// parses flags, opens the project and the judge client, calls the library and prints summaries.
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "command.h"
#include "curate_cli.h"
#include "synpref/common/text.h"
#include "synpref/curate/steps.h"

namespace synpref::cli {
namespace {

using nlohmann::json;

// Records a run with its judge spend (per client; curate status sums them).
struct RunRecord {
  curate::Project& project;
  int64_t run_id = 0;
  Status begin(std::string_view command, const json& config) {
    SP_ASSIGN_OR_RETURN(run_id, project.begin_run(command, config.dump()));
    return Status::ok();
  }
  Status end(const Status& outcome, const judge::Usage* usage) {
    if (usage) {
      SP_RETURN_IF_ERROR(project.add_usage(run_id, {project_usage(*usage)}));
    }
    return project.end_run(run_id, outcome.is_ok() ? "ok" : "failed");
  }
};

void progress_line(const char* what, size_t done, size_t total) {
  if (global_options().quiet) return;
  if (total) {
    std::fprintf(stderr, "\r%s: %zu/%zu", what, done, total);
  } else {
    std::fprintf(stderr, "\r%s: %zu", what, done);
  }
  std::fflush(stderr);
}
void progress_done() {
  if (!global_options().quiet) std::fprintf(stderr, "\n");
}

void add_attributes(CLI::App* curate_cmd) {
  struct Flags {
    std::string dir, judges, judge, taxonomy, prompt, system_prompt;
    uint64_t seed = 0;
    int64_t batch = 256, limit = 0;
    int max_tokens = 1024;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = curate_cmd->add_subcommand("attributes",
                                         "Ask a judge for each pair's preference attributes "
                                         "(task category, objectivity, controversiality, desired "
                                         "attributes, annotation guideline); resumable");
  cmd->add_option("dir", flags->dir, "Project folder")->required();
  cmd->add_option("--judges", flags->judges, "Judge config (JSON, docs/judge.md)")->required();
  cmd->add_option("--judge", flags->judge, "Endpoint name to ask (default: the config's first)");
  cmd->add_option("--taxonomy", flags->taxonomy, "Task categories: JSON array or {\"categories\": [...]}");
  cmd->add_option("--prompt", flags->prompt, "Jinja template of the user message (default: built in)");
  cmd->add_option("--system-prompt", flags->system_prompt, "Jinja template of the system message");
  cmd->add_option("--seed", flags->seed, "Seed of the candidate order shown to the judge")
      ->capture_default_str();
  cmd->add_option("--batch", flags->batch, "Pairs per judge batch and transaction")->capture_default_str();
  cmd->add_option("--max-tokens", flags->max_tokens, "Judge answer limit")->capture_default_str();
  cmd->add_option("--limit", flags->limit, "At most this many pairs this run (0 = all)")
      ->capture_default_str();
  cmd->callback([flags] {
    set_action([flags]() -> Status {
      curate::AttributesStepOptions options;
      options.judge = flags->judge;
      if (!flags->taxonomy.empty()) {
        SP_ASSIGN_OR_RETURN(options.taxonomy, curate::load_taxonomy(flags->taxonomy));
      }
      SP_ASSIGN_OR_RETURN(options.prompt, curate::load_prompt(curate::PromptKind::attributes, flags->prompt,
                                                              flags->system_prompt));
      options.seed = flags->seed;
      options.batch_pairs = flags->batch;
      options.max_tokens = flags->max_tokens;
      options.limit = flags->limit;
      SP_ASSIGN_OR_RETURN(auto project, curate::Project::open(flags->dir));
      SP_ASSIGN_OR_RETURN(auto client, open_judges(*project, flags->judges));
      RunRecord run{*project};
      SP_RETURN_IF_ERROR(run.begin("curate attributes", {{"judges", flags->judges},
                                                         {"judge", flags->judge},
                                                         {"seed", flags->seed},
                                                         {"taxonomy", options.taxonomy.categories}}));
      auto summary = curate::run_attributes_step(*project, *client, options, [](size_t done, size_t total) {
        progress_line("attributes", done, total);
      });
      progress_done();
      judge::Usage usage = client->usage();
      SP_RETURN_IF_ERROR(run.end(summary.status(), &usage));
      if (!summary.is_ok()) return summary.status();
      const auto& s = *summary;
      if (global_options().json) {
        json j = {{"command", "curate attributes"},
                  {"pairs", s.pairs},
                  {"already_done", s.already_done},
                  {"requested", s.requested},
                  {"cached", s.cached},
                  {"valid", s.valid},
                  {"invalid", s.invalid},
                  {"failed", s.failed},
                  {"usage", usage_json(project_usage(s.usage))}};
        if (!s.rejects_path.empty()) j["rejects"] = s.rejects_path;
        std::printf("%s\n", j.dump().c_str());
      } else {
        std::printf(
            "attributes: %lld valid, %lld invalid, %lld failed of %lld asked (%lld cached); %lld already "
            "done of %lld pairs; judge calls %lld, $%.4f\n",
            (long long)s.valid, (long long)s.invalid, (long long)s.failed, (long long)s.requested,
            (long long)s.cached, (long long)s.already_done, (long long)s.pairs, (long long)s.usage.requests,
            s.usage.cost_usd);
        if (!s.rejects_path.empty()) std::printf("invalid and failed answers: %s\n", s.rejects_path.c_str());
      }
      return Status::ok();
    });
  });
}

Result<std::vector<std::string>> read_id_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return not_found(path + ": cannot open the targets file");
  std::vector<std::string> ids;
  std::string line;
  while (std::getline(in, line)) {
    std::string_view id = text::trim(line);
    if (!id.empty()) ids.emplace_back(id);
  }
  return ids;
}

Status parse_weights(const std::vector<std::string>& specs, curate::AggregateOptions& options) {
  for (const std::string& spec : specs) {
    size_t eq = spec.rfind('=');
    if (eq == std::string::npos || eq == 0)
      return invalid_argument("--weight '" + spec + "' must look like JUDGE=W");
    try {
      options.weights[spec.substr(0, eq)] = std::stod(spec.substr(eq + 1));
    } catch (...) {
      return invalid_argument("--weight '" + spec + "': W must be a number");
    }
  }
  return curate::validate(options);
}

void add_label(CLI::App* curate_cmd) {
  struct Flags {
    std::string dir, judges, aggregate = "majority", prompt, system_prompt, targets;
    std::vector<std::string> judge, weights;
    int n = 3, max_tokens = 1024, examples = curate::kMaxGoldExamples, min_votes = 1;
    double temperature = 0.7;
    uint64_t seed = 0;
    int64_t batch = 64;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = curate_cmd->add_subcommand(
      "label",
      "Gold-guided silver labels: each judge samples n answers, majority per judge, then aggregation "
      "across judges; resumable");
  cmd->add_option("dir", flags->dir, "Project folder")->required();
  cmd->add_option("--judges", flags->judges, "Judge config (JSON, docs/judge.md)")->required();
  cmd->add_option("--judge", flags->judge, "Endpoint names of the panel (default: every endpoint)");
  cmd->add_option("--n", flags->n, "Samples per judge (self-consistency)")->capture_default_str();
  cmd->add_option("--temperature", flags->temperature, "Sampling temperature")->capture_default_str();
  cmd->add_option("--aggregate", flags->aggregate, "majority, unanimity or weighted")->capture_default_str();
  cmd->add_option("--weight", flags->weights, "JUDGE=W for --aggregate weighted (default weight 1)");
  cmd->add_option("--min-votes", flags->min_votes, "Fewer voting judges abstain")->capture_default_str();
  cmd->add_option("--examples", flags->examples, "Gold examples per prompt (0-8)")->capture_default_str();
  cmd->add_option(
      "--targets", flags->targets,
      "File of pair ids to label (e.g. DIR/stage2/stage2.pending.txt; default: every non-gold pair)");
  cmd->add_option("--prompt", flags->prompt, "Jinja template of the user message (default: built in)");
  cmd->add_option("--system-prompt", flags->system_prompt, "Jinja template of the system message");
  cmd->add_option("--seed", flags->seed, "Seed of the candidate order and example choice")
      ->capture_default_str();
  cmd->add_option("--batch", flags->batch, "Pairs per judge batch and transaction")->capture_default_str();
  cmd->add_option("--max-tokens", flags->max_tokens, "Judge answer limit")->capture_default_str();
  cmd->callback([flags] {
    set_action([flags]() -> Status {
      curate::LabelStepOptions options;
      options.judges = flags->judge;
      options.n = flags->n;
      options.temperature = flags->temperature;
      options.max_tokens = flags->max_tokens;
      options.max_examples = flags->examples;
      options.seed = flags->seed;
      options.batch_pairs = flags->batch;
      SP_ASSIGN_OR_RETURN(options.aggregate.mode, curate::parse_aggregate_mode(flags->aggregate));
      options.aggregate.min_votes = flags->min_votes;
      SP_RETURN_IF_ERROR(parse_weights(flags->weights, options.aggregate));
      SP_ASSIGN_OR_RETURN(options.prompt, curate::load_prompt(curate::PromptKind::silver, flags->prompt,
                                                              flags->system_prompt));
      if (!flags->targets.empty()) {
        SP_ASSIGN_OR_RETURN(options.targets, read_id_file(flags->targets));
      }
      SP_ASSIGN_OR_RETURN(auto project, curate::Project::open(flags->dir));
      SP_ASSIGN_OR_RETURN(auto client, open_judges(*project, flags->judges));
      RunRecord run{*project};
      SP_RETURN_IF_ERROR(run.begin("curate label", {{"judges", flags->judges},
                                                    {"n", flags->n},
                                                    {"temperature", flags->temperature},
                                                    {"aggregate", flags->aggregate},
                                                    {"seed", flags->seed}}));
      auto summary = curate::run_label_step(*project, *client, options,
                                            [](size_t done, size_t) { progress_line("labeled", done, 0); });
      progress_done();
      judge::Usage usage = client->usage();
      SP_RETURN_IF_ERROR(run.end(summary.status(), &usage));
      if (!summary.is_ok()) return summary.status();
      const auto& s = *summary;
      json judges = json::object();
      for (const auto& [name, stats] : s.judges) {
        judges[name] = {
            {"requests", stats.requests},
            {"failed", stats.failed},
            {"samples", stats.samples},
            {"unparseable", stats.unparseable},
            {"share_candidate_1", stats.bias.parseable ? json(stats.bias.share_candidate_1()) : json()},
            {"expected_share_candidate_1",
             stats.bias.parseable ? json(stats.bias.expected_share()) : json()}};
      }
      if (global_options().json) {
        json j = {{"command", "curate label"},
                  {"targets", s.targets},
                  {"no_attributes", s.no_attributes},
                  {"already_labeled", s.already_labeled},
                  {"labeled", s.labeled},
                  {"agree", s.agree},
                  {"disagree", s.disagree},
                  {"abstain", s.abstain},
                  {"gold_examples", s.gold_examples},
                  {"judges", judges},
                  {"usage", usage_json(project_usage(s.usage))}};
        std::printf("%s\n", j.dump().c_str());
      } else {
        std::printf(
            "label: %lld labeled (%lld agree with the pool, %lld disagree, %lld abstain); %lld already "
            "labeled, %lld without attributes, of %lld targets; %lld gold examples available\n",
            (long long)s.labeled, (long long)s.agree, (long long)s.disagree, (long long)s.abstain,
            (long long)s.already_labeled, (long long)s.no_attributes, (long long)s.targets,
            (long long)s.gold_examples);
        for (const auto& [name, stats] : s.judges) {
          std::printf(
              "  %s: %lld samples, %lld unparseable, %lld failed requests; Candidate 1 preferred %.3f "
              "(expected %.3f)\n",
              name.c_str(), (long long)stats.samples, (long long)stats.unparseable, (long long)stats.failed,
              stats.bias.share_candidate_1(), stats.bias.expected_share());
        }
        std::printf("judge calls %lld (%lld cached), $%.4f\n", (long long)s.usage.requests,
                    (long long)s.usage.cached, s.usage.cost_usd);
      }
      return Status::ok();
    });
  });
}

json counts_json(const curate::Stage2Counts& counts, const std::vector<std::string>& categories) {
  auto by_reason = [](const std::array<int64_t, curate::kStage2ReasonCount>& row) {
    json j = json::object();
    for (size_t r = 0; r < row.size(); ++r) {
      if (row[r]) j[std::string(curate::stage2_reason_name(curate::Stage2Reason(r)))] = row[r];
    }
    return j;
  };
  json j = {{"kept", counts.kept()},
            {"dropped", counts.dropped()},
            {"undecided", counts.undecided()},
            {"by_reason", by_reason(counts.by_reason)}};
  json per_category = json::object();
  for (size_t c = 0; c < counts.by_category.size() && c < categories.size(); ++c) {
    json row = by_reason(counts.by_category[c]);
    if (!row.empty()) per_category[categories[c].empty() ? "(none)" : categories[c]] = row;
  }
  if (!per_category.empty()) j["by_category"] = per_category;
  return j;
}

void print_counts(const curate::Stage2Counts& counts) {
  std::printf("stage2: %lld kept, %lld dropped (flipped variant), %lld undecided\n", (long long)counts.kept(),
              (long long)counts.dropped(), (long long)counts.undecided());
  for (size_t r = 0; r < curate::kStage2ReasonCount; ++r) {
    if (counts.by_reason[r]) {
      std::printf("  %-30s %lld\n", std::string(curate::stage2_reason_name(curate::Stage2Reason(r))).c_str(),
                  (long long)counts.by_reason[r]);
    }
  }
}

void add_stage2(CLI::App* curate_cmd) {
  struct Flags {
    std::string dir, best_model, gold_model, tokenizer, rm_version = "endpoint", shard, stage = "stage2",
                                                        aggregate = "majority";
    std::vector<std::string> rm_endpoints, weights;
    double margin = 0.1;
    int threads = 0, merge = 0, pairs_per_request = 16, concurrency = 16;
    int64_t chunk = 1024;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = curate_cmd->add_subcommand(
      "stage2",
      "Consistency filter: score with the best and gold RMs, keep iff the gold RM agrees and (the LLM "
      "judges or the best RM agree); resumable, shardable");
  cmd->add_option("dir", flags->dir, "Project folder")->required();
  cmd->add_option("--best-model", flags->best_model,
                  "Current best RM: a model folder, or a served model name "
                  "with --rm-endpoint");
  cmd->add_option("--gold-model", flags->gold_model, "Gold RM (trained on human-verified pairs only)");
  cmd->add_option("--rm-endpoint", flags->rm_endpoints, "Reward servers (sglang /classify), round-robin");
  cmd->add_option("--tokenizer", flags->tokenizer,
                  "With --rm-endpoint: folder whose chat template renders texts");
  cmd->add_option("--rm-version", flags->rm_version, "With --rm-endpoint: version recorded with the scores")
      ->capture_default_str();
  cmd->add_option("--pairs-per-request", flags->pairs_per_request, "With --rm-endpoint")
      ->capture_default_str();
  cmd->add_option("--concurrency", flags->concurrency, "With --rm-endpoint: requests in flight")
      ->capture_default_str();
  cmd->add_option("--margin", flags->margin, "The best RM is confident when p > 0.5 + margin")
      ->capture_default_str();
  cmd->add_option("--shard", flags->shard, "i/N: decide only shard i of N (then --merge N)");
  cmd->add_option("--merge", flags->merge, "Merge the N shard results and record the decisions");
  cmd->add_option("--stage", flags->stage, "Stage name the decisions are recorded under")
      ->capture_default_str();
  cmd->add_option("--aggregate", flags->aggregate, "How silver samples become the LLM verdict")
      ->capture_default_str();
  cmd->add_option("--weight", flags->weights, "JUDGE=W for --aggregate weighted");
  cmd->add_option("--threads", flags->threads, "Scoring threads (0 = all)")->capture_default_str();
  cmd->add_option("--chunk", flags->chunk, "Pairs per scoring batch and transaction")->capture_default_str();
  cmd->callback([flags] {
    set_action([flags]() -> Status {
      SP_ASSIGN_OR_RETURN(auto project, curate::Project::open(flags->dir));
      if (flags->merge > 0) {
        SP_ASSIGN_OR_RETURN(auto counts, curate::merge_stage2_shards(*project, flags->stage, flags->merge));
        if (global_options().json) {
          std::printf("%s\n",
                      json({{"command", "curate stage2 --merge"}, {"counts", counts_json(counts, {})}})
                          .dump()
                          .c_str());
        } else {
          print_counts(counts);
        }
        return Status::ok();
      }
      if (flags->best_model.empty() || flags->gold_model.empty()) {
        return invalid_argument("--best-model and --gold-model are required (or --merge N)");
      }
      curate::Stage2StepOptions options;
      options.rule.margin = flags->margin;
      options.stage = flags->stage;
      options.chunk_pairs = flags->chunk;
      if (!flags->shard.empty()) {
        SP_ASSIGN_OR_RETURN(options.shard, curate::parse_shard_spec(flags->shard));
      }
      SP_ASSIGN_OR_RETURN(options.aggregate.mode, curate::parse_aggregate_mode(flags->aggregate));
      SP_RETURN_IF_ERROR(parse_weights(flags->weights, options.aggregate));
      SP_RETURN_IF_ERROR(curate::validate(options.rule));  // before loading two models
      std::unique_ptr<curate::PairScorer> best, gold;
      if (flags->rm_endpoints.empty()) {
        SP_ASSIGN_OR_RETURN(best, curate::open_local_scorer(flags->best_model, flags->threads));
        SP_ASSIGN_OR_RETURN(gold, curate::open_local_scorer(flags->gold_model, flags->threads));
      } else {
        if (flags->tokenizer.empty()) return invalid_argument("--rm-endpoint needs --tokenizer");
        curate::RmEndpointOptions fleet;
        fleet.urls = flags->rm_endpoints;
        fleet.pairs_per_request = flags->pairs_per_request;
        fleet.max_concurrency = flags->concurrency;
        fleet.model = flags->best_model;
        SP_ASSIGN_OR_RETURN(best, curate::open_endpoint_scorer(fleet, flags->tokenizer, flags->rm_version));
        fleet.model = flags->gold_model;
        SP_ASSIGN_OR_RETURN(gold, curate::open_endpoint_scorer(fleet, flags->tokenizer, flags->rm_version));
      }
      RunRecord run{*project};
      SP_RETURN_IF_ERROR(run.begin("curate stage2", {{"best", best->name()},
                                                     {"gold", gold->name()},
                                                     {"margin", flags->margin},
                                                     {"shard", flags->shard},
                                                     {"stage", flags->stage}}));
      auto summary = curate::run_stage2_step(*project, *best, *gold, options, [](size_t done, size_t total) {
        progress_line("stage2", done, total);
      });
      progress_done();
      SP_RETURN_IF_ERROR(run.end(summary.status(), nullptr));
      if (!summary.is_ok()) return summary.status();
      const auto& s = *summary;
      if (global_options().json) {
        json j = {{"command", "curate stage2"},
                  {"best", best->name()},
                  {"gold", gold->name()},
                  {"rows", s.rows},
                  {"scored_best", s.scored_best},
                  {"scored_gold", s.scored_gold},
                  {"needs_llm_label", s.needs_llm_label.size()},
                  {"counts", counts_json(s.counts, s.categories)}};
        if (!s.pending_file.empty()) j["pending_file"] = s.pending_file;
        if (!s.shard_file.empty()) j["shard_file"] = s.shard_file;
        std::printf("%s\n", j.dump().c_str());
      } else {
        std::printf("scored %lld pairs with %s and %lld with %s (the rest were in the project)\n",
                    (long long)s.scored_best, best->name().c_str(), (long long)s.scored_gold,
                    gold->name().c_str());
        print_counts(s.counts);
        if (!s.pending_file.empty()) {
          std::printf(
              "%zu pairs need LLM labels: synpref curate label %s --judges CONFIG --targets %s, then rerun "
              "stage2\n",
              s.needs_llm_label.size(), flags->dir.c_str(), s.pending_file.c_str());
        }
        if (!s.shard_file.empty()) std::printf("shard result: %s\n", s.shard_file.c_str());
      }
      return Status::ok();
    });
  });
}

Status run_gold_import(const std::string& dir, const std::string& labels,
                       const curate::GoldImportOptions& options) {
  SP_ASSIGN_OR_RETURN(auto project, curate::Project::open(dir));
  RunRecord run{*project};
  SP_RETURN_IF_ERROR(run.begin("curate gold", {{"labels", labels}, {"format", options.format}}));
  auto summary = curate::import_gold_labels(*project, labels, options);
  SP_RETURN_IF_ERROR(run.end(summary.status(), nullptr));
  if (!summary.is_ok()) return summary.status();
  const auto& s = *summary;
  if (global_options().json) {
    json j = {{"command", "curate gold"},
              {"format", s.format},
              {"lines", s.lines},
              {"imported", s.imported},
              {"pairs", s.pairs},
              {"rejected", s.rejected},
              {"cannot_determine", s.cannot_determine},
              {"skipped", s.skipped}};
    if (!s.rejects_path.empty()) j["rejects"] = s.rejects_path;
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf(
        "gold (%s): %lld labels on %lld pairs imported from %lld entries; %lld cannot-determine "
        "verdicts discarded, %lld skipped (cancelled/draft), %lld rejected%s%s\n",
        s.format.c_str(), (long long)s.imported, (long long)s.pairs, (long long)s.lines,
        (long long)s.cannot_determine, (long long)s.skipped, (long long)s.rejected,
        s.rejects_path.empty() ? "" : " -> ", s.rejects_path.c_str());
  }
  return Status::ok();
}

void add_gold(CLI::App* curate_cmd) {
  struct Flags {
    std::string dir, labels, rejects, format = "auto", question;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = curate_cmd->add_subcommand(
      "gold",
      "Import human-verified labels into the gold set: `curate gold DIR --labels FILE` or `curate gold "
      "import DIR FILE` (synpref JSONL, Label Studio JSON export, Argilla records)");
  cmd->add_option("dir", flags->dir, "Project folder");
  cmd->add_option("--labels", flags->labels, "Human verdicts (docs/curation.md)");
  auto add_common = [flags](CLI::App* c) {
    c->add_option("--format", flags->format, "auto, synpref, label-studio or argilla")->capture_default_str();
    c->add_option("--question", flags->question,
                  "Label Studio control / Argilla question holding the verdict (default: the first one)");
    c->add_option("--rejects", flags->rejects, "Where rejected entries go (default: DIR/rejects-gold.jsonl)");
  };
  add_common(cmd);
  auto* import_cmd = cmd->add_subcommand("import", "Import a verdicts file or an annotation-tool export");
  import_cmd->add_option("dir", flags->dir, "Project folder")->required();
  import_cmd->add_option("file", flags->labels, "Verdicts file or export")->required();
  add_common(import_cmd);
  auto action = [flags]() -> Status {
    if (flags->dir.empty() || flags->labels.empty())
      return invalid_argument(
          "curate gold needs a project folder and --labels FILE (or: curate gold import DIR FILE)");
    return run_gold_import(
        flags->dir, flags->labels,
        {.rejects_path = flags->rejects, .format = flags->format, .question = flags->question});
  };
  import_cmd->callback([action] { set_action(action); });
  cmd->callback([cmd, action] {
    if (!cmd->got_subcommand("import")) set_action(action);
  });
}

void add_curate_stages(CLI::App& app) {
  CLI::App* curate_cmd = app.get_subcommand("curate");
  add_attributes(curate_cmd);
  add_gold(curate_cmd);
  add_label(curate_cmd);
  add_stage2(curate_cmd);
}

}  // namespace
SYNPREF_COMMAND(710, add_curate_stages);
}  // namespace synpref::cli
