// The training loop (see trainer.h).
#include "synpref/train/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "synpref/common/hash.h"
#include "synpref/common/io.h"
#include "synpref/common/progress.h"
#include "synpref/model/init.h"
#include "synpref/tokenizer/tokenizer.h"
#include "synpref/train/checkpoint.h"
#include "synpref/train/data.h"
#include "synpref/train/dist.h"
#include "synpref/train/reward_model.h"

namespace synpref::train {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// Sums over pairs, reduced across ranks as one array of doubles.
struct PairAcc {
  enum { n, loss, correct, margin, c_sum, c_sq, r_sum, r_sq, tokens, kFields };
  double v[kFields] = {};
  void add(const PairOutputs& out) {
    for (size_t p = 0; p < out.losses.size(); ++p) {
      const double c = out.r_chosen[p], r = out.r_rejected[p];
      v[n] += 1;
      v[loss] += out.losses[p];
      v[correct] += c > r ? 1 : 0;
      v[margin] += c - r;
      v[c_sum] += c, v[c_sq] += c * c;
      v[r_sum] += r, v[r_sq] += r * r;
    }
  }
  void reset() { std::fill(v, v + kFields, 0.0); }
  double mean(int f) const { return v[n] > 0 ? v[f] / v[n] : NAN; }
  double stdev(int sum, int sq) const {
    if (v[n] <= 0) return NAN;
    const double m = v[sum] / v[n];
    return std::sqrt(std::max(0.0, v[sq] / v[n] - m * m));
  }
};

// Replaces folder `dst` with `src` (renames; the old one is removed after the new one is in place).
Status replace_dir(const std::string& src, const std::string& dst) {
  std::error_code ec;
  const std::string old = dst + ".old";
  fs::remove_all(old, ec);
  if (fs::exists(dst)) fs::rename(dst, old, ec);
  if (ec) return io_error(dst + ": cannot move aside: " + ec.message());
  fs::rename(src, dst, ec);
  if (ec) return io_error(src + ": cannot rename to " + dst + ": " + ec.message());
  fs::remove_all(old, ec);
  return Status::ok();
}

class Metrics {
 public:
  Status open(const std::string& path, uint64_t keep_up_to_step, bool resume) {
    path_ = path;
    std::string kept;
    if (resume && fs::exists(path)) {
      // Keep the lines of the steps the resumed checkpoint already covers (so a resumed run's log
      // is the uninterrupted run's log).
      std::ifstream in(path);
      std::string line;
      while (std::getline(in, line)) {
        try {
          const auto j = nlohmann::json::parse(line);
          if (j.contains("step") && j["step"].get<uint64_t>() <= keep_up_to_step) kept += line + "\n";
        } catch (const std::exception&) {
          break;  // a line cut by the kill: everything after it is newer anyway
        }
      }
    }
    SP_RETURN_IF_ERROR(io::write_text(path, kept));
    file_ = std::fopen(path.c_str(), "a");
    if (!file_) return io_error(path + ": cannot open for appending");
    return Status::ok();
  }
  void write(const nlohmann::ordered_json& j) {
    if (!file_) return;
    const std::string line = j.dump() + "\n";
    std::fwrite(line.data(), 1, line.size(), file_);
    std::fflush(file_);
  }
  ~Metrics() {
    if (file_) std::fclose(file_);
  }

 private:
  std::string path_;
  FILE* file_ = nullptr;
};

std::string human(double v) {
  char buf[32];
  if (v >= 1e6)
    std::snprintf(buf, sizeof buf, "%.1fM", v / 1e6);
  else if (v >= 1e3)
    std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

std::string duration(double s) {
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(s / 3600), static_cast<int>(s / 60) % 60);
  else
    std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s / 60), static_cast<int>(s) % 60);
  return buf;
}

