// src/curate/step_stage2.cpp: run_stage2_step (score with the best and gold RMs, decide every pair
// of a shard), merge_stage2_shards, and the two PairScorer back ends (in-process, reward servers).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <unordered_map>

#include "local_model.h"
#include "synpref/common/hash.h"
#include "synpref/common/io.h"
#include "synpref/curate/steps.h"
#include "synpref/score/scorer.h"

namespace synpref::curate {

namespace {

namespace fs = std::filesystem;

// ---- PairScorer back ends

class LocalScorer final : public PairScorer {
 public:
  LocalScorer(std::unique_ptr<score::Scorer> scorer, std::string name)
      : scorer_(std::move(scorer)), name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  Result<std::vector<std::array<double, 2>>> score(const std::vector<data::Record>& pairs) override {
    std::vector<std::array<double, 2>> out;
    size_t next_index = 0;
    auto next = [&](data::Record& record, encode::Origin&) -> Result<bool> {
      if (next_index == pairs.size()) return false;
      record = pairs[next_index++];
      return true;
    };
    score::ScoreStats stats;
    SP_RETURN_IF_ERROR(scorer_->score_records(
        next,
        [&](std::span<const score::Scored> chunk) -> Status {
          for (const score::Scored& scored : chunk) {
            if (scored.skipped || scored.scores.size() != 2) {
              return data_error("pair " + std::string(scored.id) + " was not scored (" +
                                std::string(scored.skip_reason) + ")");
            }
            out.push_back({scored.scores[0], scored.scores[1]});
          }
          return Status::ok();
        },
        stats));
    SP_CHECK(out.size() == pairs.size());
    return out;
  }

 private:
  std::unique_ptr<score::Scorer> scorer_;
  std::string name_;
};

class EndpointScorer final : public PairScorer {
 public:
  EndpointScorer(RmEndpointOptions options, encode::RmInputBuilder builder, std::string name)
      : options_(std::move(options)), builder_(std::move(builder)), name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  Result<std::vector<std::array<double, 2>>> score(const std::vector<data::Record>& pairs) override {
    std::vector<PairTexts> texts;
    for (const data::Record& pair : pairs) {
      PairTexts pair_texts;
      SP_ASSIGN_OR_RETURN(pair_texts.chosen, render(pair, 0));
      SP_ASSIGN_OR_RETURN(pair_texts.rejected, render(pair, 1));
      texts.push_back(std::move(pair_texts));
    }
    std::vector<RmScore> scores = score_pairs(texts, options_);
    std::vector<std::array<double, 2>> out;
    for (size_t i = 0; i < scores.size(); ++i) {
      if (!scores[i].ok) return io_error("pair " + pairs[i].id + " was not scored: " + scores[i].error);
      out.push_back({scores[i].chosen, scores[i].rejected});
    }
    return out;
  }

 private:
  Result<std::string> render(const data::Record& pair, size_t response) const {
    std::vector<data::Turn> conversation = pair.context;
    conversation.push_back({data::Role::assistant, pair.responses[response].content});
    auto text = builder_.render(conversation);
    if (!text.is_ok()) return text.status().with_context("pair " + pair.id);
    return text;
  }
  RmEndpointOptions options_;
  encode::RmInputBuilder builder_;
  std::string name_;
};

}  // namespace

// "<folder>@<12 hex>": the version changes whenever the config or a weight file changes size.
Result<std::string> local_model_name(const std::string& model_dir) {
  fs::path dir = fs::path(model_dir);
  std::string fingerprint;
  SP_ASSIGN_OR_RETURN(std::string config, io::read_file((dir / "config.json").string(), 1 << 20));
  fingerprint = config;
  std::vector<std::pair<std::string, uintmax_t>> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".safetensors")
      files.emplace_back(entry.path().filename(), entry.file_size(ec));
  }
  std::sort(files.begin(), files.end());
  for (const auto& [name, size] : files) fingerprint += "\n" + name + " " + std::to_string(size);
  std::string base = dir.filename().string();
  if (base.empty()) base = dir.parent_path().filename().string();
  return base + "@" + hash128(fingerprint).hex().substr(0, 12);
}

