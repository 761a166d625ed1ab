// `synpref demo`: the main job end to end on generated data, with checks a user can read.
//
// Part 1, the preference-data pipeline as a data team runs it: generate pairs with known
// duplicates, malformed records and benchmark leaks; convert -> dedup -> decontaminate -> split ->
// stats; check every count against what was planted.
// Part 2, a reward model: `data synth` pairs whose labels are right by construction, a small BPE
// tokenizer learned from them (HF format, so no download is needed), Bradley-Terry training of a
// tiny Qwen3-shaped RM from scratch, and its held-out accuracy measured twice: by the trainer and,
// independently, by the inference engine loading the saved HF checkpoint (they must agree).
// Part 3, the curation story (synpref/curate/study.h): a pool with 40% label noise concentrated in
// some categories, judge-sim judges over loopback HTTP, simulated annotators on a small gold
// budget, stage-1 rounds and stage 2, then RMs trained on the raw pool, the curated set and the
// curated set plus flipped discards: the report's Fig. 7 and Fig. 8 in small, and an HTML report.
#include <cstdio>
#include <filesystem>
#include <random>
#include <thread>

#include "command.h"
#include "synpref/common/io.h"
#include "synpref/common/text.h"
#include "synpref/curate/study.h"
#include "synpref/data/pipeline.h"
#include "synpref/data/synthetic.h"
#include "synpref/judge/sim.h"
#include "synpref/report/pages.h"
#include "synpref/score/scorer.h"
#include "synpref/tokenizer/train.h"
#include "synpref/train/trainer.h"

namespace synpref::cli {
namespace {

struct Checker {
  int failures = 0;
  void check_true(const std::string& what, bool ok) {
    failures += !ok;
    std::printf("  %s %s\n", ok ? "[ok]  " : "[FAIL]", what.c_str());
  }
  void check(const std::string& what, uint64_t expected, uint64_t actual) {
    bool ok = expected == actual;
    failures += !ok;
    std::printf("  %s %-52s expected %8llu  got %8llu\n", ok ? "[ok]  " : "[FAIL]", what.c_str(),
                static_cast<unsigned long long>(expected), static_cast<unsigned long long>(actual));
  }
};

Status run_data_demo(const std::string& dir, uint64_t pairs, uint64_t seed, Checker& c) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return io_error(dir + ": cannot create folder: " + ec.message());
  std::printf("Part 1: preference-data pipeline on %llu generated pairs (files in %s/)\n\n",
              static_cast<unsigned long long>(pairs), dir.c_str());

  // 1. Generate: chat-format pairs, 10% exact duplicates, one malformed record per 500 lines.
  data::SyntheticOptions gen;
  gen.records = pairs;
  gen.seed = seed;
  gen.duplicate_fraction = 0.10;
  const std::string raw = dir + "/raw.jsonl.gz";
  const char* bad_lines[] = {
      "{\"chosen\": [{\"role\": \"user\", \"content\": \"truncated\"}, \n",     // json
      "{\"prompt\": \"Same?\", \"chosen\": \"yes\", \"rejected\": \"yes\"}\n",  // identical
      "{\"prompt\": \"caf\xE9\", \"chosen\": \"a\", \"rejected\": \"b\"}\n",    // utf8
      "{\"chosen\": [{\"role\": \"user\", \"content\": \"Q\"}, {\"role\": \"assistant\", \"content\": "
      "\"A\"}]}\n",  // missing
  };
  uint64_t planted_bad = 0, planted_dups = 0;
  std::vector<std::string> leak_prompts;
  {
    SP_ASSIGN_OR_RETURN(auto writer, io::Writer::open(raw));
    std::string line;
    for (uint64_t i = 0; i < pairs; ++i) {
      line.clear();
      uint64_t src = data::append_synthetic_record(line, gen, i);
      if (src != i) ++planted_dups;
      writer->append(line);
      if (i % 500 == 499) writer->append(bad_lines[planted_bad++ % 4]);
    }
    SP_RETURN_IF_ERROR(writer->close());
  }
  std::printf("1. generated %s: %llu pairs (%llu exact duplicates) + %llu malformed records\n", raw.c_str(),
              static_cast<unsigned long long>(pairs), static_cast<unsigned long long>(planted_dups),
              static_cast<unsigned long long>(planted_bad));