struct Eval {
  const PairSet* pairs = nullptr;
  EvalMetrics run(RewardModel& rm, Communicator& comm, uint64_t budget, bool share_prefix,
                  std::optional<int64_t> pad) const {
    std::vector<uint32_t> mine;
    for (size_t i = static_cast<size_t>(comm.rank()); i < pairs->size();
         i += static_cast<size_t>(comm.size()))
      mine.push_back(static_cast<uint32_t>(i));
    PairAcc acc;
    PackedBatch batch;
    PairOutputs out;
    const size_t n_cat = pairs->category_names.size();
    std::vector<double> by_cat(2 * n_cat, 0.0);  // (correct, n) per category
    for (const auto& mb : split_by_tokens(*pairs, mine, budget, share_prefix)) {
      pack_pairs(batch, *pairs, mb, share_prefix, pad);
      rm.forward(batch, &out);
      acc.add(out);
      for (size_t i = 0; i < mb.size(); ++i) {
        const size_t c = pairs->category[mb[i]];
        by_cat[2 * c] += out.r_chosen[i] > out.r_rejected[i] ? 1 : 0;
        by_cat[2 * c + 1] += 1;
      }
    }
    comm.allreduce_sum(std::span<double>(acc.v, PairAcc::kFields));
    comm.allreduce_sum(by_cat);
    EvalMetrics m;
    m.pairs = static_cast<uint64_t>(acc.v[PairAcc::n]);
    m.loss = acc.mean(PairAcc::loss);
    m.accuracy = acc.mean(PairAcc::correct);
    m.margin = acc.mean(PairAcc::margin);
    m.chosen_mean = acc.mean(PairAcc::c_sum);
    m.chosen_std = acc.stdev(PairAcc::c_sum, PairAcc::c_sq);
    m.rejected_mean = acc.mean(PairAcc::r_sum);
    m.rejected_std = acc.stdev(PairAcc::r_sum, PairAcc::r_sq);
    for (size_t c = 0; c < n_cat; ++c)
      if (by_cat[2 * c + 1] > 0)
        m.accuracy_by_category.emplace_back(pairs->category_names[c], by_cat[2 * c] / by_cat[2 * c + 1]);
    return m;
  }
};

Hash128 options_fingerprint(const TrainOptions& o, const model::ModelConfig& config, const PairSet& pairs,
                            int world_size) {
  Hasher h(0x7472616eull);
  h.add_field(model::model_config_to_json(config));
  h.add_field(o.model_init);
  for (double d : {o.lr, o.adam.beta1, o.adam.beta2, o.adam.eps, o.adam.weight_decay, o.max_grad_norm,
                   o.warmup_ratio, o.init_std}) {
    uint64_t bits;
    std::memcpy(&bits, &d, 8);
    h.add_u64(bits);
  }
  h.add_field(o.schedule);
  for (uint64_t u : {o.warmup_steps, o.batch_pairs, o.micro_batch_tokens, o.epochs, o.max_steps, o.seed,
                     static_cast<uint64_t>(o.shuffle), static_cast<uint64_t>(o.share_prefix),
                     static_cast<uint64_t>(o.freeze_layers), static_cast<uint64_t>(o.freeze_embeddings),
                     static_cast<uint64_t>(world_size)})
    h.add_u64(u);
  h.add_field(std::string_view(reinterpret_cast<const char*>(pairs.tokens.data()), pairs.tokens.size() * 4));
  h.add_field(std::string_view(reinterpret_cast<const char*>(pairs.bounds.data()), pairs.bounds.size() * 8));
  h.add_field(
      std::string_view(reinterpret_cast<const char*>(pairs.margins.data()), pairs.margins.size() * 4));
  return h.digest();
}

Result<std::string> latest_checkpoint(const std::string& out_dir) {
  const std::string latest = (fs::path(out_dir) / "latest").string();
  if (!fs::exists(latest)) return not_found(out_dir + ": no checkpoint to resume from (no 'latest' file)");
  SP_ASSIGN_OR_RETURN(std::string name, io::read_file(latest, 4096));
  while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
  const std::string dir = (fs::path(out_dir) / name).string();
  if (!fs::is_directory(dir)) return not_found(latest + " names " + dir + ", which does not exist");
  return dir;
}

}  // namespace

