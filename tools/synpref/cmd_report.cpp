// `synpref report`: the HTML pages of earlier runs (docs/reports.md).
//
//   synpref report train RUN_DIR [-o FILE]     training curves of a `synpref train` folder
//                                               (default FILE: RUN_DIR/report.html)
//   synpref report eval REPORT... -o FILE      one `synpref eval --out` report: its page; several:
//                                               the Table-1 page
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "command.h"
#include "eval_pages.h"
#include "synpref/common/io.h"
#include "synpref/eval/report.h"
#include "synpref/report/pages.h"

namespace synpref::cli {
namespace {

struct TrainReportArgs {
  std::string run_dir;
  std::string out;
};

struct EvalReportArgs {
  std::vector<std::string> reports;
  std::string out;
};

void print_written(const std::string& kind, const std::string& path) {
  if (global_options().json) {
    nlohmann::ordered_json j;
    j["command"] = "report " + kind;
    j["page"] = path;
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::fprintf(stderr, "report: %s\n", path.c_str());
  }
}

Status run_train_report(const TrainReportArgs& args) {
  if (args.out.empty()) {
    SP_ASSIGN_OR_RETURN(std::string path, report::write_train_report(args.run_dir));
    print_written("train", path);
    return Status::ok();
  }
  if (Status s = io::check_output_path(args.out); !s.is_ok()) return Status(s.code(), "-o " + s.message());
  SP_ASSIGN_OR_RETURN(report::Page page, report::train_page(args.run_dir));
  SP_RETURN_IF_ERROR(report::write_html(page, args.out));
  print_written("train", args.out);
  return Status::ok();
}

Status run_eval_report(const EvalReportArgs& args) {
  if (Status s = io::check_output_path(args.out); !s.is_ok()) return Status(s.code(), "-o " + s.message());
  SP_RETURN_IF_ERROR(io::check_not_an_input(args.out, args.reports));
  std::vector<eval::ReportSummary> summaries;
  for (const std::string& path : args.reports) {
    SP_ASSIGN_OR_RETURN(eval::ReportSummary summary, eval::read_report(path));
    summaries.push_back(std::move(summary));
  }
  if (summaries.size() == 1) {
    SP_RETURN_IF_ERROR(report::write_html(report::eval_page(benchmark_result(summaries[0])), args.out));
  } else {
    SP_ASSIGN_OR_RETURN(std::string table, eval::format_table(summaries, /*breakdown=*/false));
    std::vector<report::BenchmarkResult> results;
    for (const eval::ReportSummary& summary : summaries) results.push_back(benchmark_result(summary));
    SP_RETURN_IF_ERROR(report::write_html(report::eval_table_page(results, table), args.out));
  }
  print_written("eval", args.out);
  return Status::ok();
}

void add_report(CLI::App& app) {
  auto* cmd = app.add_subcommand("report", "Self-contained HTML pages (Vega-Lite charts, open offline)");
  cmd->require_subcommand(1);

  auto train_args = std::make_shared<TrainReportArgs>();
  auto* train = cmd->add_subcommand(
      "train",
      "Training curves (loss, accuracy, margin, learning rate, throughput, gradient norm) of a "
      "`synpref train` output folder, finished or still running");
  train
      ->add_option("run_dir", train_args->run_dir,
                   "The --out folder of `synpref train` (holds metrics.jsonl)")
      ->required();
  train->add_option("-o,--out", train_args->out, "Write the page here (default: RUN_DIR/report.html)");
  train->callback([train_args] { set_action([train_args] { return run_train_report(*train_args); }); });

  auto eval_args = std::make_shared<EvalReportArgs>();
  auto* eval = cmd->add_subcommand(
      "eval", "The page of one `synpref eval --out` report, or Table 1 as a page for several");
  eval->add_option("reports", eval_args->reports, "Report files from `synpref eval --out`")->required();
  eval->add_option("-o,--out", eval_args->out, "Write the page here")->required();
  eval->callback([eval_args] { set_action([eval_args] { return run_eval_report(*eval_args); }); });
}

SYNPREF_COMMAND(650, add_report);

}  // namespace
}  // namespace synpref::cli
