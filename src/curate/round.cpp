// src/curate/round.cpp: one stage-1 round (round.h): train on silver, score gold, retrieve near the
// errors, label, record.
#include "synpref/curate/round.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "synpref/common/hash.h"
#include "synpref/common/io.h"
#include "synpref/data/writer.h"

namespace synpref::curate {

namespace fs = std::filesystem;
using nlohmann::json;

Result<std::map<std::string, int>> gold_verdicts(const Project& project) {
  std::map<std::string, int> sum;
  SP_RETURN_IF_ERROR(project.for_each_label("gold", [&](int64_t, const Label& label) -> Status {
    sum[label.pair_id] += label.verdict;
    return Status::ok();
  }));
  SP_ASSIGN_OR_RETURN(auto members, project.members("gold"));
  std::map<std::string, int> out;
  for (const std::string& id : members) {
    auto it = sum.find(id);
    if (it != sum.end() && it->second != 0) out[id] = it->second > 0 ? 1 : -1;
  }
  return out;
}

Result<int64_t> write_oriented_pairs(const Project& project, const std::vector<std::string>& ids,
                                     const std::map<std::string, int>& verdict, const std::string& path) {
  std::unordered_set<std::string> wanted(ids.begin(), ids.end());
  SP_ASSIGN_OR_RETURN(auto writer, io::Writer::open(path));
  int64_t written = 0;
  SP_RETURN_IF_ERROR(project.for_each_pair([&](int64_t, const data::Record& record) -> Status {
    if (!wanted.count(record.id)) return Status::ok();
    auto it = verdict.find(record.id);
    if (it != verdict.end() && it->second < 0) {
      data::Record swapped = record;
      std::swap(swapped.responses[0], swapped.responses[1]);
      if (swapped.margin) swapped.margin = -*swapped.margin;
      data::append_canonical(writer->buffer(), swapped);
    } else {
      data::append_canonical(writer->buffer(), record);
    }
    writer->maybe_flush();
    ++written;
    return Status::ok();
  }));
  SP_RETURN_IF_ERROR(writer->close());
  return written;
}

int retrieval_k(double p, int k_max) {
  if (!(p > 0.5)) return k_max;  // wrong, undecided, or NaN: the full k
  // ceil(k_max * (1 - p)); the epsilon keeps exact products (p = 0.75, k = 8 -> 2) from rounding up.
  return static_cast<int>(std::ceil(k_max * (1.0 - p) - 1e-9));
}

Result<int> finished_rounds(const Project& project, const std::string& stage) {
  int n = 0;
  for (;;) {
    SP_ASSIGN_OR_RETURN(bool done, project.step_done(stage + "/round-" + std::to_string(n + 1)));
    if (!done) return n;
    ++n;
  }
}

namespace {

Status validate(const RoundOptions& o) {
  if (o.k_max < 1) return invalid_argument("k_max must be >= 1");
  if (o.stage.empty()) return invalid_argument("stage is required");
  if (o.embedding != "rm" && o.embedding != "endpoint")
    return invalid_argument("embedding must be \"rm\" or \"endpoint\", not \"" + o.embedding + "\"");
  if (o.embedding == "endpoint" && o.endpoint.base_url.empty())
    return invalid_argument("endpoint.base_url is required with embedding = endpoint");
  if (o.seed_pairs < 0) return invalid_argument("seed_pairs must be >= 0");
  if (o.train.max_steps == 0)
    return invalid_argument("train.max_steps must be >= 1 (the round trains a fixed budget)");
  return Status::ok();
}

// Pairs with a silver aggregate label (asked of the judges already).
Result<std::unordered_set<std::string>> labeled_pairs(const Project& project) {
  std::unordered_set<std::string> out;
  SP_RETURN_IF_ERROR(project.for_each_label("silver_aggregate", [&](int64_t, const Label& label) -> Status {
    out.insert(label.pair_id);
    return Status::ok();
  }));
  return out;
}

// The seed set: seed_pairs non-gold pairs in the order of a seeded hash of their ids.
Result<std::vector<std::string>> seed_targets(const Project& project, const std::set<std::string>& gold,
                                              int64_t n, uint64_t seed) {
  std::vector<std::pair<uint64_t, std::string>> order;
  SP_ASSIGN_OR_RETURN(auto refs, project.pair_refs(0, project.n_pairs()));
  for (auto& ref : refs)
    if (!gold.count(ref.id)) order.emplace_back(hash64(ref.id, seed ^ 0x5eed), std::move(ref.id));
  std::sort(order.begin(), order.end());
  std::vector<std::string> out;
  for (int64_t i = 0; i < n && i < static_cast<int64_t>(order.size()); ++i)
    out.push_back(order[size_t(i)].second);
  return out;
}

// Trains (or resumes, or finds finished) the round's RM. Returns the chosen checkpoint folder.
Result<train::TrainSummary> train_round_rm(const RoundOptions& o, const std::string& round_dir,
                                           const std::string& silver_path, const std::string& gold_path) {
  train::TrainOptions t = o.train;
  t.data = {silver_path};
  t.eval_data = {gold_path};
  t.out_dir = round_dir + "/rm";
  t.best_metric = "eval_accuracy";
  if (t.eval_every == 0) t.eval_every = std::max<uint64_t>(1, t.max_steps / 10);
  t.progress = false;
  const bool started = fs::exists(t.out_dir + "/latest") || fs::exists(t.out_dir + "/summary.json");
  t.resume = started;
  t.overwrite = !started;
  return train::run_training(t);
}

// The RM's name in the project: "<stage>-round-<N>@<12 hex of the weights>".
Result<std::string> round_rm_name(const std::string& stage, int round, const std::string& rm_dir) {
  Hasher h;
  SP_ASSIGN_OR_RETURN(std::string config, io::read_file(rm_dir + "/config.json", 1 << 20));
  h.add_field(config);
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(rm_dir))
    if (entry.path().extension() == ".safetensors") files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    SP_ASSIGN_OR_RETURN(std::string bytes, io::read_file(f, uint64_t(1) << 40));
    h.add_field(bytes);
  }
  return stage + "-round-" + std::to_string(round) + "@" + h.digest().hex().substr(0, 12);
}