  data::StreamOptions options;
  options.progress = !global_options().quiet;

  // 2. Convert to canonical JSONL.
  options.rejects_path = dir + "/canonical.jsonl.rejects.jsonl";
  SP_ASSIGN_OR_RETURN(auto conv, data::convert_files({raw}, dir + "/canonical.jsonl", options));
  std::printf("2. data convert -> canonical.jsonl\n");
  c.check("pairs converted", pairs, conv.written);
  c.check("malformed records rejected (see rejects file)", planted_bad, conv.input.rejects);

  // 3. Global exact dedup.
  options.rejects_path = dir + "/unique.jsonl.rejects.jsonl";
  SP_ASSIGN_OR_RETURN(auto dedup, data::dedup_files({dir + "/canonical.jsonl"}, dir + "/unique.jsonl",
                                                    dir + "/unique.jsonl.duplicates.jsonl", pairs, options));
  std::printf("3. data dedup -> unique.jsonl\n");
  c.check("duplicates removed", planted_dups, dedup.removed);
  c.check("unique pairs kept", pairs - planted_dups, dedup.written);

  // 4. Decontaminate against "benchmark" prompts: 25 prompts taken from the data itself.
  {
    SP_ASSIGN_OR_RETURN(auto stream, data::RecordStream::open({dir + "/unique.jsonl"}, {}));
    data::Record r;
    std::vector<uint64_t> words;
    std::string bench;
    uint64_t idx = 0;
    while (leak_prompts.size() < 25) {
      SP_ASSIGN_OR_RETURN(bool more, stream->next(r));
      if (!more) break;
      if (++idx % 97 != 0) continue;
      data::word_hashes(r.context.back().content, words);
      if (words.size() < 13) continue;
      leak_prompts.push_back(r.context.back().content);
      bench += "{\"prompt\":";
      text::append_json_string(bench, r.context.back().content);
      bench += "}\n";
    }
    SP_RETURN_IF_ERROR(stream->close());
    SP_ASSIGN_OR_RETURN(auto w, io::Writer::open(dir + "/benchmark_prompts.jsonl"));
    w->append(bench);
    SP_RETURN_IF_ERROR(w->close());
  }
  data::NgramIndex index(13);
  SP_ASSIGN_OR_RETURN(uint64_t n_prompts,
                      data::load_benchmark_prompts(dir + "/benchmark_prompts.jsonl", index));
  options.rejects_path = dir + "/clean.jsonl.rejects.jsonl";
  SP_ASSIGN_OR_RETURN(auto decon,
                      data::decontaminate_files({dir + "/unique.jsonl"}, dir + "/clean.jsonl",
                                                dir + "/clean.jsonl.removed.jsonl", index, false, options));
  std::printf("4. data decontaminate (13-grams vs %llu benchmark prompts) -> clean.jsonl\n",
              static_cast<unsigned long long>(n_prompts));
  c.check("contaminated pairs removed", leak_prompts.size(), decon.removed);

  // 5. Split.
  options.rejects_path = dir + "/split/rejects.jsonl";
  SP_ASSIGN_OR_RETURN(auto split, data::split_files({dir + "/clean.jsonl"}, dir + "/split",
                                                    {{"train", 0.9}, {"test", 0.1}}, seed, options));
  std::printf("5. data split -> split/train.jsonl (%llu), split/test.jsonl (%llu)\n",
              static_cast<unsigned long long>(split.splits[0].second),
              static_cast<unsigned long long>(split.splits[1].second));
  c.check("train + test = clean pairs", decon.written, split.splits[0].second + split.splits[1].second);

