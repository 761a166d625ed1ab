// src/curate/study.cpp: the curation study (study.h): pool -> attributes -> seed -> gold -> stage-1
// rounds -> stage 2 -> evaluation RMs -> study.json and report.html.
#include "synpref/curate/study.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "local_model.h"
#include "synpref/common/hash.h"
#include "synpref/common/io.h"
#include "synpref/curate/steps.h"
#include "synpref/data/stream.h"
#include "synpref/tokenizer/train.h"

namespace synpref::curate {

namespace fs = std::filesystem;
using nlohmann::json;

data::SynthOptions study_synth_options(const StudyOptions& o) {
  data::SynthOptions synth;
  synth.train_pairs = o.pool_pairs;
  synth.test_pairs = o.test_pairs;
  synth.seed = o.seed;
  synth.noise = o.noise;
  synth.noise_categories = o.noise_categories;
  return synth;
}

train::TrainOptions default_study_rm() {
  train::TrainOptions t;
  t.model_init = "preset:qwen3-tiny";
  t.hidden_size = 64;
  t.intermediate_size = 128;
  t.n_layer = 2;
  t.n_head = 4;
  t.n_head_kv = 2;
  t.head_dim = 16;
  t.lr = 3e-3;
  t.warmup_steps = 20;
  t.batch_pairs = 16;
  t.micro_batch_tokens = 2048;
  t.epochs = 1000;
  t.max_steps = 500;
  t.date = "2026-01-01";
  t.log_every = 50;
  t.save_every_seconds = 0;
  t.progress = false;
  return t;
}

namespace {

// ---- Small helpers: id sets on disk, seeded orders, truth.

Status write_ids(const std::string& path, const std::vector<std::string>& ids) {
  SP_ASSIGN_OR_RETURN(auto w, io::Writer::open(path));
  for (const auto& id : ids) w->append(id + "\n");
  return w->close();
}

Result<std::vector<std::string>> read_ids(const std::string& path) {
  SP_ASSIGN_OR_RETURN(std::string text, io::read_file(path, uint64_t(1) << 32));
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(line);
  return out;
}

// Pool ids in the order of a seeded hash (the study's random orders).
Result<std::vector<std::string>> shuffled_ids(const Project& project, uint64_t seed) {
  SP_ASSIGN_OR_RETURN(auto refs, project.pair_refs(0, project.n_pairs()));
  std::vector<std::pair<uint64_t, std::string>> order;
  for (auto& ref : refs) order.emplace_back(hash64(ref.id, seed), std::move(ref.id));
  std::sort(order.begin(), order.end());
  std::vector<std::string> out;
  for (auto& [h, id] : order) out.push_back(std::move(id));
  return out;
}

struct Ctx {
  const StudyOptions& o;
  judge::Client& judges;
  const StudyProgress& progress;
  std::string dir, tokenizer_dir;
  std::unordered_set<std::string> flipped;  // pool pairs whose label is wrong
  void say(const std::string& line) const {
    if (progress) progress(line);
  }
};

// ---- 1. Pool, test set, tokenizer.

Status make_data(Ctx& c, StudyResult& r) {
  const std::string pool = c.dir + "/pool.jsonl", test = c.dir + "/test.jsonl",
                    flipped = c.dir + "/flipped.txt";
  if (!fs::exists(flipped)) {
    SP_ASSIGN_OR_RETURN(auto report, data::write_synth(study_synth_options(c.o), pool, test, flipped));
    c.say("pool: " + std::to_string(report.train_pairs) + " pairs, " + std::to_string(report.flipped) +
          " labels flipped; " + std::to_string(report.test_pairs) + " clean held-out pairs");
  }
  SP_ASSIGN_OR_RETURN(auto ids, read_ids(flipped));
  c.flipped.insert(ids.begin(), ids.end());
  r.pool_flipped = static_cast<int64_t>(ids.size());
  c.tokenizer_dir = c.dir + "/tokenizer";
  if (!fs::exists(c.tokenizer_dir + "/tokenizer.json")) {
    SP_ASSIGN_OR_RETURN(std::string text, io::read_file(pool, uint64_t(1) << 32));
    std::vector<std::string_view> texts = {text};
    tokenizer::BpeTrainOptions bpe;
    bpe.vocab_size = 512;
    SP_RETURN_IF_ERROR(tokenizer::train_bpe_tokenizer(texts, bpe, c.tokenizer_dir));
  }
  return Status::ok();
}

// ---- Training and evaluating one RM.

Result<train::TrainSummary> train_rm(const Ctx& c, const std::string& out_dir, const std::string& data,
                                     const std::string& model_init, uint64_t steps, double lr,
                                     uint64_t seed = 0) {
  train::TrainOptions t = c.o.rm;
  t.seed = c.o.rm.seed + seed;
  t.tokenizer_dir = c.tokenizer_dir;
  t.data = {data};
  t.eval_data = {};
  t.out_dir = out_dir;
  if (!model_init.empty()) t.model_init = model_init;
  if (steps) t.max_steps = steps;
  if (lr > 0) t.lr = lr;
  t.progress = false;
  const bool started = fs::exists(out_dir + "/latest") || fs::exists(out_dir + "/summary.json");
  t.resume = started;
  t.overwrite = !started;
  return train::run_training(t);
}

// Percentile bootstrap of the mean of per-pair outcomes in [0, 1] (seeded; `n_boot` resamples).
std::pair<double, double> bootstrap_ci(const std::vector<double>& correct, int n_boot, uint64_t seed) {
  if (correct.empty() || n_boot < 1) return {NAN, NAN};
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, correct.size() - 1);
  std::vector<double> means(static_cast<size_t>(n_boot));
  for (auto& m : means) {
    double hits = 0;
    for (size_t i = 0; i < correct.size(); ++i) hits += correct[pick(rng)];
    m = hits / double(correct.size());
  }
  std::sort(means.begin(), means.end());
  auto at = [&](double q) {
    return means[std::min(means.size() - 1, static_cast<size_t>(q * double(means.size())))];
  };
  return {at(0.025), at(0.975)};
}

json held_out_json(const HeldOut& h) {
  return {{"name", h.name},
          {"train_pairs", h.train_pairs},
          {"train_noisy", h.train_noisy},
          {"test_pairs", h.test_pairs},
          {"accuracy", h.accuracy},
          {"lo", h.lo},
          {"hi", h.hi},
          {"by_category", h.by_category}};
}

HeldOut held_out_from(const json& j) {
  HeldOut h;
  h.name = j.at("name");
  h.train_pairs = j.at("train_pairs");
  h.train_noisy = j.at("train_noisy");
  h.test_pairs = j.at("test_pairs");
  h.accuracy = j.at("accuracy");
  h.lo = j.at("lo");
  h.hi = j.at("hi");
  h.by_category = j.at("by_category").get<std::map<std::string, double>>();
  return h;
}

// A training set: pool ids, each oriented by `orientation` (-1 = swap; absent = as in the pool).
struct TrainSet {
  std::vector<std::string> ids;
  std::map<std::string, int> orientation;
};

// Trains an RM on `set` from scratch and scores the held-out set (cached in eval/<name>/result.json).
Result<HeldOut> evaluate(const Ctx& c, const Project& project, const std::string& name, const TrainSet& set) {
  const std::string dir = c.dir + "/eval/" + name;
  const std::string result_path = dir + "/result.json";
  if (fs::exists(result_path)) {
    SP_ASSIGN_OR_RETURN(std::string text, io::read_file(result_path, 1 << 20));
    auto j = json::parse(text, nullptr, false);
    if (!j.is_discarded()) return held_out_from(j);
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return io_error(dir + ": cannot create folder: " + ec.message());
  HeldOut h;
  h.name = name;
  const std::string data = dir + "/train.jsonl";
  SP_ASSIGN_OR_RETURN(h.train_pairs, write_oriented_pairs(project, set.ids, set.orientation, data));
  for (const std::string& id : set.ids) {
    auto it = set.orientation.find(id);
    const bool swapped = it != set.orientation.end() && it->second < 0;
    h.train_noisy += c.flipped.count(id) != swapped;  // wrong label, unless swapped back
  }
  c.say("  training " + name + " on " + std::to_string(h.train_pairs) + " pairs (" +
        std::to_string(h.train_noisy) + " wrongly oriented)");
  std::vector<data::Record> test;
  SP_ASSIGN_OR_RETURN(auto stream, data::RecordStream::open({c.dir + "/test.jsonl"}, {}));
  for (data::Record record;;) {
    SP_ASSIGN_OR_RETURN(bool more, stream->next(record));
    if (!more) break;
    test.push_back(record);
  }
  SP_RETURN_IF_ERROR(stream->close());
  // One RM per training seed; each held-out pair's outcome is the share of them that rank it right
  // (averaging out the training noise of tiny RMs on small sets).
  std::vector<double> correct(test.size(), 0.0);
  const int n_seeds = std::max(1, c.o.eval_seeds);
  for (int k = 0; k < n_seeds; ++k) {
    SP_ASSIGN_OR_RETURN(train::TrainSummary ts,
                        train_rm(c, dir + "/rm-" + std::to_string(k), data, "", 0, 0, 1000 * uint64_t(k)));
    // Held-out accuracy from the inference engine, pair by pair.
    SP_ASSIGN_OR_RETURN(auto scorer, open_local_scorer(ts.final_dir, c.o.rm.threads));
    SP_ASSIGN_OR_RETURN(auto scores, scorer->score(test));
    for (size_t i = 0; i < test.size(); ++i) correct[i] += (scores[i][0] > scores[i][1]) / double(n_seeds);
  }
  std::map<std::string, std::pair<double, int64_t>> by_category;
  double hits = 0;
  for (size_t i = 0; i < test.size(); ++i) {
    hits += correct[i];
    auto& cat = by_category[test[i].attributes.task_category];
    cat.first += correct[i];
    ++cat.second;
  }
  h.test_pairs = static_cast<int64_t>(test.size());
  h.accuracy = test.empty() ? NAN : hits / double(test.size());
  std::tie(h.lo, h.hi) = bootstrap_ci(correct, c.o.bootstrap, hash64(name, c.o.seed));
  for (const auto& [cat, counts] : by_category) h.by_category[cat] = counts.first / double(counts.second);
  SP_ASSIGN_OR_RETURN(auto w, io::Writer::open(result_path));
  w->append(held_out_json(h).dump(2) + "\n");
  SP_RETURN_IF_ERROR(w->close());
  return h;
}

// ---- 3-4. Seed labels (before gold) and the gold set.

Status seed_and_gold(Ctx& c, Project& project, StudyResult& r) {
  SP_ASSIGN_OR_RETURN(auto order, shuffled_ids(project, c.o.seed ^ 0x5eedULL));
  const size_t n_seed = std::min(order.size(), static_cast<size_t>(c.o.seed_pairs));
  LabelStepOptions label;
  label.n = c.o.judge_samples;
  label.seed = c.o.seed;
  SP_ASSIGN_OR_RETURN(bool seeded, project.step_done("study/seed"));
  if (!seeded) {
    c.say("seed: " + std::to_string(n_seed) + " random pairs labeled by the judges (no human gold yet)");
    label.targets =
        std::vector<std::string>(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n_seed));
    SP_RETURN_IF_ERROR(run_label_step(project, c.judges, label).status());
    SP_ASSIGN_OR_RETURN(auto silver, project.members("silver"));
    SP_RETURN_IF_ERROR(write_ids(c.dir + "/sets/llm-only.ids", silver));
    SP_RETURN_IF_ERROR(project.mark_step_done("study/seed"));
  }
  // Gold: annotators see the next gold_budget pairs of the same order (never a seed pair).
  std::vector<std::string> candidates(order.begin() + static_cast<std::ptrdiff_t>(n_seed), order.end());
  AnnotationSimOptions sim;
  sim.annotators = c.o.annotators;
  sim.budget = c.o.gold_budget;
  sim.seed = c.o.seed;
  auto truth = [&](const std::string& id) { return c.flipped.count(id) ? -1 : 1; };
  // Deterministic: rerunning the simulation reproduces the file; the import is idempotent.
  SP_ASSIGN_OR_RETURN(r.gold, simulate_annotators(candidates, truth, sim, c.dir + "/gold-verdicts.jsonl"));
  SP_ASSIGN_OR_RETURN(bool gold_done, project.step_done("study/gold"));
  if (!gold_done) {
    c.say("gold: " + std::to_string(r.gold.shown) + " pairs shown to " +
          std::to_string(c.o.annotators.size()) + " simulated annotators, " +
          std::to_string(r.gold.cannot_determine) + " cannot-determine (discarded)");
    SP_RETURN_IF_ERROR(import_gold_labels(project, c.dir + "/gold-verdicts.jsonl").status());
    SP_RETURN_IF_ERROR(project.mark_step_done("study/gold"));
  }
  SP_ASSIGN_OR_RETURN(auto gold, project.members("gold"));
  r.gold_imported = static_cast<int64_t>(gold.size());
  return Status::ok();
}

// Judge-rejected pairs so far: a silver aggregate of -1 (the flipped-discard candidates of stage 1).
Result<std::vector<std::string>> judge_rejected(const Project& project) {
  std::vector<std::string> out;
  SP_RETURN_IF_ERROR(project.for_each_label("silver_aggregate", [&](int64_t, const Label& l) -> Status {
    if (l.verdict < 0) out.push_back(l.pair_id);
    return Status::ok();
  }));
  return out;
}

// ---- 5. Stage-1 rounds.

Result<RoundSummary> read_round_summary(const std::string& path) {
  SP_ASSIGN_OR_RETURN(std::string text, io::read_file(path, 1 << 24));
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return data_error(path + ": not JSON (delete the round folder's summary to redo it)");
  RoundSummary s;
  s.round = j.value("round", 0);
  s.rm_name = j.value("rm", "");
  s.rm_dir = j.value("rm_dir", "");
  s.gold_pairs = j.value("gold_pairs", int64_t(0));
  s.gold_correct = j.value("gold_correct", int64_t(0));
  s.gold_accuracy = j.value("gold_accuracy", 0.0);
  s.queries_wrong = j.value("queries_wrong", int64_t(0));
  s.retrieved = j.value("retrieved", int64_t(0));
  s.silver_before = j.value("silver_before", int64_t(0));
  s.silver_after = j.value("silver_after", int64_t(0));
  s.label.labeled = j.value("labeled", int64_t(0));
  s.label.agree = j.value("added_to_silver", int64_t(0));
  if (j.contains("retrieved_by_category"))
    s.retrieved_by_category = j["retrieved_by_category"].get<std::map<std::string, int64_t>>();
  for (const auto& w : j.value("weaknesses", json::array()))
    s.weaknesses.push_back({w.value("field", ""), w.value("value", ""), w.value("gold", int64_t(0)),
                            w.value("correct", int64_t(0)), w.value("accuracy", 0.0),
                            w.value("mean_p", 0.0)});
  s.summary_path = path;
  return s;
}

Status run_rounds(Ctx& c, Project& project, StudyResult& r) {
  RoundOptions ro;
  ro.train = c.o.rm;
  ro.train.tokenizer_dir = c.tokenizer_dir;
  ro.label.n = c.o.judge_samples;
  ro.label.seed = c.o.seed;
  ro.k_max = c.o.k_max;
  ro.seed = c.o.seed;
  for (;;) {
    SP_ASSIGN_OR_RETURN(int done, finished_rounds(project, ro.stage));
    // The silver set and the judge-rejected pairs after round `done` (written once, right after it).
    const std::string snapshot = c.dir + "/sets/stage1-round-" + std::to_string(done);
    if (done > 0 && !fs::exists(snapshot + ".silver.ids")) {
      SP_ASSIGN_OR_RETURN(auto rejected, judge_rejected(project));
      SP_RETURN_IF_ERROR(write_ids(snapshot + ".rejected.ids", rejected));
      SP_ASSIGN_OR_RETURN(auto silver, project.members("silver"));
      SP_RETURN_IF_ERROR(write_ids(snapshot + ".silver.ids", silver));
    }
    if (done >= c.o.rounds) break;
    c.say("stage 1, round " + std::to_string(done + 1) + ": train on silver, score gold, retrieve, label");
    SP_ASSIGN_OR_RETURN(RoundSummary s, run_round(project, c.judges, ro));
    c.say("  gold accuracy " + std::to_string(s.gold_accuracy).substr(0, 5) + ", " +
          std::to_string(s.retrieved) + " pairs retrieved for " + std::to_string(s.queries_wrong) +
          " gold errors, silver " + std::to_string(s.silver_before) + " -> " +
          std::to_string(s.silver_after));
  }
  for (int round = 1; round <= c.o.rounds; ++round) {
    SP_ASSIGN_OR_RETURN(auto s, read_round_summary(project.dir() + "/rounds/stage1-round-" +
                                                   std::to_string(round) + "/summary.json"));
    r.rounds.push_back(std::move(s));
  }
  return Status::ok();
}

// ---- 6. Stage 2.

Status run_stage2(Ctx& c, Project& project, StudyResult& r) {
  SP_ASSIGN_OR_RETURN(bool done, project.step_done("study/stage2"));
  if (!done) {
    // The best RM: trained on everything stage 1 curated (silver + gold, oriented by humans).
    SP_ASSIGN_OR_RETURN(auto verdicts, gold_verdicts(project));
    std::vector<std::string> gold_ids;
    for (const auto& [id, v] : verdicts) gold_ids.push_back(id);
    SP_ASSIGN_OR_RETURN(auto silver, project.members("silver"));
    std::vector<std::string> curated = gold_ids;
    for (const auto& id : silver)
      if (!verdicts.count(id)) curated.push_back(id);
    std::error_code ec;
    fs::create_directories(c.dir + "/stage2", ec);
    const std::string best_data = c.dir + "/stage2/curated.jsonl", gold_data = c.dir + "/stage2/gold.jsonl";
    SP_RETURN_IF_ERROR(write_oriented_pairs(project, curated, verdicts, best_data).status());
    SP_RETURN_IF_ERROR(write_oriented_pairs(project, gold_ids, verdicts, gold_data).status());
    c.say("stage 2: best RM trained on the " + std::to_string(curated.size()) +
          " curated pairs of stage 1; gold RM = it fine-tuned on " + std::to_string(gold_ids.size()) +
          " gold pairs");
    SP_ASSIGN_OR_RETURN(train::TrainSummary best_ts,
                        train_rm(c, c.dir + "/stage2/best-rm", best_data, "", 0, 0));
    const std::string best_dir = best_ts.final_dir;
    // The gold RM: the best RM fine-tuned on the human-verified pairs.
    SP_ASSIGN_OR_RETURN(
        train::TrainSummary gold_ts,
        train_rm(c, c.dir + "/stage2/gold-rm", gold_data, best_dir, c.o.gold_finetune_steps, c.o.rm.lr / 3));
    // Both are HF "final" folders of the same shape: named by their role (the project keys scores by name).
    SP_ASSIGN_OR_RETURN(std::string best_name, local_model_name(best_dir));
    SP_ASSIGN_OR_RETURN(std::string gold_name, local_model_name(gold_ts.final_dir));
    SP_ASSIGN_OR_RETURN(auto best, open_local_scorer(best_dir, c.o.rm.threads, "study-best-" + best_name));
    SP_ASSIGN_OR_RETURN(auto gold,
                        open_local_scorer(gold_ts.final_dir, c.o.rm.threads, "study-gold-" + gold_name));
    Stage2StepOptions so;
    SP_ASSIGN_OR_RETURN(Stage2StepSummary first, run_stage2_step(project, *best, *gold, so));
    if (!first.needs_llm_label.empty()) {
      c.say("  " + std::to_string(first.needs_llm_label.size()) +
            " pairs the best RM is unsure of: LLM labels");
      LabelStepOptions label;
      label.n = c.o.judge_samples;
      label.seed = c.o.seed;
      label.targets = first.needs_llm_label;
      SP_ASSIGN_OR_RETURN(auto labeled, run_label_step(project, c.judges, label));
      SP_RETURN_IF_ERROR(project.set_config("study/stage2_llm_labeled", std::to_string(labeled.labeled)));
      SP_ASSIGN_OR_RETURN(Stage2StepSummary second, run_stage2_step(project, *best, *gold, so));
      if (second.counts.undecided() > 0)
        return internal_error("stage 2 left " + std::to_string(second.counts.undecided()) +
                              " pairs undecided");
    }
    SP_RETURN_IF_ERROR(project.mark_step_done("study/stage2"));
  }
  SP_ASSIGN_OR_RETURN(auto llm, project.config("study/stage2_llm_labeled"));
  r.stage2_llm_labeled = llm ? std::stoll(*llm) : 0;
  SP_ASSIGN_OR_RETURN(auto decisions, project.decisions("stage2"));
  for (const Decision& d : decisions) (d.keep ? r.stage2_kept : r.stage2_dropped)++;
  return Status::ok();
}

// ---- 7. Evaluation sets.

struct Sets {
  std::map<std::string, int> gold;  // id -> human verdict
  std::vector<std::string> order;   // pool ids in a seeded random order (raw subsets)
};

// curated = `kept` (pool orientation) + gold (human orientation); with_flips adds `discards` swapped.
TrainSet curated_set(const Sets& s, const std::vector<std::string>& kept,
                     const std::vector<std::string>& discards, bool with_flips) {
  TrainSet t;
  t.orientation = s.gold;
  for (const auto& [id, v] : s.gold) t.ids.push_back(id);
  for (const auto& id : kept)
    if (!s.gold.count(id)) t.ids.push_back(id);
  if (with_flips) {
    for (const auto& id : discards) {
      if (s.gold.count(id)) continue;
      t.ids.push_back(id);
      t.orientation[id] = -1;
    }
  }
  return t;
}

TrainSet raw_set(const Sets& s, size_t n) {
  TrainSet t;
  t.ids.assign(s.order.begin(), s.order.begin() + static_cast<std::ptrdiff_t>(std::min(n, s.order.size())));
  return t;
}

Status evaluate_all(Ctx& c, const Project& project, StudyResult& r) {
  Sets sets;
  SP_ASSIGN_OR_RETURN(sets.gold, gold_verdicts(project));
  SP_ASSIGN_OR_RETURN(sets.order, shuffled_ids(project, c.o.seed ^ 0x7a3ULL));
  r.variants = {"raw", "curated", "curated + flipped"};
  r.fig7.assign(3, {});
  c.say("evaluation RMs (same recipe, from scratch) on " + std::to_string(c.o.test_pairs) +
        " clean held-out pairs");
  // Stage-1 rounds: silver + gold; discards = judge-rejected pairs.
  for (int round = 1; round <= c.o.rounds; ++round) {
    const std::string stage = "stage1-round-" + std::to_string(round);
    SP_ASSIGN_OR_RETURN(auto silver, read_ids(c.dir + "/sets/" + stage + ".silver.ids"));
    SP_ASSIGN_OR_RETURN(auto rejected, read_ids(c.dir + "/sets/" + stage + ".rejected.ids"));
    r.stages.push_back("S1 round " + std::to_string(round));
    TrainSet curated = curated_set(sets, silver, rejected, false);
    SP_ASSIGN_OR_RETURN(auto raw, evaluate(c, project, stage + "-raw", raw_set(sets, curated.ids.size())));
    SP_ASSIGN_OR_RETURN(auto cur, evaluate(c, project, stage + "-curated", curated));
    SP_ASSIGN_OR_RETURN(auto flip, evaluate(c, project, stage + "-curated-flipped",
                                            curated_set(sets, silver, rejected, true)));
    r.fig7[0].push_back(raw);
    r.fig7[1].push_back(cur);
    r.fig7[2].push_back(flip);
  }
  // Stage 2 scales the curated set up: stage 1's silver pairs, plus the pairs stage 2 keeps, plus
  // gold; discards = the pairs stage 2 drops that stage 1 had not curated.
  {
    SP_ASSIGN_OR_RETURN(auto decisions, project.decisions("stage2"));
    SP_ASSIGN_OR_RETURN(auto silver, project.members("silver"));
    std::unordered_set<std::string> silver_set(silver.begin(), silver.end());
    std::vector<std::string> kept = silver, dropped;
    for (const Decision& d : decisions) {
      if (silver_set.count(d.pair_id)) continue;
      (d.keep ? kept : dropped).push_back(d.pair_id);
    }
    r.stages.push_back("S2");
    TrainSet curated = curated_set(sets, kept, dropped, false);
    SP_ASSIGN_OR_RETURN(auto raw, evaluate(c, project, "stage2-raw", raw_set(sets, curated.ids.size())));
    SP_ASSIGN_OR_RETURN(auto cur, evaluate(c, project, "stage2-curated", curated));
    SP_ASSIGN_OR_RETURN(
        auto flip, evaluate(c, project, "stage2-curated-flipped", curated_set(sets, kept, dropped, true)));
    r.fig7[0].push_back(raw);
    r.fig7[1].push_back(cur);
    r.fig7[2].push_back(flip);
  }
  // Fig. 8: the ablation at the end of stage 1 (no curation = the whole raw pool).
  SP_ASSIGN_OR_RETURN(auto llm_only, read_ids(c.dir + "/sets/llm-only.ids"));
  r.ablation_steps = {"no curation", "LLM labels only", "+ human gold", "+ adaptive retrieval"};
  SP_ASSIGN_OR_RETURN(auto none, evaluate(c, project, "ablation-raw-pool", raw_set(sets, sets.order.size())));
  SP_ASSIGN_OR_RETURN(
      auto llm, evaluate(c, project, "ablation-llm-only", curated_set(Sets{{}, {}}, llm_only, {}, false)));
  SP_ASSIGN_OR_RETURN(auto with_gold,
                      evaluate(c, project, "ablation-llm-gold", curated_set(sets, llm_only, {}, false)));
  r.ablation = {none, llm, with_gold, r.fig7[1][static_cast<size_t>(c.o.rounds - 1)]};
  return Status::ok();
}

Status validate(const StudyOptions& o) {
  if (o.dir.empty()) return invalid_argument("dir is required");
  if (o.pool_pairs < 100) return invalid_argument("pool_pairs must be >= 100");
  if (o.test_pairs < 10) return invalid_argument("test_pairs must be >= 10");
  if (o.rounds < 1) return invalid_argument("rounds must be >= 1");
  if (o.seed_pairs < 1) return invalid_argument("seed_pairs must be >= 1");
  if (o.gold_budget < 1) return invalid_argument("gold_budget must be >= 1");
  if (o.rm.max_steps == 0) return invalid_argument("rm.max_steps must be >= 1");
  return Status::ok();
}

}  // namespace

