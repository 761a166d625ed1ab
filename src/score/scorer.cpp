// Records -> RM inputs -> packed engine batches -> scores, in input order (see scorer.h).
#include "synpref/score/scorer.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "synpref/common/progress.h"
#include "synpref/common/threads.h"
#include "synpref/model/model.h"
#include "synpref/tokenizer/tokenizer.h"

namespace synpref::score {

Status ScorerOptions::validate() const {
  if (model_dir.empty()) return invalid_argument("model_dir is required");
  SP_RETURN_IF_ERROR(check_threads(n_threads, "n_threads"));
  if (max_tokens_per_batch < 1) return invalid_argument("max_tokens_per_batch must be >= 1");
  if (chunk_records < 1) return invalid_argument("chunk_records must be >= 1");
  if (input.max_length < 1) return invalid_argument("max_length must be >= 1");
  return Status::ok();
}

namespace {

// A built record waiting for its chunk to be scored.
struct Pending {
  uint64_t index = 0;
  std::string id;
  encode::Origin origin;
  bool has_origin = false;
  bool pair = false;
  encode::RmInput input;
  bool resumed = false;
  std::vector<float> scores;
};

uint64_t token_count(const encode::RmInput& input) {
  uint64_t n = input.prefix.size();
  for (const auto& suffix : input.suffixes) n += suffix.size();
  return n;
}

// Renders and encodes a probe conversation: the check that the template and tokenizer produce
// input the model can read.
Status probe_inputs(const encode::RmInputBuilder& builder, int64_t vocab_size) {
  const std::vector<data::Turn> context = {{data::Role::user, "Hello, can you help me?"}};
  const std::vector<std::string> responses = {"Of course. What do you need?"};
  auto input = builder.build(context, responses, "probe conversation");
  if (!input.is_ok()) return input.status().with_context("chat template");
  for (const auto* ids : {&input->prefix, &input->suffixes[0]}) {
    for (int32_t id : *ids) {
      if (id < 0 || id >= vocab_size) {
        return data_error("the tokenizer gives id " + std::to_string(id) +
                          " for a probe conversation, outside the model's vocabulary of " +
                          std::to_string(vocab_size) + " (tokenizer and weights do not belong together)");
      }
    }
  }
  return Status::ok();
}

}  // namespace

struct Scorer::Impl {
  ScorerOptions options;
  encode::RmInputBuilder builder;
  std::unique_ptr<model::Model> model;
  std::vector<Pending> pending;
  size_t pending_to_score = 0;  // pending records the engine must score
  size_t resume_next = 0;

  Impl(ScorerOptions o, encode::RmInputBuilder b, std::unique_ptr<model::Model> m)
      : options(std::move(o)), builder(std::move(b)), model(std::move(m)) {}