  // 6. Stats of the training split.
  {
    options.rejects_path = "";
    SP_ASSIGN_OR_RETURN(auto stream, data::RecordStream::open({dir + "/split/train.jsonl"}, options));
    data::Stats stats;
    data::Record r;
    for (;;) {
      SP_ASSIGN_OR_RETURN(bool more, stream->next(r));
      if (!more) break;
      stats.add(r);
    }
    std::printf("6. data stats split/train.jsonl:\n");
    // The counts line and the byte-length summaries (histogram bars omitted).
    std::string text = stats.to_text();
    size_t pos = 0;
    while (pos < text.size()) {
      size_t nl = text.find('\n', pos);
      std::string line = text.substr(pos, nl - pos);
      pos = nl + 1;
      if (line.rfind("records", 0) == 0 || line.find(" bytes ") != std::string::npos) {
        std::printf("   %s\n", line.c_str());
      }
    }
  }
  return Status::ok();
}

struct DemoModelOptions {
  uint64_t train_pairs = 4000, test_pairs = 500, steps = 1500, seed = 1;
  int threads = 0;
};

Status run_model_demo(const std::string& dir, const DemoModelOptions& o, Checker& c) {
  std::printf("\nPart 2: a Bradley-Terry reward model trained from scratch (files in %s/)\n\n", dir.c_str());
  std::error_code ec;
  std::filesystem::create_directories(dir + "/synth", ec);
  if (ec) return io_error(dir + "/synth: cannot create folder: " + ec.message());
  // a. Data with labels right by construction.
  data::SynthOptions synth;
  synth.train_pairs = o.train_pairs;
  synth.test_pairs = o.test_pairs;
  synth.seed = o.seed;
  SP_ASSIGN_OR_RETURN(auto report,
                      data::write_synth(synth, dir + "/synth/train.jsonl", dir + "/synth/test.jsonl", ""));
  std::printf(
      "a. data synth: %llu training pairs, %llu clean held-out pairs (math, comparison, sorting,\n"
      "   instruction following, safety)\n",
      (unsigned long long)report.train_pairs, (unsigned long long)report.test_pairs);
  // b. A small tokenizer learned from the training text.
  {
    SP_ASSIGN_OR_RETURN(std::string text, io::read_file(dir + "/synth/train.jsonl"));
    std::vector<std::string_view> texts = {text};
    tokenizer::BpeTrainOptions bpe;
    bpe.vocab_size = 512;
    SP_RETURN_IF_ERROR(tokenizer::train_bpe_tokenizer(texts, bpe, dir + "/tokenizer"));
  }
  SP_ASSIGN_OR_RETURN(auto tok, tokenizer::load_tokenizer(dir + "/tokenizer"));
  std::printf("b. tokenizer: byte-level BPE with %d tokens and a ChatML template -> tokenizer/ (HF format)\n",
              tok.vocab_size());
  // c. Train.
  train::TrainOptions t;
  t.model_init = "preset:qwen3-tiny";
  t.tokenizer_dir = dir + "/tokenizer";
  t.hidden_size = 64;
  t.intermediate_size = 128;
  t.n_layer = 2;
  t.n_head = 4;
  t.n_head_kv = 2;
  t.head_dim = 16;
  t.data = {dir + "/synth/train.jsonl"};
  t.eval_data = {dir + "/synth/test.jsonl"};
  t.out_dir = dir + "/run";
  t.overwrite = true;  // the demo regenerates everything in its folder
  t.lr = 3e-3;
  t.schedule = "linear";
  t.warmup_steps = 20;
  t.batch_pairs = 16;
  t.micro_batch_tokens = 2048;
  t.epochs = 100;
  t.max_steps = o.steps;
  t.seed = o.seed;
  t.date = "2026-01-01";
  t.log_every = 25;
  t.eval_every = 0;
  t.threads = o.threads;
  t.progress = !global_options().quiet;
  std::printf(
      "c. train: Qwen3-shaped RM from scratch (2 layers, hidden 64, GQA 4/2 heads), %llu steps of 16 pairs\n",
      (unsigned long long)o.steps);
  std::fflush(stdout);
  SP_ASSIGN_OR_RETURN(train::TrainSummary ts, train::run_training(t));
  SP_ASSIGN_OR_RETURN(std::string training_page, report::write_train_report(t.out_dir));  // docs/reports.md
  // d. Independent check: the inference engine loads the saved HF checkpoint and scores the
  //    held-out pairs through the same chat-template RM inputs.
  score::ScorerOptions scorer_options;
  scorer_options.model_dir = ts.final_dir;
  scorer_options.input.tokenizer_dir = dir + "/tokenizer";
  scorer_options.input.date = "2026-01-01";
  scorer_options.input.max_length = t.max_length;
  scorer_options.n_threads = o.threads;
  SP_ASSIGN_OR_RETURN(auto scorer, score::Scorer::open(scorer_options));
  SP_ASSIGN_OR_RETURN(auto stream, data::RecordStream::open({dir + "/synth/test.jsonl"}, {}));
  score::ScoreStats stats;
  SP_RETURN_IF_ERROR(scorer->score_records([&](data::Record& r, encode::Origin&) { return stream->next(r); },
                                           [](std::span<const score::Scored>) { return Status::ok(); },
                                           stats));
  SP_RETURN_IF_ERROR(stream->close());
  const uint64_t scored = stats.pairs, correct = stats.pairs_correct;
  const double engine_accuracy = scored ? static_cast<double>(correct) / static_cast<double>(scored) : 0;
  std::printf("\n   %-44s %s\n", "result", "value");
  std::printf("   %-44s %llu\n", "optimizer steps", (unsigned long long)ts.steps);
  std::printf("   %-44s %.4f -> %.4f\n", "train loss (first -> last logged)", ts.first_loss, ts.last_loss);
  std::printf("   %-44s %.1f%%\n", "held-out pair accuracy (trainer)", 100 * ts.eval_accuracy);
  std::printf("   %-44s %.1f%%\n", "held-out pair accuracy (inference engine)", 100 * engine_accuracy);
  for (auto& [category, acc] : ts.eval_accuracy_by_category)
    std::printf("     %-42s %.1f%%\n", category.c_str(), 100 * acc);
  std::printf("   %-44s %.0f\n", "training tokens/s", ts.tokens_per_s);
  std::printf("   %-44s %.0f s\n", "training time", ts.seconds);
  std::printf("   %-44s %lld\n", "parameters", (long long)ts.n_params);
  std::printf("   checkpoint (HF folder): %s\n   metrics: %s\n", ts.final_dir.c_str(),
              ts.metrics_path.c_str());
  std::printf("   training report (open in a browser): %s\n\n", training_page.c_str());
  c.check("held-out pairs scored by the engine", o.test_pairs, scored);
  c.check("engine and trainer agree on correct pairs", static_cast<uint64_t>(ts.eval_accuracy * scored + 0.5),
          correct);
  c.check_true("training lowered the loss", ts.last_loss < ts.first_loss);
  c.check_true("held-out accuracy well above chance (> 60%)", engine_accuracy > 0.6);
  return Status::ok();
}

std::string pct_ci(const curate::HeldOut& h) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%5.1f%% [%5.1f, %5.1f]", 100 * h.accuracy, 100 * h.lo, 100 * h.hi);
  return buf;
}