namespace {

// ---- Stage-2 run

struct ShardPairs {
  std::vector<std::string> ids;  // rows [range.begin, range.end)
  std::vector<double> best_chosen, best_rejected, gold_chosen, gold_rejected;
  std::vector<int8_t> llm;
  std::vector<uint16_t> category;
};

using ScoreMap = std::unordered_map<std::string, std::array<double, 2>>;

Result<ScoreMap> load_scores(const Project& project, const std::string& rm) {
  SP_ASSIGN_OR_RETURN(std::vector<Score> scores, project.scores(rm));
  ScoreMap map;
  for (const Score& score : scores) map[score.pair_id] = {score.chosen, score.rejected};
  return map;
}

// Scores the records RM `scorer` has no score for yet, one transaction per batch.
Status score_missing(Project& project, PairScorer& scorer, ScoreMap& known,
                     const std::vector<data::Record>& batch, int64_t& scored) {
  std::vector<data::Record> todo;
  for (const data::Record& record : batch) {
    if (!known.count(record.id)) todo.push_back(record);
  }
  if (todo.empty()) return Status::ok();
  auto scores = scorer.score(todo);
  if (!scores.is_ok()) return scores.status().with_context("scoring with " + scorer.name());
  std::vector<std::pair<std::string, std::array<double, 2>>> rows;
  for (size_t i = 0; i < todo.size(); ++i) {
    rows.emplace_back(todo[i].id, (*scores)[i]);
    known[todo[i].id] = (*scores)[i];
  }
  scored += static_cast<int64_t>(todo.size());
  return project.set_scores(scorer.name(), rows);
}

std::string shard_file_path(const Project& project, const std::string& stage, ShardSpec shard) {
  return project.dir() + "/stage2/" + stage + ".shard-" + std::to_string(shard.index) + "-of-" +
         std::to_string(shard.count) + ".tsv";
}

// Shard file: a header line "# synpref stage2 <stage> shard i/N rows B E", then "row\treason".
Status write_shard_file(const std::string& path, const std::string& stage, ShardSpec shard, RowRange range,
                        std::span<const uint8_t> reasons) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  SP_ASSIGN_OR_RETURN(auto writer, io::Writer::open(path));
  writer->buffer() += "# synpref stage2 " + stage + " shard " + std::to_string(shard.index) + "/" +
                      std::to_string(shard.count) + " rows " + std::to_string(range.begin) + " " +
                      std::to_string(range.end) + "\n";
  for (size_t i = 0; i < reasons.size(); ++i) {
    writer->buffer() += std::to_string(range.begin + static_cast<int64_t>(i)) + "\t" +
                        std::string(stage2_reason_name(Stage2Reason(reasons[i]))) + "\n";
    writer->maybe_flush();
  }
  return writer->close();
}

Result<ShardResult> read_shard_file(const std::string& path, const std::string& stage, ShardSpec shard) {
  std::ifstream in(path);
  if (!in)
    return not_found(path + ": shard result missing; run stage2 --shard " + std::to_string(shard.index) +
                     "/" + std::to_string(shard.count) + " first");
  std::string line;
  std::getline(in, line);
  const std::string header = "# synpref stage2 " + stage + " shard " + std::to_string(shard.index) + "/" +
                             std::to_string(shard.count) + " ";
  if (!line.starts_with(header))
    return data_error(path + ":1: not a stage2 shard file of " + header.substr(2));
  ShardResult result{shard, {}, {}};
  for (int64_t line_no = 2; std::getline(in, line); ++line_no) {
    size_t tab = line.find('\t');
    if (tab == std::string::npos)
      return data_error(path + ":" + std::to_string(line_no) + ": expected row<TAB>reason");
    auto reason = parse_stage2_reason(line.substr(tab + 1));
    if (!reason.is_ok()) return reason.status().with_context(path + ":" + std::to_string(line_no));
    int64_t row = 0;
    try {
      row = std::stoll(line.substr(0, tab));
    } catch (...) {
      return data_error(path + ":" + std::to_string(line_no) + ": row is not an integer");
    }
    result.rows.push_back(row);
    result.reasons.push_back(static_cast<uint8_t>(*reason));
  }
  return result;
}