Status write_study_report(const StudyResult& r, const StudyOptions& o, const std::string& path);

Result<StudyResult> run_study(const StudyOptions& o, judge::Client& judges, const StudyProgress& progress) {
  SP_RETURN_IF_ERROR(validate(o));
  const auto start = std::chrono::steady_clock::now();
  Ctx c{o, judges, progress, o.dir, ""};
  StudyResult r;
  std::error_code ec;
  fs::create_directories(o.dir + "/sets", ec);
  if (ec) return io_error(o.dir + "/sets: cannot create folder: " + ec.message());
  SP_RETURN_IF_ERROR(make_data(c, r));
  InitSummary init;
  SP_ASSIGN_OR_RETURN(auto project, Project::init(o.dir + "/project", {o.dir + "/pool.jsonl"}, {}, &init));
  r.pool_pairs = project->n_pairs();
  r.test_pairs = static_cast<int64_t>(o.test_pairs);
  // Flipped pairs that init dropped as duplicates of an earlier pair are not in the project.
  r.pool_flipped = 0;
  for (const std::string& id : c.flipped) {
    if (!project->row_of(id).is_ok()) continue;
    SP_ASSIGN_OR_RETURN(data::Record record, project->pair(id));
    ++r.flipped_by_category[record.attributes.task_category];
    ++r.pool_flipped;
  }
  SP_ASSIGN_OR_RETURN(bool attributes_done, project->step_done("study/attributes"));
  if (!attributes_done) {
    c.say("attributes: the first judge describes every pair (task category, objectivity, guideline)");
    SP_ASSIGN_OR_RETURN(auto a, run_attributes_step(*project, judges, {}));
    if (a.valid + a.already_done < r.pool_pairs * 9 / 10)
      return data_error("the judges gave attributes for only " + std::to_string(a.valid + a.already_done) +
                        " of " + std::to_string(r.pool_pairs) + " pairs (see " + a.rejects_path + ")");
    SP_RETURN_IF_ERROR(project->mark_step_done("study/attributes"));
  }
  SP_RETURN_IF_ERROR(seed_and_gold(c, *project, r));
  SP_RETURN_IF_ERROR(run_rounds(c, *project, r));
  SP_RETURN_IF_ERROR(run_stage2(c, *project, r));
  SP_RETURN_IF_ERROR(evaluate_all(c, *project, r));
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // study.json: the figures' numbers.
  json fig7 = json::object(), ablation = json::array();
  for (size_t v = 0; v < r.variants.size(); ++v) {
    json row = json::array();
    for (const HeldOut& h : r.fig7[v]) row.push_back(held_out_json(h));
    fig7[r.variants[v]] = row;
  }
  for (size_t i = 0; i < r.ablation.size(); ++i)
    ablation.push_back({{"step", r.ablation_steps[i]}, {"result", held_out_json(r.ablation[i])}});
  json out = {
      {"pool_pairs", r.pool_pairs},
      {"pool_flipped", r.pool_flipped},
      {"flipped_by_category", r.flipped_by_category},
      {"gold",
       {{"shown", r.gold.shown},
        {"decided", r.gold.decided},
        {"cannot_determine", r.gold.cannot_determine},
        {"wrong", r.gold.wrong},
        {"imported_pairs", r.gold_imported}}},
      {"stage2",
       {{"kept", r.stage2_kept}, {"dropped", r.stage2_dropped}, {"llm_labeled", r.stage2_llm_labeled}}},
      {"stages", r.stages},
      {"fig7", fig7},
      {"ablation", ablation}};
  SP_ASSIGN_OR_RETURN(auto w, io::Writer::open(o.dir + "/study.json"));
  w->append(out.dump(2) + "\n");
  SP_RETURN_IF_ERROR(w->close());
  r.report_path = o.dir + "/report.html";
  SP_RETURN_IF_ERROR(write_study_report(r, o, r.report_path));
  return r;
}

}  // namespace synpref::curate