Status run_curation_demo(const std::string& dir, const DemoModelOptions& model_options, Checker& c) {
  std::printf("\nPart 3: curation (report section 3) on a noisy pool (files in %s/)\n\n", dir.c_str());
  curate::StudyOptions o;
  o.dir = dir;
  o.seed = model_options.seed;
  o.rm = curate::default_study_rm();
  o.rm.threads = model_options.threads;
  // Judges over real loopback HTTP: judge-sim knows the pool's ground truth and answers noisily.
  judge::SimOptions sim_options;
  sim_options.synth = curate::study_synth_options(o);
  sim_options.seed = o.seed;
  sim_options.judges = {{.model = "judge-a", .accuracy = 0.85, .position_bias = 0.6},
                        {.model = "judge-b", .accuracy = 0.8},
                        {.model = "judge-c", .accuracy = 0.7, .position_bias = 0.4}};
  SP_ASSIGN_OR_RETURN(auto sim, judge::Sim::create(sim_options));
  std::thread server([&] { (void)sim->run(); });
  struct Stop {
    judge::Sim& sim;
    std::thread& thread;
    ~Stop() {
      sim.stop();
      thread.join();
    }
  } stop{*sim, server};
  judge::Config config;
  for (const auto& j : sim_options.judges)
    config.endpoints.push_back({.name = j.model, .base_url = sim->base_url(), .model = j.model});
  config.cache_path = dir + "/judge-cache.sqlite";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return io_error(dir + ": cannot create folder: " + ec.message());
  SP_ASSIGN_OR_RETURN(auto judges, judge::Client::create(config));
  std::printf(
      "judges: judge-sim at %s (3 judges, accuracy 0.85/0.8/0.7); annotators: 2 simulated, gold budget "
      "%lld\n",
      sim->base_url().c_str(), (long long)o.gold_budget);
  std::fflush(stdout);
  SP_ASSIGN_OR_RETURN(curate::StudyResult r, curate::run_study(o, *judges, [](const std::string& line) {
                        std::printf("%s\n", line.c_str());
                        std::fflush(stdout);
                      }));
  std::printf("\n   pool: %lld pairs, %lld labels flipped (", (long long)r.pool_pairs,
              (long long)r.pool_flipped);
  for (const auto& [cat, n] : r.flipped_by_category) std::printf(" %s %lld", cat.c_str(), (long long)n);
  std::printf(" )\n   gold: %lld shown, %lld cannot-determine discarded, %lld decided (%lld wrong)\n",
              (long long)r.gold.shown, (long long)r.gold.cannot_determine, (long long)r.gold.decided,
              (long long)r.gold.wrong);
  for (const auto& s : r.rounds)
    std::printf(
        "   stage 1 round %d: gold accuracy %.1f%%, %lld gold errors, %lld pairs retrieved, silver %lld -> "
        "%lld\n",
        s.round, 100 * s.gold_accuracy, (long long)s.queries_wrong, (long long)s.retrieved,
        (long long)s.silver_before, (long long)s.silver_after);
  std::printf("   stage 2: %lld kept, %lld discarded, %lld LLM-labeled\n\n", (long long)r.stage2_kept,
              (long long)r.stage2_dropped, (long long)r.stage2_llm_labeled);
  std::printf("   Fig. 7: held-out accuracy [95%% bootstrap CI] on %lld clean pairs\n   %-14s",
              (long long)r.test_pairs, "stage");
  for (const auto& v : r.variants) std::printf(" %-26s", v.c_str());
  std::printf("\n");
  for (size_t s = 0; s < r.stages.size(); ++s) {
    std::printf("   %-14s", r.stages[s].c_str());
    for (size_t v = 0; v < r.variants.size(); ++v) std::printf(" %-26s", pct_ci(r.fig7[v][s]).c_str());
    std::printf("\n");
  }
  std::printf("\n   Fig. 8: ablation (end of stage 1)\n");
  for (size_t i = 0; i < r.ablation.size(); ++i)
    std::printf("   %-22s %s  (%lld pairs, %lld wrongly oriented)\n", r.ablation_steps[i].c_str(),
                pct_ci(r.ablation[i]).c_str(), (long long)r.ablation[i].train_pairs,
                (long long)r.ablation[i].train_noisy);
  std::printf("\n   report: %s\n   results: %s/study.json\n\n", r.report_path.c_str(), dir.c_str());
  const auto& raw = r.fig7[0];
  const auto& curated = r.fig7[1];
  c.check_true("curated clearly above raw at every stage (95% CIs do not overlap)", [&] {
    for (size_t s = 0; s < raw.size(); ++s)
      if (!(curated[s].lo > raw[s].hi)) return false;
    return true;
  }());
  double raw_min = 1, raw_max = 0;
  for (const auto& h : raw) raw_min = std::min(raw_min, h.accuracy), raw_max = std::max(raw_max, h.accuracy);
  c.check_true("raw roughly flat across stages (within 8 points)", raw_max - raw_min <= 0.08);
  bool monotone = true;
  for (size_t i = 1; i < r.ablation.size(); ++i)
    monotone &= r.ablation[i].accuracy >= r.ablation[i - 1].accuracy;
  c.check_true("each ablation step non-negative", monotone);
  c.check_true("cannot-determine gold verdicts discarded",
               r.gold.decided + r.gold.cannot_determine == r.gold.shown && r.gold_imported <= r.gold.decided);
  c.check_true("every pool pair decided by stage 2", r.stage2_kept + r.stage2_dropped == r.pool_pairs);
  return Status::ok();
}