  Status accept(Pending&& p, const Resume* resume, const Sink& sink, ScoreStats& stats);
  Status flush(const Sink& sink, ScoreStats& stats);
  Status check_finite(const Pending& p) const;
};

Scorer::Scorer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Scorer::~Scorer() = default;
const model::Model& Scorer::model() const {
  return *impl_->model;
}
const encode::RmInputBuilder& Scorer::builder() const {
  return impl_->builder;
}
const ScorerOptions& Scorer::options() const {
  return impl_->options;
}

Result<std::unique_ptr<Scorer>> Scorer::open(const ScorerOptions& options) {
  // Cheap checks first, then the model (the costly load), then what reads the records.
  SP_RETURN_IF_ERROR(options.validate());
  encode::RmInputSettings settings = options.input;
  if (settings.tokenizer_dir.empty()) settings.tokenizer_dir = options.model_dir;
  SP_RETURN_IF_ERROR(encode::resolve_options(settings).status());
  model::LoadOptions load_options;
  load_options.n_threads = options.n_threads;
  SP_ASSIGN_OR_RETURN(std::unique_ptr<model::Model> engine,
                      model::Model::load(options.model_dir, load_options));
  if (!engine->has_score_head()) {
    return not_found(options.model_dir + ": the model has no score head (" + engine->config().architecture +
                     "); scoring needs a *ForSequenceClassification checkpoint with score.weight");
  }
  SP_ASSIGN_OR_RETURN(encode::RmInputBuilder builder, encode::open_builder(settings));
  SP_RETURN_IF_ERROR(probe_inputs(builder, engine->config().vocab_size));
  return std::unique_ptr<Scorer>(
      new Scorer(std::make_unique<Impl>(options, std::move(builder), std::move(engine))));
}

Status Scorer::Impl::check_finite(const Pending& p) const {
  for (size_t k = 0; k < p.scores.size(); ++k) {
    if (std::isfinite(p.scores[k])) continue;
    const std::string where = p.has_origin ? p.origin.describe(p.index) + ": " : "";
    return data_error(where + "record " + p.id + ": the model scored response " + std::to_string(k) + " as " +
                      (std::isnan(p.scores[k]) ? "NaN" : "infinity") +
                      "; its weights are broken (no score of this chunk was written)");
  }
  return Status::ok();
}

Status Scorer::Impl::flush(const Sink& sink, ScoreStats& stats) {
  if (pending.empty()) return Status::ok();
  if (pending_to_score > 0) {
    std::vector<model::ScoreGroup> groups;
    std::vector<size_t> group_of;
    groups.reserve(pending_to_score);
    for (size_t i = 0; i < pending.size(); ++i) {
      const Pending& p = pending[i];
      if (p.input.skipped || p.resumed) continue;
      model::ScoreGroup group{p.input.prefix, {}};
      for (const auto& suffix : p.input.suffixes) group.responses.push_back(suffix);
      groups.push_back(std::move(group));
      group_of.push_back(i);
    }
    const auto t0 = std::chrono::steady_clock::now();
    SP_ASSIGN_OR_RETURN(auto scores,
                        model->score_groups(groups, {.max_tokens_per_batch = options.max_tokens_per_batch}));
    stats.engine_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (size_t g = 0; g < groups.size(); ++g) {
      Pending& p = pending[group_of[g]];
      p.scores = std::move(scores[g]);
      SP_RETURN_IF_ERROR(check_finite(p));
      stats.tokens_engine += token_count(p.input);
    }
  }
  std::vector<Scored> chunk(pending.size());
  for (size_t i = 0; i < pending.size(); ++i) {
    const Pending& p = pending[i];
    Scored& s = chunk[i];
    s.index = p.index;
    s.id = p.id;
    s.origin = p.has_origin ? &p.origin : nullptr;
    s.pair = p.pair;
    s.skipped = p.input.skipped;
    s.skip_reason = p.input.skip_reason;
    s.resumed = p.resumed;
    s.truncated_tokens = p.input.truncated_tokens;
    s.scores = p.scores;
    if (s.skipped) {
      ++stats.skipped_too_long;
      continue;
    }
    ++stats.scored;
    stats.resumed += p.resumed;
    stats.truncated += p.input.truncated_tokens > 0;
    stats.tokens += token_count(p.input);
    if (p.pair && p.scores.size() == 2) {
      ++stats.pairs;
      stats.pairs_correct += p.scores[0] > p.scores[1];
      stats.pair_ties += p.scores[0] == p.scores[1];
    }
  }
  SP_RETURN_IF_ERROR(sink(chunk));
  pending.clear();
  pending_to_score = 0;
  return Status::ok();
}

Status Scorer::Impl::accept(Pending&& p, const Resume* resume, const Sink& sink, ScoreStats& stats) {
  ++stats.records;
  if (resume && !p.input.skipped && resume_next < resume->ids.size()) {
    const size_t k = resume_next++;
    const std::string where = p.has_origin ? " (" + p.origin.describe(p.index) + ")" : "";
    if (resume->ids[k] != p.id) {
      return data_error(resume->source + ":" + std::to_string(k + 1) + ": id '" + resume->ids[k] +
                        "' but the input's next scorable record is '" + p.id + "'" + where +
                        ": that output was not written from this input with these options; write to "
                        "another output or remove it");
    }
    if (resume->scores[k].size() != p.input.suffixes.size()) {
      return data_error(resume->source + ":" + std::to_string(k + 1) + ": " +
                        std::to_string(resume->scores[k].size()) + " scores but record " + p.id + where +
                        " has " + std::to_string(p.input.suffixes.size()) + " responses");
    }
    p.resumed = true;
    p.scores = resume->scores[k];
  }
  if (p.input.skipped) {
    p.input.prefix = {};  // only the reason is kept
    p.input.suffixes = {};
  } else if (!p.resumed) {
    ++pending_to_score;
  }
  pending.push_back(std::move(p));
  // A chunk is `chunk_records` records for the engine; runs of resumed or skipped records, which
  // carry no engine work, are handed on at most a few chunks at a time (bounded memory).
  const auto chunk = static_cast<size_t>(options.chunk_records);
  if (pending_to_score >= chunk || (pending.size() >= chunk && pending_to_score == 0) ||
      pending.size() >= 4 * chunk)
    return flush(sink, stats);
  return Status::ok();
}

Status Scorer::score_records(const encode::OrderedBuilder::Next& next, const Sink& sink, ScoreStats& stats,
                             const Resume* resume) {
  Impl& impl = *impl_;
  impl.pending.clear();
  impl.pending_to_score = 0;
  impl.resume_next = 0;
  encode::OrderedBuilder ordered(impl.builder, {.n_threads = impl.options.n_threads});
  SP_RETURN_IF_ERROR(ordered.run(next, [&](encode::BuiltRecord& built) -> Status {
    Pending p;
    p.index = built.index;
    p.id = built.record.id;
    p.origin = std::move(built.origin);
    p.has_origin = true;
    p.pair = built.record.kind == data::RecordKind::pair;
    p.input = std::move(*built.input);
    return impl.accept(std::move(p), resume, sink, stats);
  }));
  SP_RETURN_IF_ERROR(impl.flush(sink, stats));
  if (resume && impl.resume_next < resume->ids.size()) {
    return data_error(resume->source + " has " + std::to_string(resume->ids.size()) +
                      " scored records but the input yields only " + std::to_string(impl.resume_next) +
                      ": that output was not written from this input");
  }
  return Status::ok();
}

Status Scorer::score_items(std::span<const Item> items, const Sink& sink, ScoreStats& stats) {
  Impl& impl = *impl_;
  impl.pending.clear();
  impl.pending_to_score = 0;
  Progress progress("scoring", items.size(), impl.options.progress, "items");
  uint64_t handed_out = 0;
  const Sink counting_sink = [&](std::span<const Scored> chunk) -> Status {
    handed_out += chunk.size();
    progress.tick(handed_out, handed_out);
    return sink(chunk);
  };
  const int n_threads = encode::resolve_threads(impl.options.n_threads);
  constexpr size_t kBatch = 512;
  std::vector<std::optional<Result<encode::RmInput>>> built(kBatch);
  for (size_t begin = 0; begin < items.size(); begin += kBatch) {
    const size_t n = std::min(kBatch, items.size() - begin);
    encode::parallel_for(n, n_threads, [&](size_t i) {
      const Item& item = items[begin + i];
      built[i].emplace(impl.builder.build(item.context, item.responses, "item " + std::string(item.id)));
    });
    for (size_t i = 0; i < n; ++i) {
      if (!built[i]->is_ok()) return built[i]->status();
      Pending p;
      p.index = begin + i;
      p.id = std::string(items[begin + i].id);
      p.input = std::move(*built[i]).value();
      built[i].reset();
      SP_RETURN_IF_ERROR(impl.accept(std::move(p), nullptr, counting_sink, stats));
    }
  }
  SP_RETURN_IF_ERROR(impl.flush(counting_sink, stats));
  progress.finish(handed_out, handed_out);
  return Status::ok();
}

Result<ItemResults> score_all(Scorer& scorer, std::span<const Item> items) {
  ItemResults out;
  out.scores.resize(items.size());
  const Scorer::Sink keep = [&](std::span<const Scored> chunk) -> Status {
    for (const Scored& s : chunk) {
      if (s.skipped) {
        out.skipped.push_back(s.index);
        continue;
      }
      out.scores[s.index].assign(s.scores.begin(), s.scores.end());
    }
    return Status::ok();
  };
  SP_RETURN_IF_ERROR(scorer.score_items(items, keep, out.stats));
  return out;
}

}  // namespace synpref::score