Result<TrainSummary> run_training(const TrainOptions& o) {
  Communicator& comm = Communicator::world();
  const bool root = comm.is_root();
  TrainSummary summary;
  summary.world_size = comm.size();
  if (o.out_dir.empty()) return invalid_argument("--out is required");
  if (o.tokenizer_dir.empty()) return invalid_argument("--tokenizer is required");
  if (o.data.empty()) return invalid_argument("--data is required");
  if (o.batch_pairs == 0) return invalid_argument("--batch-size must be at least 1");
  if (o.best_metric != "eval_accuracy" && o.best_metric != "eval_loss")
    return invalid_argument("--best-metric must be eval_accuracy or eval_loss, got '" + o.best_metric + "'");
  SP_ASSIGN_OR_RETURN(const Schedule schedule, parse_schedule(o.schedule));
  std::error_code ec;
  fs::create_directories(o.out_dir, ec);
  if (ec) return io_error(o.out_dir + ": cannot create folder: " + ec.message());

  SP_ASSIGN_OR_RETURN(auto tok, tokenizer::load_tokenizer(o.tokenizer_dir));
  SP_ASSIGN_OR_RETURN(const model::TokenizerFacts tok_facts, model::inspect_tokenizer_dir(o.tokenizer_dir));

  // ---- model config
  model::ModelConfig config;
  std::string init_dir;
  const bool from_preset = o.model_init.rfind("preset:", 0) == 0;
  if (from_preset) {
    const std::string preset = o.model_init.substr(7);
    const model::Family family = preset.rfind("qwen3", 0) == 0 ? model::Family::qwen3 : model::Family::llama;
    SP_ASSIGN_OR_RETURN(config,
                        model::preset_config(family, preset, model::HeadKind::score, tok.vocab_size()));
    if (o.hidden_size) config.hidden_size = o.hidden_size;
    if (o.intermediate_size) config.intermediate_size = o.intermediate_size;
    if (o.n_layer) config.n_layer = o.n_layer;
    if (o.n_head) config.n_head = o.n_head;
    if (o.n_head_kv) config.n_head_kv = o.n_head_kv;
    if (o.head_dim) config.head_dim = o.head_dim;
    if (config.n_head_kv <= 0 || config.n_head % config.n_head_kv != 0)
      return invalid_argument("--n-head must be a multiple of --n-head-kv");
    if (tok.bos_id()) config.bos_token_id = *tok.bos_id();
    if (tok.eos_id()) config.eos_token_id = *tok.eos_id();
    init_dir = (fs::path(o.out_dir) / "init-model").string();
  } else {
    if (o.model_init.empty())
      return invalid_argument("--model-init is required (a model folder or preset:<name>)");
    SP_ASSIGN_OR_RETURN(config, read_reward_config(o.model_init));
    init_dir = o.model_init;
  }
  // transformers pools at the last non-pad token and needs pad_token_id for batches: keep the
  // model's, else the tokenizer's pad, else its eos (the usual choice for Llama/Qwen RMs).
  if (!config.pad_token_id) {
    if (tok.pad_id())
      config.pad_token_id = *tok.pad_id();
    else if (tok.eos_id())
      config.pad_token_id = *tok.eos_id();
  }
  if (tok.vocab_size() > config.vocab_size) {
    return invalid_argument("the tokenizer has " + std::to_string(tok.vocab_size()) +
                            " tokens but the model's vocab_size is " + std::to_string(config.vocab_size) +
                            " (wrong --tokenizer for --model-init?)");
  }

  // ---- data
  PairLoadOptions load;
  load.max_length = o.max_length;
  load.truncation = o.truncation;
  load.format = o.format;
  load.date = o.date;
  load.n_threads = o.threads;
  load.progress = o.progress && root;
  PairLoadReport report, eval_report;
  SP_ASSIGN_OR_RETURN(
      PairSet pairs, load_pairs(o.data, tok, load,
                                root ? (fs::path(o.out_dir) / "train.rejects.jsonl").string() : "", &report));
  if (pairs.size() == 0)
    return data_error("no usable pairs in --data (" + std::to_string(report.records) + " records read)");
  PairSet eval_pairs;
  if (!o.eval_data.empty()) {
    SP_ASSIGN_OR_RETURN(
        eval_pairs,
        load_pairs(o.eval_data, tok, load, root ? (fs::path(o.out_dir) / "eval.rejects.jsonl").string() : "",
                   &eval_report));
  }
  summary.pairs = pairs.size();
  summary.eval_pairs = eval_pairs.size();

  // ---- model
  RewardModel::Options mo;
  mo.n_threads = o.threads;
  mo.kernels = o.kernels;
  mo.freeze_embeddings = o.freeze_embeddings;
  mo.n_frozen_layers = o.freeze_layers;
  SP_ASSIGN_OR_RETURN(auto rm, RewardModel::create(config, mo));
  summary.n_params = static_cast<int64_t>(rm->layout().size());
  summary.n_trainable = static_cast<int64_t>(rm->layout().n_trainable());

  const Hash128 fingerprint = options_fingerprint(o, config, pairs, comm.size());
  TrainState state;
  bool resumed = false;
  if (o.resume && fs::exists(fs::path(o.out_dir) / "latest")) {
    SP_ASSIGN_OR_RETURN(std::string ckpt, latest_checkpoint(o.out_dir));
    bool score_init = false;
    SP_RETURN_IF_ERROR(load_hf_weights(ckpt, *rm, o.seed, &score_init));
    if (score_init) return data_error(ckpt + ": has no score.weight (not a synpref checkpoint)");
    SP_ASSIGN_OR_RETURN(state, load_train_state((fs::path(ckpt) / "training_state.bin").string(),
                                                rm->layout().n_trainable()));
    if (!(state.options_fingerprint == fingerprint)) {
      return invalid_argument(ckpt +
                              ": was written by a run with other options or data; resume with exactly the "
                              "options of that run (or start a new --out folder)");
    }
    resumed = true;
    summary.resumed_from = state.step;
  } else {
    if (from_preset) {
      if (root) {
        model::InitOptions init;
        init.seed = o.seed;
        init.init_std = o.init_std;
        model::ModelConfig c = config;
        SP_RETURN_IF_ERROR(model::write_random_model(c, init, init_dir));
      }
      comm.barrier();
    }
    bool score_init = false;
    SP_RETURN_IF_ERROR(load_hf_weights(init_dir, *rm, o.seed, &score_init));
    state.options_fingerprint = fingerprint;
  }

  AdamWOptions adam_options = o.adam;
  adam_options.lr = o.lr;
  AdamW adam(rm->layout(), adam_options, &rm->thread_pool());
  if (resumed) {
    adam.m = std::move(state.adam_m);
    adam.v = std::move(state.adam_v);
    adam.refresh();
  }

  // ---- schedule
  const uint64_t steps_per_epoch = (pairs.size() + o.batch_pairs - 1) / o.batch_pairs;
  const uint64_t total_steps = o.max_steps ? o.max_steps : std::max<uint64_t>(1, o.epochs) * steps_per_epoch;
  const uint64_t warmup =
      o.warmup_steps ? o.warmup_steps
                     : static_cast<uint64_t>(std::ceil(o.warmup_ratio * static_cast<double>(total_steps)));
  const std::optional<int64_t> pad = config.pad_token_id;

  Metrics metrics;
  summary.metrics_path = (fs::path(o.out_dir) / "metrics.jsonl").string();
  if (root) SP_RETURN_IF_ERROR(metrics.open(summary.metrics_path, state.step, resumed));
  DataOrder order(pairs.size(), o.seed, o.shuffle);
  Eval eval{&eval_pairs};
  const bool maximize = o.best_metric == "eval_accuracy";
  summary.best_dir = (fs::path(o.out_dir) / "best").string();

  auto run_eval = [&](uint64_t step) -> Result<EvalMetrics> {
    EvalMetrics m = eval.run(*rm, comm, o.micro_batch_tokens, o.share_prefix, pad);
    nlohmann::ordered_json j;
    j["kind"] = "eval";
    j["step"] = step;
    j["eval_pairs"] = m.pairs;
    j["eval_loss"] = m.loss;
    j["eval_accuracy"] = m.accuracy;
    j["eval_margin"] = m.margin;
    j["eval_chosen_mean"] = m.chosen_mean;
    j["eval_chosen_std"] = m.chosen_std;
    j["eval_rejected_mean"] = m.rejected_mean;
    j["eval_rejected_std"] = m.rejected_std;
    if (m.accuracy_by_category.size() > 1 ||
        (m.accuracy_by_category.size() == 1 && !m.accuracy_by_category[0].first.empty())) {
      nlohmann::ordered_json cats = nlohmann::ordered_json::object();
      for (const auto& [name, a] : m.accuracy_by_category) cats[name] = a;
      j["eval_accuracy_by_category"] = cats;
    }
    const double value = maximize ? m.accuracy : m.loss;
    const bool better = step > 0 && (state.best_step == 0 ||
                                     (maximize ? value > state.best_metric : value < state.best_metric));
    if (better) {
      state.best_metric = value;
      state.best_step = step;
      if (root) {
        const std::string tmp = summary.best_dir + ".tmp";
        fs::remove_all(tmp, ec);
        SP_RETURN_IF_ERROR(save_hf_folder(tmp, *rm, o.tokenizer_dir, &tok_facts));
        SP_RETURN_IF_ERROR(replace_dir(tmp, summary.best_dir));
      }
      j["best"] = true;
    }
    if (root) metrics.write(j);
    return m;
  };

  PairAcc acc;  // sums of the logging interval in progress (saved with checkpoints)
  if (resumed && root && state.log_sums.size() == PairAcc::kFields)
    std::copy(state.log_sums.begin(), state.log_sums.end(), acc.v);
  auto save_checkpoint = [&](uint64_t step) -> Status {
    // The interval's sums over all ranks go into rank 0's state (other ranks restart from zero).
    comm.allreduce_sum(std::span<double>(acc.v, PairAcc::kFields));
    if (!root) acc.reset();
    if (root) {
      const std::string name = "checkpoint-" + std::to_string(step);
      const std::string dir = (fs::path(o.out_dir) / name).string();
      const std::string tmp = dir + ".tmp";
      fs::remove_all(tmp, ec);
      SP_RETURN_IF_ERROR(save_hf_folder(tmp, *rm, o.tokenizer_dir, &tok_facts));
      state.log_sums.assign(acc.v, acc.v + PairAcc::kFields);
      std::swap(state.adam_m, adam.m);  // lend the moments to the state for writing (no copy)
      std::swap(state.adam_v, adam.v);
      const Status saved = save_train_state((fs::path(tmp) / "training_state.bin").string(), state);
      std::swap(state.adam_m, adam.m);
      std::swap(state.adam_v, adam.v);
      SP_RETURN_IF_ERROR(saved);
      SP_RETURN_IF_ERROR(replace_dir(tmp, dir));
      SP_RETURN_IF_ERROR(io::write_text((fs::path(o.out_dir) / "latest").string(), name + "\n"));
      // Keep the newest keep_checkpoints complete checkpoints.
      std::vector<uint64_t> steps;
      for (const auto& entry : fs::directory_iterator(o.out_dir)) {
        const std::string n = entry.path().filename().string();
        if (n.rfind("checkpoint-", 0) == 0 && n.find('.') == std::string::npos) {
          try {
            steps.push_back(std::stoull(n.substr(11)));
          } catch (const std::exception&) {
          }
        }
      }
      std::sort(steps.rbegin(), steps.rend());
      for (size_t i = std::max<uint64_t>(1, o.keep_checkpoints); i < steps.size(); ++i)
        fs::remove_all(fs::path(o.out_dir) / ("checkpoint-" + std::to_string(steps[i])), ec);
    }
    comm.barrier();
    return Status::ok();
  };

  if (root && !resumed) {
    nlohmann::ordered_json j;
    j["kind"] = "start";
    j["step"] = 0;
    j["pairs"] = pairs.size();
    j["eval_pairs"] = eval_pairs.size();
    j["total_steps"] = total_steps;
    j["params"] = summary.n_params;
    j["trainable_params"] = summary.n_trainable;
    j["world_size"] = comm.size();
    j["threads"] = rm->n_threads();
    j["kernels"] = rm->kernel_name();
    j["rejects"] = report.rejects;
    j["too_long"] = report.too_long;
    metrics.write(j);
  }
  if (!resumed && eval_pairs.size() > 0 && o.eval_every > 0) SP_RETURN_IF_ERROR(run_eval(0).status());

  // ---- loop
  const bool show = o.progress && root && Progress::terminal_wanted();
  PackedBatch batch;
  PairOutputs out;
  double interval_rows = 0;
  auto interval_start = Clock::now();
  const auto run_start = Clock::now();
  uint64_t run_rows = 0;
  bool first_logged = false;
  double last_norm = 0, last_lr = 0;
  auto grads = rm->grads();
  while (state.step < total_steps) {
    const double lr = schedule_lr(schedule, o.lr, state.step, warmup, total_steps);
    const std::vector<uint32_t> step_ids = order.next(o.batch_pairs, &state.epoch, &state.cursor);
    state.rng_state = order.epoch_seed(state.epoch);
    std::vector<uint32_t> mine;
    for (size_t i = static_cast<size_t>(comm.rank()); i < step_ids.size();
         i += static_cast<size_t>(comm.size()))
      mine.push_back(step_ids[i]);
    rm->zero_grad();
    const float loss_scale = 1.0f / static_cast<float>(step_ids.size());
    double rows = 0;
    for (const auto& mb : split_by_tokens(pairs, mine, o.micro_batch_tokens, o.share_prefix)) {
      pack_pairs(batch, pairs, mb, o.share_prefix, pad);
      rm->forward_backward(batch, loss_scale, &out);
      acc.add(out);
      rows += static_cast<double>(batch.n_rows());
    }
    acc.v[PairAcc::tokens] += rows;
    // Embedding gradient rows that may be nonzero: this rank's ids, united over ranks.
    const std::vector<int32_t>* embed_rows = nullptr;
    if (!rm->layout().embeddings_frozen()) {
      if (comm.size() > 1) {
        std::vector<float> mark(static_cast<size_t>(config.vocab_size), 0.0f);
        for (int32_t r : rm->embedding_rows()) mark[static_cast<size_t>(r)] = 1.0f;
        comm.allreduce_sum(mark);
        std::vector<int32_t> all;
        for (size_t r = 0; r < mark.size(); ++r)
          if (mark[r] > 0) all.push_back(static_cast<int32_t>(r));
        rm->mark_embedding_rows(all);
      }
      embed_rows = &rm->embedding_rows();
    }
    if (comm.size() > 1) {
      if (embed_rows) {
        // Sum the listed embedding rows (gathered into one buffer) and the dense rest.
        const int64_t C = config.hidden_size;
        std::vector<float> packed(embed_rows->size() * static_cast<size_t>(C));
        for (size_t i = 0; i < embed_rows->size(); ++i)
          std::memcpy(packed.data() + i * C, grads.data() + static_cast<int64_t>((*embed_rows)[i]) * C,
                      C * sizeof(float));
        comm.allreduce_sum(packed);
        for (size_t i = 0; i < embed_rows->size(); ++i)
          std::memcpy(grads.data() + static_cast<int64_t>((*embed_rows)[i]) * C, packed.data() + i * C,
                      C * sizeof(float));
        const size_t embed_size = static_cast<size_t>(config.vocab_size * C);
        comm.allreduce_sum(grads.subspan(embed_size));
      } else {
        comm.allreduce_sum(grads);
      }
    }
    const double norm = adam.grad_norm(grads, embed_rows);
    adam.step(rm->params(), grads, embed_rows, state.step + 1, lr, clip_scale(norm, o.max_grad_norm));
    ++state.step;
    state.pairs_seen += step_ids.size();
    last_norm = norm;
    last_lr = lr;

    const bool last = state.step == total_steps;
    if (state.step % std::max<uint64_t>(1, o.log_every) == 0 || last) {
      comm.allreduce_sum(std::span<double>(acc.v, PairAcc::kFields));
      const double secs = std::chrono::duration<double>(Clock::now() - interval_start).count();
      interval_rows = acc.v[PairAcc::tokens];
      state.tokens_seen += static_cast<uint64_t>(interval_rows);
      run_rows += static_cast<uint64_t>(interval_rows);
      nlohmann::ordered_json j;
      j["kind"] = "train";
      j["step"] = state.step;
      j["epoch"] = static_cast<double>(state.pairs_seen) / static_cast<double>(pairs.size());
      j["loss"] = acc.mean(PairAcc::loss);
      j["accuracy"] = acc.mean(PairAcc::correct);
      j["margin"] = acc.mean(PairAcc::margin);
      j["chosen_mean"] = acc.mean(PairAcc::c_sum);
      j["chosen_std"] = acc.stdev(PairAcc::c_sum, PairAcc::c_sq);
      j["rejected_mean"] = acc.mean(PairAcc::r_sum);
      j["rejected_std"] = acc.stdev(PairAcc::r_sum, PairAcc::r_sq);
      j["lr"] = last_lr;
      j["grad_norm"] = last_norm;
      j["tokens"] = interval_rows;
      j["tokens_per_s"] = secs > 0 ? interval_rows / secs : 0.0;
      j["elapsed_s"] = std::chrono::duration<double>(Clock::now() - run_start).count();
      if (root) metrics.write(j);
      if (!first_logged) summary.first_loss = acc.mean(PairAcc::loss), first_logged = true;
      summary.last_loss = acc.mean(PairAcc::loss);
      summary.last_accuracy = acc.mean(PairAcc::correct);
      if (show) {
        const double total_secs = std::chrono::duration<double>(Clock::now() - run_start).count();
        const double done = static_cast<double>(state.step - summary.resumed_from);
        const double eta = done > 0 ? total_secs / done * static_cast<double>(total_steps - state.step) : 0;
        const int width = 24, filled = static_cast<int>(width * static_cast<double>(state.step) /
                                                        static_cast<double>(total_steps));
        std::fprintf(
            stderr, "\rtrain %6llu/%llu [%s%s] loss %.4f acc %.3f lr %.2e gn %.3g %s tok/s ETA %s   ",
            static_cast<unsigned long long>(state.step), static_cast<unsigned long long>(total_steps),
            std::string(static_cast<size_t>(filled), '=').c_str(),
            std::string(static_cast<size_t>(width - filled), ' ').c_str(), acc.mean(PairAcc::loss),
            acc.mean(PairAcc::correct), last_lr, last_norm,
            human(secs > 0 ? interval_rows / secs : 0).c_str(), duration(eta).c_str());
      }
      acc.reset();
      interval_start = Clock::now();
    }
    const bool eval_now =
        eval_pairs.size() > 0 && ((o.eval_every > 0 && state.step % o.eval_every == 0) || last);
    if (eval_now) {
      SP_ASSIGN_OR_RETURN(EvalMetrics m, run_eval(state.step));
      if (last) {
        summary.eval_loss = m.loss, summary.eval_accuracy = m.accuracy;
        summary.eval_accuracy_by_category = m.accuracy_by_category;
      }
    }
    if (o.save_every > 0 && state.step % o.save_every == 0) SP_RETURN_IF_ERROR(save_checkpoint(state.step));
  }
  if (show) std::fputs("\n", stderr);
  summary.steps = state.step;
  summary.tokens = state.tokens_seen;
  summary.seconds = std::chrono::duration<double>(Clock::now() - run_start).count();
  summary.tokens_per_s = summary.seconds > 0 ? static_cast<double>(run_rows) / summary.seconds : 0;
  summary.best_metric = state.best_metric;
  summary.best_step = state.best_step;
  if (eval_pairs.size() == 0) summary.eval_loss = summary.eval_accuracy = NAN;
  summary.final_dir = (fs::path(o.out_dir) / "final").string();
  if (root) {
    const std::string tmp = summary.final_dir + ".tmp";
    fs::remove_all(tmp, ec);
    SP_RETURN_IF_ERROR(save_hf_folder(tmp, *rm, o.tokenizer_dir, &tok_facts));
    SP_RETURN_IF_ERROR(replace_dir(tmp, summary.final_dir));
    nlohmann::ordered_json s;
    s["steps"] = summary.steps;
    s["pairs"] = summary.pairs;
    s["eval_pairs"] = summary.eval_pairs;
    s["resumed_from"] = summary.resumed_from;
    s["world_size"] = summary.world_size;
    s["params"] = summary.n_params;
    s["trainable_params"] = summary.n_trainable;
    s["tokens"] = summary.tokens;
    s["seconds"] = summary.seconds;
    s["tokens_per_s"] = summary.tokens_per_s;
    s["first_loss"] = summary.first_loss;
    s["last_loss"] = summary.last_loss;
    s["last_accuracy"] = summary.last_accuracy;
    if (eval_pairs.size() > 0) {
      s["eval_loss"] = summary.eval_loss;
      s["eval_accuracy"] = summary.eval_accuracy;
      nlohmann::ordered_json cats = nlohmann::ordered_json::object();
      for (const auto& [name, a] : summary.eval_accuracy_by_category) cats[name] = a;
      s["eval_accuracy_by_category"] = cats;
      s["best_metric_name"] = o.best_metric;
      s["best_metric"] = summary.best_metric;
      s["best_step"] = summary.best_step;
      s["best_dir"] = summary.best_dir;
    }
    s["final_dir"] = summary.final_dir;
    s["metrics"] = summary.metrics_path;
    s["data_records"] = report.records;
    s["data_rejects"] = report.rejects;
    s["data_too_long"] = report.too_long;
    SP_RETURN_IF_ERROR(io::write_text((fs::path(o.out_dir) / "summary.json").string(), s.dump(2) + "\n"));
  }
  comm.barrier();
  return summary;
}

}  // namespace synpref::train