Status record_decisions(Project& project, const std::string& stage, const std::vector<std::string>& ids,
                        std::span<const uint8_t> reasons) {
  std::vector<Decision> decisions;
  for (size_t i = 0; i < ids.size(); ++i) {
    Stage2Reason reason = Stage2Reason(reasons[i]);
    // Undecided pairs (pending label, missing score) get no decision: they are neither kept nor
    // flipped until a rerun decides them.
    if (!is_decided(reason)) continue;
    decisions.push_back({ids[i], is_kept(reason), std::string(stage2_reason_name(reason))});
  }
  return project.set_decisions(stage, decisions);
}

Status write_pending_file(const Project& project, const Stage2StepOptions& options,
                          Stage2StepSummary& summary) {
  std::string path = project.dir() + "/stage2/" + options.stage;
  if (options.shard.count > 1) {
    path += ".shard-" + std::to_string(options.shard.index) + "-of-" + std::to_string(options.shard.count);
  }
  path += ".pending.txt";
  std::error_code ec;
  if (summary.needs_llm_label.empty()) {
    fs::remove(path, ec);
    return Status::ok();
  }
  fs::create_directories(fs::path(path).parent_path(), ec);
  SP_ASSIGN_OR_RETURN(auto writer, io::Writer::open(path));
  for (const std::string& id : summary.needs_llm_label) {
    writer->buffer() += id;
    writer->buffer() += '\n';
    writer->maybe_flush();
  }
  SP_RETURN_IF_ERROR(writer->close());
  summary.pending_file = path;
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<PairScorer>> open_local_scorer(const std::string& model_dir, int n_threads) {
  SP_ASSIGN_OR_RETURN(std::string name, local_model_name(model_dir));
  return open_local_scorer(model_dir, n_threads, name);
}

Result<std::unique_ptr<PairScorer>> open_local_scorer(const std::string& model_dir, int n_threads,
                                                      const std::string& name) {
  score::ScorerOptions options;
  options.model_dir = model_dir;
  options.n_threads = n_threads;
  SP_ASSIGN_OR_RETURN(auto scorer, score::Scorer::open(options));
  return std::unique_ptr<PairScorer>(new LocalScorer(std::move(scorer), std::move(name)));
}

Result<std::unique_ptr<PairScorer>> open_endpoint_scorer(const RmEndpointOptions& options,
                                                         const std::string& tokenizer_dir,
                                                         const std::string& name_version) {
  SP_RETURN_IF_ERROR(validate(options));
  encode::RmInputSettings settings;
  settings.tokenizer_dir = tokenizer_dir;
  SP_ASSIGN_OR_RETURN(auto builder, encode::open_builder(settings));
  std::string name = (options.model.empty() ? std::string("rm") : options.model) + "@" + name_version;
  return std::unique_ptr<PairScorer>(new EndpointScorer(options, std::move(builder), std::move(name)));
}

Result<Stage2StepSummary> run_stage2_step(Project& project, PairScorer& best, PairScorer& gold,
                                          const Stage2StepOptions& options, const StepProgress& progress) {
  SP_RETURN_IF_ERROR(validate(options.rule));
  if (options.chunk_pairs < 1) return invalid_argument("chunk_pairs must be >= 1");
  if (options.stage.empty()) return invalid_argument("stage is required");
  if (best.name() == gold.name())
    return invalid_argument("the best RM and the gold RM are the same model (" + best.name() + ")");
  const RowRange range = shard_rows(project.n_pairs(), options.shard);
  Stage2StepSummary summary;
  summary.rows = range.end - range.begin;

  // 1. Score what the project has no scores for yet (a rerun scores nothing twice).
  SP_ASSIGN_OR_RETURN(ScoreMap best_scores, load_scores(project, best.name()));
  SP_ASSIGN_OR_RETURN(ScoreMap gold_scores, load_scores(project, gold.name()));
  ShardPairs pairs;
  std::vector<data::Record> batch;
  auto flush = [&]() -> Status {
    SP_RETURN_IF_ERROR(score_missing(project, best, best_scores, batch, summary.scored_best));
    SP_RETURN_IF_ERROR(score_missing(project, gold, gold_scores, batch, summary.scored_gold));
    batch.clear();
    if (progress) progress(pairs.ids.size(), static_cast<size_t>(summary.rows));
    return Status::ok();
  };
  SP_RETURN_IF_ERROR(
      project.for_each_pair_in(range.begin, range.end, [&](int64_t, const data::Record& record) -> Status {
        pairs.ids.push_back(record.id);
        batch.push_back(record);
        if (static_cast<int64_t>(batch.size()) >= options.chunk_pairs) return flush();
        return Status::ok();
      }));
  SP_RETURN_IF_ERROR(flush());

  // 2. Columns: scores, LLM verdicts, categories.
  SP_ASSIGN_OR_RETURN(auto verdicts, silver_verdicts(project, options.aggregate));
  SP_ASSIGN_OR_RETURN(auto attributes, project.attributes());
  // Category ids in name order; one past the last is "no category".
  std::map<std::string, uint16_t> category_ids;
  for (const auto& [id, attrs] : attributes) {
    if (!attrs.task_category.empty()) category_ids.emplace(attrs.task_category, 0);
  }
  uint16_t next_id = 0;
  for (auto& [name, id] : category_ids) {
    id = next_id++;
    summary.categories.push_back(name);
  }
  summary.categories.push_back("");
  std::unordered_map<std::string, uint16_t> category_of;
  for (const auto& [id, attrs] : attributes) {
    if (!attrs.task_category.empty()) category_of[id] = category_ids[attrs.task_category];
  }
  const size_t n = pairs.ids.size();
  for (const std::string& id : pairs.ids) {
    auto b = best_scores.find(id);
    auto g = gold_scores.find(id);
    pairs.best_chosen.push_back(b == best_scores.end() ? NAN : b->second[0]);
    pairs.best_rejected.push_back(b == best_scores.end() ? NAN : b->second[1]);
    pairs.gold_chosen.push_back(g == gold_scores.end() ? NAN : g->second[0]);
    pairs.gold_rejected.push_back(g == gold_scores.end() ? NAN : g->second[1]);
    auto v = verdicts.find(id);
    pairs.llm.push_back(v == verdicts.end() ? kLlmMissing : static_cast<int8_t>(v->second));
    auto c = category_of.find(id);
    pairs.category.push_back(c == category_of.end() ? next_id : c->second);
  }

  // 3. Decide, count, record.
  std::vector<uint8_t> reasons(n);
  decide_chunk({pairs.best_chosen, pairs.best_rejected, pairs.gold_chosen, pairs.gold_rejected, pairs.llm},
               options.rule, reasons);
  count_reasons(reasons, pairs.category, next_id, summary.counts);
  for (size_t i = 0; i < n; ++i) {
    if (Stage2Reason(reasons[i]) == Stage2Reason::pending_llm_label)
      summary.needs_llm_label.push_back(pairs.ids[i]);
  }
  SP_RETURN_IF_ERROR(write_pending_file(project, options, summary));
  if (options.shard.count == 1) {
    SP_RETURN_IF_ERROR(record_decisions(project, options.stage, pairs.ids, reasons));
  } else {
    summary.shard_file = shard_file_path(project, options.stage, options.shard);
    SP_RETURN_IF_ERROR(write_shard_file(summary.shard_file, options.stage, options.shard, range, reasons));
  }
  return summary;
}

Result<Stage2Counts> merge_stage2_shards(Project& project, const std::string& stage, int shard_count) {
  if (shard_count < 1) return invalid_argument("shard count must be >= 1");
  std::vector<ShardResult> shards;
  for (int index = 0; index < shard_count; ++index) {
    ShardSpec shard{index, shard_count};
    SP_ASSIGN_OR_RETURN(ShardResult result,
                        read_shard_file(shard_file_path(project, stage, shard), stage, shard));
    shards.push_back(std::move(result));
  }
  SP_ASSIGN_OR_RETURN(std::vector<uint8_t> reasons, merge_shards(shards, project.n_pairs()));
  SP_ASSIGN_OR_RETURN(std::vector<PairRef> refs, project.pair_refs(0, project.n_pairs()));
  std::vector<std::string> ids;
  ids.reserve(refs.size());
  for (PairRef& ref : refs) ids.push_back(std::move(ref.id));
  SP_CHECK(ids.size() == reasons.size());
  SP_RETURN_IF_ERROR(record_decisions(project, stage, ids, reasons));
  Stage2Counts counts;
  count_reasons(reasons, {}, 0, counts);
  return counts;
}

}  // namespace synpref::curate
