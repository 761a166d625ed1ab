// src/curate/study_report.cpp: the curation study's HTML page (report/report.h): the pool, the
// gold set, each stage-1 round's gold accuracy and weaknesses, stage 2, Fig. 7 and Fig. 8.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "synpref/curate/study.h"
#include "synpref/report/report.h"

namespace synpref::curate {

namespace {

std::string pct(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100 * x);
  return buf;
}

std::string interval(const HeldOut& h) {
  return pct(h.accuracy) + " [" + pct(h.lo) + ", " + pct(h.hi) + "]";
}

}  // namespace

Status write_study_report(const StudyResult& r, const StudyOptions& o, const std::string& path) {
  report::Page page("SynPref curation study (the report's Fig. 7 and Fig. 8 in small)");
  page.paragraph("A data-synth pool of " + std::to_string(r.pool_pairs) + " pairs with " +
                 std::to_string(r.pool_flipped) + " labels flipped on purpose, judge-sim judges over HTTP, " +
                 std::to_string(o.annotators.size()) + " simulated annotators on a gold budget of " +
                 std::to_string(o.gold_budget) + " pairs. Every RM has the same recipe and is scored on " +
                 std::to_string(r.test_pairs) +
                 " clean held-out pairs; intervals are 95% percentile bootstrap intervals over them.");
  report::Table pool{{"category", "flipped labels in the pool"}, {}};
  for (const auto& [cat, n] : r.flipped_by_category)
    pool.rows.push_back({cat.empty() ? "(none)" : cat, std::to_string(n)});
  page.table(pool);

  page.heading("Human verification (gold)");
  page.paragraph(std::to_string(r.gold.shown) + " pairs shown, " + std::to_string(r.gold.cannot_determine) +
                 " cannot-determine verdicts discarded, " + std::to_string(r.gold.decided) + " decided (" +
                 std::to_string(r.gold.wrong) + " against the truth); " + std::to_string(r.gold_imported) +
                 " pairs in the gold set.");

  page.heading("Stage 1: rounds");
  report::Table rounds{{"round", "gold accuracy", "gold errors", "retrieved", "labeled", "silver before",
                        "silver after", "weakest category"},
                       {}};
  for (const RoundSummary& s : r.rounds) {
    std::string weakest;
    for (const Weakness& w : s.weaknesses)
      if (w.field == "task_category") {
        weakest = (w.value.empty() ? "(none)" : w.value) + " " + pct(w.accuracy);
        break;
      }
    rounds.rows.push_back({std::to_string(s.round), pct(s.gold_accuracy), std::to_string(s.queries_wrong),
                           std::to_string(s.retrieved), std::to_string(s.label.labeled),
                           std::to_string(s.silver_before), std::to_string(s.silver_after), weakest});
  }
  page.table(rounds);
  // Gold accuracy per category and round (the weaknesses the retrieval targets).
  report::Heatmap weak;
  weak.title = "Gold accuracy of each round's RM per task category";
  weak.row_title = "round";
  weak.col_title = "task category";
  for (const RoundSummary& s : r.rounds) {
    weak.rows.push_back("round " + std::to_string(s.round));
    if (weak.cols.empty())
      for (const Weakness& w : s.weaknesses)
        if (w.field == "task_category") weak.cols.push_back(w.value);
  }
  std::sort(weak.cols.begin(), weak.cols.end());
  for (const RoundSummary& s : r.rounds)
    for (const std::string& col : weak.cols) {
      double v = NAN;
      for (const Weakness& w : s.weaknesses)
        if (w.field == "task_category" && w.value == col) v = w.accuracy;
      weak.values.push_back(v);
    }
  if (!weak.rows.empty() && !weak.cols.empty()) page.chart("round-weaknesses", report::heatmap(weak));

  page.heading("Stage 2");
  page.paragraph(std::to_string(r.stage2_kept) + " pairs kept, " + std::to_string(r.stage2_dropped) +
                 " discarded (kept for the flipped variant); " + std::to_string(r.stage2_llm_labeled) +
                 " pairs the best RM was unsure of were labeled by the judges.");

  page.heading("Fig. 7: held-out accuracy per stage");
  report::BarChart fig7;
  fig7.title = "Held-out accuracy by curation stage";
  fig7.x_title = "stage";
  fig7.y_title = "held-out accuracy";
  fig7.y_min = 0.3;
  report::Table t7{{"stage"}, {}};
  for (const auto& v : r.variants) t7.header.push_back(v);
  for (size_t s = 0; s < r.stages.size(); ++s) {
    std::vector<std::string> row = {r.stages[s]};
    for (size_t v = 0; v < r.variants.size(); ++v) {
      const HeldOut& h = r.fig7[v][s];
      fig7.category.push_back(r.stages[s]);
      fig7.group.push_back(r.variants[v]);
      fig7.value.push_back(h.accuracy);
      fig7.lo.push_back(h.lo);
      fig7.hi.push_back(h.hi);
      row.push_back(interval(h) + " (" + std::to_string(h.train_pairs) + " pairs)");
    }
    t7.rows.push_back(row);
  }
  page.chart("fig7", report::bar_chart_with_ci(fig7));
  page.table(t7);

  page.heading("Fig. 8: ablation");
  report::BarChart fig8;
  fig8.title = "Held-out accuracy as curation components are added";
  fig8.x_title = "pipeline";
  fig8.y_title = "held-out accuracy";
  fig8.y_min = 0.3;
  report::Table t8{{"pipeline", "held-out accuracy", "training pairs", "wrongly oriented"}, {}};
  for (size_t i = 0; i < r.ablation.size(); ++i) {
    const HeldOut& h = r.ablation[i];
    fig8.category.push_back(r.ablation_steps[i]);
    fig8.group.push_back("");
    fig8.value.push_back(h.accuracy);
    fig8.lo.push_back(h.lo);
    fig8.hi.push_back(h.hi);
    t8.rows.push_back(
        {r.ablation_steps[i], interval(h), std::to_string(h.train_pairs), std::to_string(h.train_noisy)});
  }
  page.chart("fig8", report::bar_chart_with_ci(fig8));
  page.table(t8);

  page.heading("Per-category held-out accuracy at the last stage");
  report::Heatmap cats;
  cats.title = "Held-out accuracy per task category (last stage)";
  cats.row_title = "variant";
  cats.col_title = "task category";
  for (const auto& [cat, acc] : r.fig7[0].back().by_category) cats.cols.push_back(cat);
  for (size_t v = 0; v < r.variants.size(); ++v) {
    cats.rows.push_back(r.variants[v]);
    for (const std::string& col : cats.cols) {
      auto it = r.fig7[v].back().by_category.find(col);
      cats.values.push_back(it == r.fig7[v].back().by_category.end() ? NAN : it->second);
    }
  }
  if (!cats.cols.empty()) page.chart("categories", report::heatmap(cats));
  return report::write_html(page, path);
}

}  // namespace synpref::curate