Status run_demo(const std::string& dir, uint64_t pairs, const DemoModelOptions& model_options, bool data_only,
                bool curation) {
  Checker c;
  SP_RETURN_IF_ERROR(run_data_demo(dir + "/data", pairs, model_options.seed, c));
  if (!data_only) SP_RETURN_IF_ERROR(run_model_demo(dir + "/model", model_options, c));
  if (!data_only && curation) SP_RETURN_IF_ERROR(run_curation_demo(dir + "/curation", model_options, c));
  std::printf(
      "%s: %d check(s) failed. Inspect the files in %s/ (rejects, duplicates and removed lists "
      "name every record taken out; model/run holds the checkpoint and metrics; curation/report.html the "
      "curation study).\n",
      c.failures == 0 ? "demo passed" : "DEMO FAILED", c.failures, dir.c_str());
  if (c.failures) return internal_error("demo checks failed");
  return Status::ok();
}

void add_demo(CLI::App& app) {
  auto dir = std::make_shared<std::string>("synpref-demo");
  auto pairs = std::make_shared<uint64_t>(10000);
  auto model = std::make_shared<DemoModelOptions>();
  auto data_only = std::make_shared<bool>(false);
  auto no_curation = std::make_shared<bool>(false);
  auto* cmd =
      app.add_subcommand("demo", "Run the main job end to end on generated data and check the results");
  cmd->add_option("--out-dir", *dir, "Where the demo writes its files")->capture_default_str();
  cmd->add_option("--pairs", *pairs, "Generated pairs for the data pipeline")
      ->capture_default_str()
      ->check(CLI::Range(1000, 100000000));
  cmd->add_option("--train-pairs", model->train_pairs, "Synthetic training pairs")->capture_default_str();
  cmd->add_option("--steps", model->steps, "Training steps")->capture_default_str();
  cmd->add_option("--seed", model->seed, "Seed")->capture_default_str();
  cmd->add_option("--threads", model->threads, "Threads (0 = all cores)")->capture_default_str();
  cmd->add_flag("--data-only", *data_only, "Run only the data pipeline part");
  cmd->add_flag("--no-curation", *no_curation, "Skip part 3 (the curation study)");
  cmd->callback(
      [=] { set_action([=] { return run_demo(*dir, *pairs, *model, *data_only, !*no_curation); }); });
}

SYNPREF_COMMAND(10, add_demo);

}  // namespace
}  // namespace synpref::cli
