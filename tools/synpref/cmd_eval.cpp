// `synpref eval`: score a reward model on one of the seven benchmarks, the way its authors do.
//
//   synpref eval --benchmark NAME --data PATH (--model DIR | --scores FILE) [--out report.json]
//                [--dump-scores FILE] [--html page.html]
//   synpref eval table REPORT... [--breakdown] [--html table.html]
//
// Rules, tie policies, response orders and the report format: docs/EVAL.md; the HTML pages:
// docs/reports.md.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "command.h"
#include "eval_pages.h"
#include "synpref/common/io.h"
#include "synpref/eval/benchmark.h"
#include "synpref/eval/report.h"
#include "synpref/eval/scores.h"
#include "synpref/eval/scoring.h"
#include "synpref/report/pages.h"
#include "synpref/score/scorer.h"

namespace {

using namespace synpref;

struct EvalArgs {
  std::string benchmark;
  std::string data;
  std::string scores;
  std::string model_dir;
  uint64_t max_length = 16384;
  std::string truncation = "truncate-left";
  std::string date;
  int threads = 0;
  int64_t batch_tokens = 4096;
  std::string out;
  std::string dump_scores;
  std::string html;
  std::string model_name;
  bool llmbar = false;
  bool allow_missing = false;
  uint32_t replicates = 1000;
  uint64_t seed = 1234;
  double confidence = 0.95;
};

struct TableArgs {
  std::vector<std::string> reports;
  bool breakdown = false;
  std::string html;
};

std::string pct(double v) {
  if (!std::isfinite(v)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f", 100 * v);
  return buf;
}

// --model: score::Scorer scores each item as the benchmark's own scripts do with a sequence
// classifier: chat template over context + [assistant: response], tokenized with special tokens,
// the score head read at the last token (synpref/score/scorer.h).
Result<eval::ItemScores> score_with_model(const EvalArgs& args, const eval::Dataset& dataset) {
  score::ScorerOptions options;
  options.model_dir = args.model_dir;
  options.input.max_length = args.max_length;
  options.input.truncation = args.truncation;
  options.input.date = args.date;
  options.n_threads = args.threads;
  options.max_tokens_per_batch = args.batch_tokens;
  options.progress = !cli::global_options().quiet;
  SP_ASSIGN_OR_RETURN(std::unique_ptr<score::Scorer> scorer, score::Scorer::open(options));
  std::vector<score::Item> items;
  items.reserve(dataset.items.size());
  for (const eval::Item& item : dataset.items) items.push_back({item.id, item.context, item.responses});
  SP_ASSIGN_OR_RETURN(score::ItemResults results, score::score_all(*scorer, items));
  return eval::item_scores_from_engine(results.scores, int64_t(args.max_length),
                                       int64_t(results.stats.truncated));
}

// True when `path` is `input` or lies inside the folder `input` (after resolving . and links).
bool same_or_inside(const std::string& path, const std::string& input) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path out = fs::weakly_canonical(path, ec);
  fs::path in = fs::weakly_canonical(input, ec);
  if (ec || in.empty()) return false;
  auto [in_end, out_it] = std::mismatch(in.begin(), in.end(), out.begin(), out.end());
  return in_end == in.end();
}

// Every output must be writable and must not clobber an input (a report inside the --data folder
// would also be read as data next time). Checked before any loading or scoring.
Status check_outputs(const EvalArgs& args) {
  std::vector<std::pair<std::string, std::string>> outputs;  // (flag, path)
  if (!args.out.empty()) outputs.emplace_back("--out", args.out);
  if (!args.dump_scores.empty()) outputs.emplace_back("--dump-scores", args.dump_scores);
  if (!args.html.empty()) outputs.emplace_back("--html", args.html);
  for (const auto& [flag, path] : outputs) {
    if (Status s = io::check_output_path(path); !s.is_ok()) return Status(s.code(), flag + " " + s.message());
    if (path == "-") continue;
    if (same_or_inside(path, args.data)) {
      return invalid_argument(flag + " " + path + " is, or is inside, --data " + args.data +
                              "; write reports and dumps outside the benchmark's files");
    }
    if (!args.scores.empty() && same_or_inside(path, args.scores)) {
      return invalid_argument(flag + " " + path + " would overwrite --scores " + args.scores);
    }
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    for (size_t k = i + 1; k < outputs.size(); ++k) {
      if (outputs[i].second != "-" && same_or_inside(outputs[i].second, outputs[k].second)) {
        return invalid_argument(outputs[i].first + " and " + outputs[k].first +
                                " are the same file: " + outputs[i].second);
      }
    }
  }
  return Status::ok();
}

Status run_eval(const EvalArgs& args) {
  if (!eval::find_benchmark(args.benchmark)) {
    return invalid_argument("--benchmark '" + args.benchmark + "' is not one of: " + eval::benchmark_names());
  }
  if (args.data.empty()) return invalid_argument("--data PATH is required (the benchmark's released files)");
  if (args.scores.empty() == args.model_dir.empty()) {
    return invalid_argument(
        "give exactly one of --model DIR (score with the engine) or --scores FILE (JSON lines "
        "{\"id\": ..., \"scores\": [...]}, docs/EVAL.md)");
  }
  SP_RETURN_IF_ERROR(check_outputs(args));
  eval::LoadOptions load_options;
  load_options.llmbar = args.llmbar;
  SP_ASSIGN_OR_RETURN(eval::Dataset dataset, eval::load_benchmark(args.benchmark, args.data, load_options));
  eval::ItemScores scores;
  if (!args.scores.empty()) {
    SP_ASSIGN_OR_RETURN(eval::ScoreTable table, eval::read_scores(args.scores));
    SP_ASSIGN_OR_RETURN(scores, eval::match_scores(dataset, table));
  } else {
    SP_ASSIGN_OR_RETURN(scores, score_with_model(args, dataset));
  }
  if (!scores.missing.empty() && !args.allow_missing) {
    std::string ids;
    for (size_t k = 0; k < scores.missing.size() && k < 5; ++k)
      ids += (k ? ", " : "") + dataset.items[scores.missing[k]].id;
    std::string where = args.scores.empty() ? "--model " + args.model_dir : args.scores;
    std::string why = scores.n_skipped > 0
                          ? " (skipped: over --max-length " + std::to_string(args.max_length) +
                                " with --truncation " + args.truncation + ")"
                          : "";
    return data_error(
        where + ": " + std::to_string(scores.missing.size()) + " of " + std::to_string(dataset.items.size()) +
        " items have no scores" + why + " (first: " + ids +
        "); official numbers need every item. Pass --allow-missing to score the rest (the report "
        "is then marked partial and lists the missing ids)");
  }
  eval::BootstrapOptions bootstrap{args.replicates, args.seed, args.confidence};
  SP_ASSIGN_OR_RETURN(eval::Evaluation evaluation, eval::evaluate(dataset, scores, bootstrap));

  eval::ScoreSource source;
  source.model = args.model_name;
  if (!args.scores.empty()) {
    source.scores_path = args.scores;
    SP_ASSIGN_OR_RETURN(eval::FileHashes hashes, eval::hash_file(args.scores));
    source.scores_sha256 = hashes.sha256;
    source.scores_xxh3_128 = hashes.xxh3_128;
    if (source.model.empty()) {
      std::string stem = std::filesystem::path(args.scores).filename().string();
      source.model = stem.substr(0, stem.find('.'));
    }
  } else {
    source.model_dir = args.model_dir;
    source.truncation = args.truncation;
    source.date = args.date;
    if (source.model.empty()) {
      source.model = std::filesystem::path(args.model_dir).lexically_normal().filename().string();
      if (source.model.empty())
        source.model = std::filesystem::path(args.model_dir).parent_path().filename().string();
    }
  }
  eval::ReportInputs inputs{&dataset, &scores, &evaluation, source, bootstrap, args.data};
  std::string report = eval::report_json(inputs);
  if (!args.out.empty()) SP_RETURN_IF_ERROR(io::write_text(args.out, report));
  if (!args.dump_scores.empty()) SP_RETURN_IF_ERROR(eval::write_scores(args.dump_scores, dataset, scores));
  if (!args.html.empty()) {
    SP_RETURN_IF_ERROR(report::write_html(
        report::eval_page(cli::benchmark_result(evaluation, source.model, bootstrap)), args.html));
  }

  if (cli::global_options().json) {
    std::fputs(report.c_str(), stdout);
    return Status::ok();
  }
  const eval::Metric* headline = eval::find_metric(evaluation, evaluation.headline);
  std::printf("%s  model=%s  items=%llu%s\n", dataset.benchmark.c_str(), source.model.c_str(),
              static_cast<unsigned long long>(evaluation.n_items), evaluation.partial ? "  (partial)" : "");
  std::printf("%s = %s  (%.0f%% CI %s .. %s)\n", headline->name.c_str(), pct(headline->value).c_str(),
              100 * args.confidence, pct(headline->ci_low).c_str(), pct(headline->ci_high).c_str());
  for (const auto& m : evaluation.metrics) {
    if (m.name == headline->name) continue;
    std::printf("  %-48s %7s  [%s, %s]  n=%.0f\n", m.name.c_str(), pct(m.value).c_str(),
                pct(m.ci_low).c_str(), pct(m.ci_high).c_str(), m.n);
  }
  for (const auto& note : evaluation.notes) std::printf("note: %s\n", note.c_str());
  if (!args.out.empty()) std::printf("report: %s\n", args.out.c_str());
  if (!args.html.empty()) std::printf("page: %s\n", args.html.c_str());
  return Status::ok();
}

Status run_table(const TableArgs& args) {
  if (!args.html.empty()) {
    if (Status s = io::check_output_path(args.html); !s.is_ok())
      return Status(s.code(), "--html " + s.message());
    SP_RETURN_IF_ERROR(io::check_not_an_input(args.html, args.reports));
  }
  std::vector<eval::ReportSummary> reports;
  for (const auto& path : args.reports) {
    SP_ASSIGN_OR_RETURN(eval::ReportSummary summary, eval::read_report(path));
    reports.push_back(std::move(summary));
  }
  SP_ASSIGN_OR_RETURN(std::string table, eval::format_table(reports, args.breakdown));
  std::fputs(table.c_str(), stdout);
  if (!args.html.empty()) {
    std::vector<report::BenchmarkResult> results;
    for (const eval::ReportSummary& summary : reports) results.push_back(cli::benchmark_result(summary));
    SP_RETURN_IF_ERROR(report::write_html(report::eval_table_page(results, table), args.html));
  }
  return Status::ok();
}

void add_eval(CLI::App& app) {
  auto eval_args = std::make_shared<EvalArgs>();
  auto table_args = std::make_shared<TableArgs>();
  auto* cmd = app.add_subcommand("eval", "Score a reward model on a benchmark with its official rule");
  cmd->add_option("--benchmark", eval_args->benchmark, "One of: " + eval::benchmark_names());
  cmd->add_option("--data", eval_args->data, "The benchmark's released file or folder (walked recursively)");
  cmd->add_option(
      "--scores", eval_args->scores,
      "Precomputed rewards: JSON lines {\"id\": ..., \"scores\": [...]} in the documented response order");
  cmd->add_option("--out", eval_args->out, "Write the JSON report here");
  cmd->add_option("--dump-scores", eval_args->dump_scores,
                  "Write the per-item scores (same format as --scores)");
  cmd->add_option("--html", eval_args->html,
                  "Write a self-contained HTML page: metrics as bars with intervals, RM-Bench's style "
                  "matrix, curves (docs/reports.md)");
  cmd->add_option(
      "--model", eval_args->model_dir,
      "Score with the engine: a Hugging Face reward-model folder (config, safetensors, tokenizer)");
  cmd->add_option("--max-length", eval_args->max_length, "--model: tokens of context + response")
      ->capture_default_str();
  cmd->add_option(
         "--truncation", eval_args->truncation,
         "--model: over --max-length, truncate-left (drop oldest context), skip (item missing) or error")
      ->capture_default_str();
  cmd->add_option("--date", eval_args->date, "--model: date seen by date-aware chat templates (YYYY-MM-DD)");
  cmd->add_option("--threads", eval_args->threads, "--model: worker threads (0 = all)");
  cmd->add_option("--batch-tokens", eval_args->batch_tokens, "--model: tokens per forward pass")
      ->capture_default_str();
  cmd->add_option("--model-name", eval_args->model_name,
                  "Model name in the report (default: the model folder name or the scores file stem)");
  cmd->add_flag("--llmbar", eval_args->llmbar,
                "rewardbench: --data is an LLMBar Dataset folder; its 5 sets become the llmbar-* subsets");
  cmd->add_flag("--allow-missing", eval_args->allow_missing,
                "Score the items that have scores; the report is marked partial and lists the missing ids");
  cmd->add_option("--bootstrap", eval_args->replicates, "Bootstrap replicates for the intervals (0 = none)")
      ->capture_default_str();
  cmd->add_option("--seed", eval_args->seed, "Bootstrap seed")->capture_default_str();
  cmd->add_option("--confidence", eval_args->confidence, "Interval level")->capture_default_str();

  auto* table =
      cmd->add_subcommand("table", "Print Table 1 (one row per model, seven benchmarks and the mean)");
  table->add_option("reports", table_args->reports, "Report files from `synpref eval --out`")->required();
  table->add_flag("--breakdown", table_args->breakdown,
                  "Also print every benchmark's metrics with intervals");
  table->add_option("--html", table_args->html,
                    "Also write Table 1 as a self-contained HTML page (headline bars with intervals)");
  table->callback([table_args] { cli::set_action([table_args] { return run_table(*table_args); }); });
  cmd->callback([cmd, table, eval_args] {
    if (table->parsed()) return;  // `eval table` set its own action
    cli::set_action([eval_args] { return run_eval(*eval_args); });
  });
}

SYNPREF_COMMAND(600, add_eval);

}  // namespace