struct GoldScore {
  std::string id;
  int64_t row = -1;
  int verdict = 0;
  double p = 0.5;  // P(the human's choice is better) under the round's RM
  data::Attributes attributes;
};

// Scores the gold pairs (stored under the RM's name) and returns p per pair.
Result<std::vector<GoldScore>> score_gold(Project& project, PairScorer& scorer,
                                          const std::map<std::string, int>& verdicts) {
  std::vector<data::Record> records;
  std::vector<GoldScore> out;
  for (const auto& [id, verdict] : verdicts) {
    SP_ASSIGN_OR_RETURN(data::Record record, project.pair(id));
    SP_ASSIGN_OR_RETURN(int64_t row, project.row_of(id));
    SP_ASSIGN_OR_RETURN(auto attrs, project.attributes_of(id));
    out.push_back({id, row, verdict, 0.5, attrs ? *attrs : record.attributes});
    records.push_back(std::move(record));
  }
  SP_ASSIGN_OR_RETURN(auto scores, scorer.score(records));
  std::vector<std::pair<std::string, std::array<double, 2>>> stored;
  for (size_t i = 0; i < out.size(); ++i) {
    const double margin = (scores[i][0] - scores[i][1]) * out[i].verdict;
    out[i].p = 1.0 / (1.0 + std::exp(-margin));
    stored.push_back({out[i].id, scores[i]});
  }
  SP_RETURN_IF_ERROR(project.set_scores(scorer.name(), stored));
  return out;
}

std::vector<Weakness> weaknesses_of(const std::vector<GoldScore>& gold) {
  std::vector<Weakness> out;
  for (const char* field : {"task_category", "objectivity", "controversiality"}) {
    std::map<std::string, Weakness> by_value;
    for (const GoldScore& g : gold) {
      const std::string& value = std::string(field) == "task_category" ? g.attributes.task_category
                                 : std::string(field) == "objectivity" ? g.attributes.objectivity
                                                                       : g.attributes.controversiality;
      Weakness& w = by_value[value];
      w.field = field;
      w.value = value;
      ++w.gold;
      w.correct += g.p > 0.5;
      w.mean_p += g.p;
    }
    std::vector<Weakness> slice;
    for (auto& [value, w] : by_value) {
      w.accuracy = double(w.correct) / double(w.gold);
      w.mean_p /= double(w.gold);
      slice.push_back(w);
    }
    std::stable_sort(slice.begin(), slice.end(),
                     [](const Weakness& a, const Weakness& b) { return a.accuracy < b.accuracy; });
    out.insert(out.end(), slice.begin(), slice.end());
  }
  return out;
}

Result<std::unique_ptr<Embedder>> open_embedder(const RoundOptions& o, const std::string& rm_dir,
                                                const std::string& rm_name) {
  if (o.embedding == "endpoint") return open_endpoint_embedder(o.endpoint);
  return open_rm_embedder(rm_dir, rm_name, o.train.threads);
}

// Retrieval: the targets of the round and one JSON line per gold pair (retrieval.jsonl).
struct Retrieval {
  std::vector<std::string> targets;
  std::string lines;
  std::string index_kind;
  int64_t index_size = 0;
};

Result<Retrieval> retrieve(Project& project, const RoundOptions& o, const std::string& rm_dir,
                           const std::string& rm_name, const std::vector<GoldScore>& gold,
                           const RoundProgress& progress) {
  SP_ASSIGN_OR_RETURN(auto embedder, open_embedder(o, rm_dir, rm_name));
  SP_ASSIGN_OR_RETURN(auto index, open_pool_index(project, *embedder, o.index));
  SP_RETURN_IF_ERROR(update_pool_index(project, *embedder, *index, o.index, [&](size_t done, size_t total) {
    if (progress) progress("embed", done, total);
  }));
  std::unordered_map<int64_t, size_t> position;
  for (size_t i = 0; i < index->rows().size(); ++i) position[index->rows()[i]] = i;
  SP_ASSIGN_OR_RETURN(auto gold_members, project.members("gold"));
  std::unordered_set<int64_t> excluded;
  for (const auto& id : gold_members) {
    SP_ASSIGN_OR_RETURN(int64_t row, project.row_of(id));
    excluded.insert(row);
  }
  SP_ASSIGN_OR_RETURN(auto labeled, labeled_pairs(project));
  for (const auto& id : labeled) {
    SP_ASSIGN_OR_RETURN(int64_t row, project.row_of(id));
    excluded.insert(row);
  }
  // Pairs the label step cannot label (no attributes with an annotation guideline) are not retrieved.
  std::unordered_set<std::string> labelable;
  SP_ASSIGN_OR_RETURN(auto attributes, project.attributes());
  for (const auto& [id, a] : attributes)
    if (!a.annotation_guideline.empty()) labelable.insert(id);
  SP_ASSIGN_OR_RETURN(auto refs, project.pair_refs(0, project.n_pairs()));
  for (const PairRef& ref : refs)
    if (!labelable.count(ref.id)) excluded.insert(ref.row);
  Retrieval r;
  r.index_kind = index->kind();
  r.index_size = index->size();
  std::set<int64_t> chosen;
  const int64_t dim = index->dim();
  for (const GoldScore& g : gold) {
    const int k = retrieval_k(g.p, o.k_max);
    json line = {{"gold_id", g.id}, {"p", g.p}, {"k", k}, {"neighbours", json::array()}};
    if (k > 0) {
      auto pos = position.find(g.row);
      SP_CHECK(pos != position.end());  // update_pool_index embedded every row
      std::span<const float> query(index->vectors().data() + pos->second * size_t(dim), size_t(dim));
      SP_ASSIGN_OR_RETURN(auto hits,
                          index->search(query, k, [&](int64_t row) { return excluded.count(row) != 0; }));
      for (const Neighbor& n : hits[0]) {
        SP_ASSIGN_OR_RETURN(std::string id, project.id_at(n.row));
        line["neighbours"].push_back({{"id", id}, {"similarity", n.similarity}});
        chosen.insert(n.row);
      }
    }
    r.lines += line.dump() + "\n";
  }
  for (int64_t row : chosen) {
    SP_ASSIGN_OR_RETURN(std::string id, project.id_at(row));
    r.targets.push_back(std::move(id));
  }
  return r;
}

json summary_json(const RoundSummary& s) {
  json weak = json::array();
  for (const Weakness& w : s.weaknesses)
    weak.push_back({{"field", w.field},
                    {"value", w.value},
                    {"gold", w.gold},
                    {"correct", w.correct},
                    {"accuracy", w.accuracy},
                    {"mean_p", w.mean_p}});
  return {{"round", s.round},
          {"rm", s.rm_name},
          {"rm_dir", s.rm_dir},
          {"rm_step", s.rm_step},
          {"seed_labeled", s.seed_labeled},
          {"silver_before", s.silver_before},
          {"silver_after", s.silver_after},
          {"gold_pairs", s.gold_pairs},
          {"gold_correct", s.gold_correct},
          {"gold_accuracy", s.gold_accuracy},
          {"weaknesses", weak},
          {"queries_wrong", s.queries_wrong},
          {"retrieved", s.retrieved},
          {"retrieved_by_category", s.retrieved_by_category},
          {"index", {{"kind", s.index_kind}, {"size", s.index_size}}},
          {"labeled", s.label.labeled},
          {"already_labeled", s.label.already_labeled},
          {"added_to_silver", s.label.agree},
          {"judges_disagree", s.label.disagree},
          {"judges_abstain", s.label.abstain},
          {"retrieval", s.retrieval_path}};
}

Result<std::vector<std::string>> stored_targets(const Project& project, const std::string& key) {
  SP_ASSIGN_OR_RETURN(auto value, project.config(key));
  std::vector<std::string> out;
  if (!value) return out;
  auto j = json::parse(*value, nullptr, false);
  if (j.is_discarded() || !j.is_array())
    return data_error("project config `" + key + "` is not a list of ids");
  for (const auto& id : j) out.push_back(id.get<std::string>());
  return out;
}

}  // namespace

std::string round_summary_json(const RoundSummary& summary) {
  return summary_json(summary).dump();
}

Result<RoundSummary> run_round(Project& project, judge::Client& client, const RoundOptions& o,
                               const RoundProgress& progress) {
  SP_RETURN_IF_ERROR(validate(o));
  RoundSummary s;
  SP_ASSIGN_OR_RETURN(int done_rounds, finished_rounds(project, o.stage));
  s.round = done_rounds + 1;
  const std::string marker = o.stage + "/round-" + std::to_string(s.round);
  const std::string round_dir = project.dir() + "/rounds/" + o.stage + "-round-" + std::to_string(s.round);
  std::error_code ec;
  fs::create_directories(round_dir, ec);
  if (ec) return io_error(round_dir + ": cannot create folder: " + ec.message());
  SP_ASSIGN_OR_RETURN(int64_t run_id,
                      project.begin_run("curate round", json{{"stage", o.stage}, {"round", s.round}}.dump()));
  SP_ASSIGN_OR_RETURN(int64_t round_id, project.begin_round(run_id, o.stage));
  auto fail = [&](Status status) -> Status {
    (void)project.end_round(round_id, "failed", json{{"error", status.message()}}.dump());
    (void)project.end_run(run_id, "failed");
    return status;
  };
  auto body = [&]() -> Status {
    // 0. Gold and silver.
    SP_ASSIGN_OR_RETURN(auto verdicts, gold_verdicts(project));
    if (verdicts.empty())
      return invalid_argument("the gold set is empty: import human verdicts first (curate gold)");
    std::set<std::string> gold_ids;
    for (const auto& [id, v] : verdicts) gold_ids.insert(id);
    SP_ASSIGN_OR_RETURN(auto silver, project.members("silver"));
    if (silver.empty() && o.seed_pairs > 0) {
      if (progress) progress("seed", 0, size_t(o.seed_pairs));
      LabelStepOptions label = o.label;
      SP_ASSIGN_OR_RETURN(label.targets, seed_targets(project, gold_ids, o.seed_pairs, o.seed));
      SP_ASSIGN_OR_RETURN(LabelStepSummary seeded, run_label_step(project, client, label));
      s.seed_labeled = seeded.labeled;
      if (seeded.labeled == 0 && seeded.no_attributes > 0)
        return invalid_argument(std::to_string(seeded.no_attributes) +
                                " seed pairs have no attributes (with an annotation guideline): run curate "
                                "attributes first");
      SP_ASSIGN_OR_RETURN(silver, project.members("silver"));
    }
    if (silver.empty())
      return invalid_argument(
          "the silver set is empty: label a seed set first (seed_pairs, or curate label)");
    s.silver_before = static_cast<int64_t>(silver.size());

    // 1. Train on silver; the checkpoint with the best gold accuracy.
    const std::string silver_path = round_dir + "/silver.jsonl", gold_path = round_dir + "/gold.jsonl";
    const bool trained = fs::exists(round_dir + "/rm/summary.json");
    if (!trained) {
      SP_RETURN_IF_ERROR(write_oriented_pairs(project, silver, {}, silver_path).status());
      std::vector<std::string> gold_list(gold_ids.begin(), gold_ids.end());
      SP_RETURN_IF_ERROR(write_oriented_pairs(project, gold_list, verdicts, gold_path).status());
    }
    if (progress) progress("train", 0, o.train.max_steps);
    SP_ASSIGN_OR_RETURN(train::TrainSummary ts, train_round_rm(o, round_dir, silver_path, gold_path));
    s.rm_dir = !ts.best_dir.empty() && fs::exists(ts.best_dir + "/config.json") ? ts.best_dir : ts.final_dir;
    s.rm_step = s.rm_dir == ts.final_dir ? ts.steps : ts.best_step;
    SP_ASSIGN_OR_RETURN(s.rm_name, round_rm_name(o.stage, s.round, s.rm_dir));

    // 2. p per gold pair, weaknesses.
    if (progress) progress("score gold", 0, verdicts.size());
    SP_ASSIGN_OR_RETURN(auto scorer, open_local_scorer(s.rm_dir, o.train.threads, s.rm_name));
    SP_ASSIGN_OR_RETURN(auto gold, score_gold(project, *scorer, verdicts));
    scorer.reset();
    s.gold_pairs = static_cast<int64_t>(gold.size());
    for (const GoldScore& g : gold) {
      s.gold_correct += g.p > 0.5;
      s.queries_wrong += g.p <= 0.5;
    }
    s.gold_accuracy = double(s.gold_correct) / double(std::max<int64_t>(1, s.gold_pairs));
    s.weaknesses = weaknesses_of(gold);

    // 3. Retrieval (targets stored before any is labeled, so a rerun labels the same ones).
    const std::string targets_key = marker + "/targets";
    SP_ASSIGN_OR_RETURN(auto targets, stored_targets(project, targets_key));
    s.retrieval_path = round_dir + "/retrieval.jsonl";
    SP_ASSIGN_OR_RETURN(auto stored, project.config(targets_key));
    if (!stored.has_value()) {
      SP_ASSIGN_OR_RETURN(Retrieval r, retrieve(project, o, s.rm_dir, s.rm_name, gold, progress));
      SP_ASSIGN_OR_RETURN(auto w, io::Writer::open(s.retrieval_path));
      w->append(r.lines);
      SP_RETURN_IF_ERROR(w->close());
      SP_RETURN_IF_ERROR(
          project.set_config(marker + "/index", json{{"kind", r.index_kind}, {"size", r.index_size}}.dump()));
      SP_RETURN_IF_ERROR(project.set_config(targets_key, json(r.targets).dump()));
      targets = std::move(r.targets);
    }
    SP_ASSIGN_OR_RETURN(auto index_info, project.config(marker + "/index"));
    if (index_info) {
      auto j = json::parse(*index_info, nullptr, false);
      if (j.is_object()) {
        s.index_kind = j.value("kind", "");
        s.index_size = j.value("size", int64_t(0));
      }
    }
    s.retrieved = static_cast<int64_t>(targets.size());
    for (const std::string& id : targets) {
      SP_ASSIGN_OR_RETURN(auto attrs, project.attributes_of(id));
      ++s.retrieved_by_category[attrs ? attrs->task_category : ""];
    }

    // 4. Label them; judge-agreed pairs join silver.
    if (progress) progress("label", 0, targets.size());
    LabelStepOptions label = o.label;
    label.targets = targets;
    SP_ASSIGN_OR_RETURN(s.label, run_label_step(project, client, label, [&](size_t done, size_t total) {
                          if (progress) progress("label", done, total);
                        }));
    SP_ASSIGN_OR_RETURN(auto silver_after, project.members("silver"));
    s.silver_after = static_cast<int64_t>(silver_after.size());

    // 5. Record.
    s.summary_path = round_dir + "/summary.json";
    const json summary = summary_json(s);
    SP_ASSIGN_OR_RETURN(auto w, io::Writer::open(s.summary_path));
    w->append(summary.dump(2) + "\n");
    SP_RETURN_IF_ERROR(w->close());
    SP_RETURN_IF_ERROR(project.add_usage(
        run_id, {JudgeUsage{"", s.label.usage.requests, s.label.usage.cached, s.label.usage.retries,
                            s.label.usage.failures, s.label.usage.prompt_tokens,
                            s.label.usage.completion_tokens, s.label.usage.cost_usd}}));
    SP_RETURN_IF_ERROR(project.end_round(round_id, "ok", summary.dump()));
    SP_RETURN_IF_ERROR(project.mark_step_done(marker, run_id));
    return project.end_run(run_id, "ok");
  };
  Status status = body();
  if (!status.is_ok()) return fail(status);
  return s;
}

}  // namespace synpref::curate
