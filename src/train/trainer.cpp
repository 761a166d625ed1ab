// The training loop (see trainer.h), shaped like llm.c's train_gpt2.c: set up (options, run folder,
// model, data, resume), then per step: zero grads, forward-backward, all-reduce, clip + AdamW, log,
// maybe evaluate, maybe save. Every job is a named function over one Trainer (the run's state).
#include "synpref/train/trainer.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

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

// Writes a HF folder of the model at `dir` through `dir`.tmp (a kill never leaves half a folder).
Status save_model_folder(const std::string& dir, const RewardModel& rm, const std::string& tokenizer_dir,
                         const model::TokenizerFacts& facts) {
  const std::string tmp = dir + ".tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  SP_RETURN_IF_ERROR(save_hf_folder(tmp, rm, tokenizer_dir, &facts));
  return replace_dir(tmp, dir);
}

class Metrics {
 public:
  Status open(const std::string& path, uint64_t keep_up_to_step, bool resume) {
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
  FILE* file_ = nullptr;
};

// Loss, accuracy and reward statistics of `pairs` (this rank takes pairs k, k + n, ...).
EvalMetrics evaluate(const PairSet& pairs, RewardModel& rm, Communicator& comm, uint64_t budget,
                     bool share_prefix, std::optional<int64_t> pad) {
  std::vector<uint32_t> mine;
  for (size_t i = static_cast<size_t>(comm.rank()); i < pairs.size(); i += static_cast<size_t>(comm.size()))
    mine.push_back(static_cast<uint32_t>(i));
  PairAcc acc;
  PackedBatch batch;
  PairOutputs out;
  const size_t n_cat = pairs.category_names.size();
  std::vector<double> by_cat(2 * n_cat, 0.0);  // (correct, n) per category
  for (const auto& mb : split_by_tokens(pairs, mine, budget, share_prefix)) {
    pack_pairs(batch, pairs, mb, share_prefix, pad);
    rm.forward(batch, &out);
    acc.add(out);
    for (size_t i = 0; i < mb.size(); ++i) {
      const size_t c = pairs.category[mb[i]];
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
      m.accuracy_by_category.emplace_back(pairs.category_names[c], by_cat[2 * c] / by_cat[2 * c + 1]);
  return m;
}

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

// Rank 0's outcome of a job only rank 0 does, for every rank (so that the others do not wait in the
// next collective for a rank that gave up). Also a barrier.
Status agree(Communicator& comm, const Status& root_status) {
  double failed = comm.is_root() && !root_status.is_ok() ? 1 : 0;
  comm.allreduce_sum(std::span<double>(&failed, 1));
  if (comm.is_root()) return root_status;
  return failed > 0 ? io_error("rank 0 failed (its error is printed by rank 0)") : Status::ok();
}

// ---------------------------------------------------------------- the run folder

constexpr char kLockFile[] = "train.lock";

// Exclusive lock on a run folder: flock on train.lock (which holds the owner's pid), held until
// destruction or the process's death (so kill -9 leaves no stale lock).
class RunLock {
 public:
  Status acquire(const std::string& dir) {
    const std::string path = (fs::path(dir) / kLockFile).string();
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) return io_error(path + ": cannot open the run folder's lock file: " + std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      if (err != EWOULDBLOCK) return io_error(path + ": cannot lock: " + std::strerror(err));
      char buf[32] = {};
      const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
      std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
      while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
      return io_error("another training run holds " + dir + " (pid " + (pid.empty() ? "unknown" : pid) +
                      "); wait for it to finish or choose another `out_dir`");
    }
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd_, 0) != 0 ||
        ::pwrite(fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size()))
      return io_error(path + ": cannot write the owner's pid: " + std::strerror(errno));
    return Status::ok();
  }
  ~RunLock() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  int fd_ = -1;
};

// Whether `name` is something a training run writes into its folder (what `overwrite` may delete).
bool is_run_entry(std::string name) {
  for (const char* suffix : {".tmp", ".old"})
    if (name.size() > 4 && name.compare(name.size() - 4, 4, suffix) == 0) name.resize(name.size() - 4);
  static const std::set<std::string> kNames = {
      "metrics.jsonl", "latest", "summary.json", "train.rejects.jsonl", "eval.rejects.jsonl",
      "init-model",    "best",   "final",        "report.html",         kLockFile};
  return kNames.count(name) > 0 || name.rfind("checkpoint-", 0) == 0;
}

// A new run needs an empty folder: another run's checkpoints would be mixed with this one's (and
// rotation would delete the wrong ones). `overwrite` clears what a run wrote, nothing else.
Status claim_new_run_folder(const TrainOptions& o) {
  std::vector<fs::path> entries;
  std::string foreign;
  for (const auto& entry : fs::directory_iterator(o.out_dir)) {
    const std::string name = entry.path().filename().string();
    if (name == kLockFile) continue;
    entries.push_back(entry.path());
    if (!is_run_entry(name) && foreign.empty()) foreign = name;
  }
  if (entries.empty()) return Status::ok();
  const std::string example = entries.front().filename().string();
  if (!o.overwrite) {
    return invalid_argument("`out_dir` " + o.out_dir + " is not empty (it holds '" + example +
                            "'); set `resume` to continue the run in it, or `overwrite` to replace it");
  }
  if (!foreign.empty()) {
    return invalid_argument("`overwrite` clears only what a training run writes, and " + o.out_dir +
                            " also holds '" + foreign + "'; choose another `out_dir` or empty it yourself");
  }
  std::error_code ec;
  for (const fs::path& p : entries) {
    fs::remove_all(p, ec);
    if (ec) return io_error(p.string() + ": cannot remove: " + ec.message());
  }
  return Status::ok();
}

// Rank 0: creates and locks the run folder, then checks it against new-run / resume.
Status prepare_run_folder(const TrainOptions& o, RunLock& lock) {
  std::error_code ec;
  fs::create_directories(o.out_dir, ec);
  if (ec) return io_error(o.out_dir + ": cannot create folder: " + ec.message());
  SP_RETURN_IF_ERROR(lock.acquire(o.out_dir));
  if (!o.resume) return claim_new_run_folder(o);
  if (!fs::exists(fs::path(o.out_dir) / "summary.json") && !fs::exists(fs::path(o.out_dir) / "latest")) {
    return not_found("`out_dir` " + o.out_dir +
                     " has no checkpoint to resume from (no 'latest' file); start a new run without "
                     "`resume`");
  }
  return Status::ok();
}

// The summary of a run that already finished (its summary.json), for a resume that has nothing to
// do. A resume with other options or data (e.g. more steps) is refused as for an unfinished run.
Result<TrainSummary> finished_run(const std::string& out_dir, const Hash128& fingerprint) {
  const std::string path = (fs::path(out_dir) / "summary.json").string();
  SP_ASSIGN_OR_RETURN(std::string text, io::read_file(path, uint64_t{16} << 20));
  TrainSummary s;
  s.already_finished = true;
  std::string recorded;
  try {
    const auto j = nlohmann::json::parse(text);
    s.steps = j.at("steps").get<uint64_t>();
    s.pairs = j.at("pairs").get<uint64_t>();
    s.world_size = j.at("world_size").get<int>();
    s.final_dir = j.at("final_dir").get<std::string>();
    s.metrics_path = j.at("metrics").get<std::string>();
    s.best_dir = j.value("best_dir", std::string());
    recorded = j.value("options_fingerprint", std::string());
  } catch (const std::exception& e) {
    return data_error(path + ": not a summary written by synpref train (" + e.what() + ")");
  }
  if (!recorded.empty() && recorded != fingerprint.hex()) {
    return invalid_argument(path +
                            ": the finished run had other options or data; a finished run cannot be "
                            "extended (start a new run with `model_init` = its final/ folder)");
  }
  return s;
}

// ---------------------------------------------------------------- setup

Status check_options(const TrainOptions& o) {
  if (o.out_dir.empty()) return invalid_argument("`out_dir` is required");
  if (o.tokenizer_dir.empty()) return invalid_argument("`tokenizer_dir` is required");
  if (o.data.empty()) return invalid_argument("`data` is required (files of training pairs)");
  if (o.batch_pairs == 0) return invalid_argument("`batch_pairs` must be at least 1");
  if (o.best_metric != "eval_accuracy" && o.best_metric != "eval_loss")
    return invalid_argument("`best_metric` must be eval_accuracy or eval_loss, got '" + o.best_metric + "'");
  if (!(o.save_every_seconds >= 0))
    return invalid_argument("`save_every_seconds` must be 0 (off) or positive");
  if (o.resume && o.overwrite)
    return invalid_argument("`resume` and `overwrite` exclude each other (continue the run, or replace it)");
  return parse_schedule(o.schedule).status();
}

// Everything a run holds between steps (llm.c keeps the same in main()).
struct Trainer {
  explicit Trainer(const TrainOptions& options)
      : o(options), comm(Communicator::world()), root(comm.is_root()) {}
  const TrainOptions& o;
  Communicator& comm;
  const bool root;
  RunLock lock;

  std::optional<tokenizer::Tokenizer> tok;
  model::TokenizerFacts tok_facts;
  model::ModelConfig config;
  std::string init_dir;  // the folder the weights come from (init-model/ for a preset)
  bool from_preset = false;
  bool finished = false;  // resume of a run that has summary.json: check the options, change nothing
  Hash128 fingerprint;    // options_fingerprint of this run
  PairSet pairs, eval_pairs;
  PairLoadReport report, eval_report;

  std::unique_ptr<RewardModel> rm;
  std::unique_ptr<AdamW> adam;
  TrainState state;
  bool resumed = false;
  Schedule schedule = Schedule::linear;
  uint64_t total_steps = 0, warmup = 0;
  std::optional<int64_t> pad;
  std::unique_ptr<DataOrder> order;

  Metrics metrics;
  PairAcc acc;  // sums of the logging interval in progress (saved with checkpoints)
  PackedBatch batch;
  PairOutputs out;
  std::unique_ptr<StepProgress> progress;
  TrainSummary summary;
  Clock::time_point run_start, interval_start, last_save;
  uint64_t run_rows = 0;
  bool first_logged = false;
  uint64_t saved_step = 0;  // the step of the last checkpoint this process wrote (0 = none)
};

Status load_tokenizer(Trainer& t) {
  SP_ASSIGN_OR_RETURN(auto tok, tokenizer::load_tokenizer(t.o.tokenizer_dir));
  t.tok.emplace(std::move(tok));
  SP_ASSIGN_OR_RETURN(t.tok_facts, model::inspect_tokenizer_dir(t.o.tokenizer_dir));
  return Status::ok();
}

// The model's config: a preset (with shape overrides) trained from scratch, or a HF folder's.
Status plan_model(Trainer& t) {
  const TrainOptions& o = t.o;
  const tokenizer::Tokenizer& tok = *t.tok;
  model::ModelConfig& config = t.config;
  t.from_preset = o.model_init.rfind("preset:", 0) == 0;
  if (t.from_preset) {
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
    if (config.n_head_kv <= 0 || config.n_head % config.n_head_kv != 0) {
      return invalid_argument("`n_head` (" + std::to_string(config.n_head) +
                              ") must be a multiple of `n_head_kv` (" + std::to_string(config.n_head_kv) +
                              ")");
    }
    if (tok.bos_id()) config.bos_token_id = *tok.bos_id();
    if (tok.eos_id()) config.eos_token_id = *tok.eos_id();
    t.init_dir = (fs::path(o.out_dir) / "init-model").string();
  } else {
    if (o.model_init.empty())
      return invalid_argument("`model_init` is required (a model folder or preset:<name>)");
    SP_ASSIGN_OR_RETURN(config, read_reward_config(o.model_init));
    t.init_dir = o.model_init;
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
                            " (wrong `tokenizer_dir` for `model_init`?)");
  }
  t.pad = config.pad_token_id;
  return Status::ok();
}

Status load_data(Trainer& t) {
  const TrainOptions& o = t.o;
  PairLoadOptions load;
  load.max_length = o.max_length;
  load.truncation = o.truncation;
  load.format = o.format;
  load.date = o.date;
  load.n_threads = o.threads;
  load.progress = o.progress && t.root;
  const auto rejects = [&](const char* name) {
    return t.root && !t.finished ? (fs::path(o.out_dir) / name).string() : std::string();
  };
  SP_ASSIGN_OR_RETURN(t.pairs, load_pairs(o.data, *t.tok, load, rejects("train.rejects.jsonl"), &t.report));
  if (t.pairs.size() == 0) {
    return data_error("no usable pairs in `data` (" + std::to_string(t.report.records) +
                      " records read; see train.rejects.jsonl in `out_dir`)");
  }
  if (!o.eval_data.empty()) {
    SP_ASSIGN_OR_RETURN(t.eval_pairs,
                        load_pairs(o.eval_data, *t.tok, load, rejects("eval.rejects.jsonl"), &t.eval_report));
    if (t.eval_pairs.size() == 0) {
      return data_error("no usable pairs in `eval_data` (" + std::to_string(t.eval_report.records) +
                        " records read; see eval.rejects.jsonl in `out_dir`)");
    }
  }
  t.summary.pairs = t.pairs.size();
  t.summary.eval_pairs = t.eval_pairs.size();
  return Status::ok();
}

Status create_model(Trainer& t) {
  RewardModel::Options mo;
  mo.n_threads = t.o.threads;
  mo.kernels = t.o.kernels;
  mo.freeze_embeddings = t.o.freeze_embeddings;
  mo.n_frozen_layers = t.o.freeze_layers;
  SP_ASSIGN_OR_RETURN(t.rm, RewardModel::create(t.config, mo));
  t.summary.n_params = static_cast<int64_t>(t.rm->layout().size());
  t.summary.n_trainable = static_cast<int64_t>(t.rm->layout().n_trainable());
  return Status::ok();
}

// Weights and state: from `latest` (resume; the options must be the interrupted run's), else the
// initial model (a preset's random init is written to init-model/ first).
Status init_or_resume(Trainer& t) {
  const TrainOptions& o = t.o;
  const Hash128& fingerprint = t.fingerprint;
  if (o.resume) {
    SP_ASSIGN_OR_RETURN(const std::string ckpt, latest_checkpoint(o.out_dir));
    SP_ASSIGN_OR_RETURN(t.state, load_checkpoint(ckpt, *t.rm));
    if (!(t.state.options_fingerprint == fingerprint)) {
      return invalid_argument(ckpt +
                              ": was written by a run with other options or data; resume with exactly the "
                              "options of that run (or choose a new `out_dir`)");
    }
    t.resumed = true;
    t.summary.resumed_from = t.state.step;
  } else {
    if (t.from_preset) {
      Status written = Status::ok();
      if (t.root) {
        model::InitOptions init;
        init.seed = o.seed;
        init.init_std = o.init_std;
        model::ModelConfig c = t.config;
        written = model::write_random_model(c, init, t.init_dir);
      }
      SP_RETURN_IF_ERROR(agree(t.comm, written));
    }
    bool score_init = false;
    SP_RETURN_IF_ERROR(load_hf_weights(t.init_dir, *t.rm, o.seed, &score_init));
    t.state.options_fingerprint = fingerprint;
  }
  AdamWOptions adam_options = o.adam;
  adam_options.lr = o.lr;
  t.adam = std::make_unique<AdamW>(t.rm->layout(), adam_options, &t.rm->thread_pool());
  if (t.resumed) {
    t.adam->m = std::move(t.state.adam_m);
    t.adam->v = std::move(t.state.adam_v);
    t.adam->refresh();
    if (t.root && t.state.log_sums.size() == PairAcc::kFields)
      std::copy(t.state.log_sums.begin(), t.state.log_sums.end(), t.acc.v);
  }
  return Status::ok();
}

void plan_schedule(Trainer& t) {
  const TrainOptions& o = t.o;
  t.schedule = *parse_schedule(o.schedule);  // checked by check_options
  const uint64_t steps_per_epoch = (t.pairs.size() + o.batch_pairs - 1) / o.batch_pairs;
  t.total_steps = o.max_steps ? o.max_steps : std::max<uint64_t>(1, o.epochs) * steps_per_epoch;
  t.warmup = o.warmup_steps
                 ? o.warmup_steps
                 : static_cast<uint64_t>(std::ceil(o.warmup_ratio * static_cast<double>(t.total_steps)));
  t.order = std::make_unique<DataOrder>(t.pairs.size(), o.seed, o.shuffle);
}

// metrics.jsonl (truncated to the resumed step) with its "start" line, and the progress display.
Status open_metrics(Trainer& t) {
  t.summary.metrics_path = (fs::path(t.o.out_dir) / "metrics.jsonl").string();
  t.summary.best_dir = (fs::path(t.o.out_dir) / "best").string();
  if (t.root) SP_RETURN_IF_ERROR(t.metrics.open(t.summary.metrics_path, t.state.step, t.resumed));
  if (t.root && !t.resumed) {
    nlohmann::ordered_json j;
    j["kind"] = "start";
    j["step"] = 0;
    j["pairs"] = t.pairs.size();
    j["eval_pairs"] = t.eval_pairs.size();
    j["total_steps"] = t.total_steps;
    j["params"] = t.summary.n_params;
    j["trainable_params"] = t.summary.n_trainable;
    j["world_size"] = t.comm.size();
    j["threads"] = t.rm->n_threads();
    j["kernels"] = t.rm->kernel_name();
    j["rejects"] = t.report.rejects;
    j["too_long"] = t.report.too_long;
    t.metrics.write(j);
  }
  t.progress = std::make_unique<StepProgress>("train", t.total_steps, t.state.step, t.o.progress && t.root);
  return Status::ok();
}

// ---------------------------------------------------------------- one step

// The next step's pairs (all ranks together); *mine receives this rank's share: pairs k, k + n, ...
std::vector<uint32_t> next_batch(Trainer& t, std::vector<uint32_t>* mine) {
  std::vector<uint32_t> step_ids = t.order->next(t.o.batch_pairs, &t.state.epoch, &t.state.cursor);
  t.state.rng_state = t.order->epoch_seed(t.state.epoch);
  mine->clear();
  for (size_t i = static_cast<size_t>(t.comm.rank()); i < step_ids.size();
       i += static_cast<size_t>(t.comm.size()))
    mine->push_back(step_ids[i]);
  return step_ids;
}

// Forward and backward of this rank's pairs in token-budget micro-batches; gradients accumulate,
// each pair's loss scaled by 1 / (the step's pairs over all ranks). Returns the first pair (index
// into the training pairs) whose loss is not finite, or -1.
int64_t forward_backward(Trainer& t, const std::vector<uint32_t>& mine, size_t n_step_pairs) {
  const float loss_scale = 1.0f / static_cast<float>(n_step_pairs);
  double rows = 0;
  int64_t bad_pair = -1;
  for (const auto& mb : split_by_tokens(t.pairs, mine, t.o.micro_batch_tokens, t.o.share_prefix)) {
    pack_pairs(t.batch, t.pairs, mb, t.o.share_prefix, t.pad);
    t.rm->forward_backward(t.batch, loss_scale, &t.out);
    t.acc.add(t.out);
    rows += static_cast<double>(t.batch.n_rows());
    for (size_t i = 0; i < t.out.losses.size() && bad_pair < 0; ++i)
      if (!std::isfinite(t.out.losses[i])) bad_pair = mb[i];
  }
  t.acc.v[PairAcc::tokens] += rows;
  return bad_pair;
}

// Sums the gradients across ranks. Returns the embedding rows whose gradient may be nonzero (this
// rank's ids, united over ranks), or nullptr when the embeddings are frozen.
const std::vector<int32_t>* allreduce_grads(Trainer& t) {
  RewardModel& rm = *t.rm;
  Communicator& comm = t.comm;
  std::span<float> grads = rm.grads();
  const std::vector<int32_t>* embed_rows = nullptr;
  if (!rm.layout().embeddings_frozen()) {
    if (comm.size() > 1) {
      std::vector<float> mark(static_cast<size_t>(t.config.vocab_size), 0.0f);
      for (int32_t r : rm.embedding_rows()) mark[static_cast<size_t>(r)] = 1.0f;
      comm.allreduce_sum(mark);
      std::vector<int32_t> all;
      for (size_t r = 0; r < mark.size(); ++r)
        if (mark[r] > 0) all.push_back(static_cast<int32_t>(r));
      rm.mark_embedding_rows(all);
    }
    embed_rows = &rm.embedding_rows();
  }
  if (comm.size() == 1) return embed_rows;
  if (!embed_rows) {
    comm.allreduce_sum(grads);
    return embed_rows;
  }
  // Sum the listed embedding rows (gathered into one buffer) and the dense rest.
  const int64_t C = t.config.hidden_size;
  std::vector<float> packed(embed_rows->size() * static_cast<size_t>(C));
  for (size_t i = 0; i < embed_rows->size(); ++i)
    std::memcpy(packed.data() + i * C, grads.data() + static_cast<int64_t>((*embed_rows)[i]) * C,
                C * sizeof(float));
  comm.allreduce_sum(packed);
  for (size_t i = 0; i < embed_rows->size(); ++i)
    std::memcpy(grads.data() + static_cast<int64_t>((*embed_rows)[i]) * C, packed.data() + i * C,
                C * sizeof(float));
  const size_t embed_size = static_cast<size_t>(t.config.vocab_size * C);
  comm.allreduce_sum(grads.subspan(embed_size));
  return embed_rows;
}

// What every rank decides together at a step: a non-finite loss anywhere, a stop request (signal)
// anywhere, and rank 0's clock saying a time-based checkpoint is due. One tiny collective.
struct StepFlags {
  bool bad_loss = false, stop = false, save_due = false;
};
StepFlags agree_on_flags(Trainer& t, int64_t bad_pair) {
  double v[3] = {bad_pair >= 0 ? 1.0 : 0.0, t.o.stop_requested && t.o.stop_requested() ? 1.0 : 0.0, 0.0};
  if (t.root && t.o.save_every_seconds > 0)
    v[2] = std::chrono::duration<double>(Clock::now() - t.last_save).count() >= t.o.save_every_seconds;
  if (t.comm.size() > 1) t.comm.allreduce_sum(std::span<double>(v, 3));
  return {v[0] > 0, v[1] > 0, v[2] > 0};
}

Status non_finite_loss(uint64_t step, int64_t bad_pair) {
  std::string where = bad_pair >= 0 ? " (first at training pair " + std::to_string(bad_pair) +
                                          ", counted from 0 among the usable pairs)"
                                    : " (on another rank)";
  return data_error(
      "the training loss is not finite at step " + std::to_string(step) + where +
      "; nothing was saved from this step. Check `model_init` for NaN/Inf weights or lower `lr`");
}

// Appends a "train" line to metrics.jsonl, updates the summary and the progress display, and starts
// the next logging interval.
void log_step(Trainer& t, double lr, double norm) {
  TrainState& state = t.state;
  PairAcc& acc = t.acc;
  t.comm.allreduce_sum(std::span<double>(acc.v, PairAcc::kFields));
  const double secs = std::chrono::duration<double>(Clock::now() - t.interval_start).count();
  const double interval_rows = acc.v[PairAcc::tokens];
  state.tokens_seen += static_cast<uint64_t>(interval_rows);
  t.run_rows += static_cast<uint64_t>(interval_rows);
  const double tokens_per_s = secs > 0 ? interval_rows / secs : 0.0;
  nlohmann::ordered_json j;
  j["kind"] = "train";
  j["step"] = state.step;
  j["epoch"] = static_cast<double>(state.pairs_seen) / static_cast<double>(t.pairs.size());
  j["loss"] = acc.mean(PairAcc::loss);
  j["accuracy"] = acc.mean(PairAcc::correct);
  j["margin"] = acc.mean(PairAcc::margin);
  j["chosen_mean"] = acc.mean(PairAcc::c_sum);
  j["chosen_std"] = acc.stdev(PairAcc::c_sum, PairAcc::c_sq);
  j["rejected_mean"] = acc.mean(PairAcc::r_sum);
  j["rejected_std"] = acc.stdev(PairAcc::r_sum, PairAcc::r_sq);
  j["lr"] = lr;
  j["grad_norm"] = norm;
  j["tokens"] = interval_rows;
  j["tokens_per_s"] = tokens_per_s;
  j["elapsed_s"] = std::chrono::duration<double>(Clock::now() - t.run_start).count();
  if (t.root) t.metrics.write(j);
  if (!t.first_logged) t.summary.first_loss = acc.mean(PairAcc::loss), t.first_logged = true;
  t.summary.last_loss = acc.mean(PairAcc::loss);
  t.summary.last_accuracy = acc.mean(PairAcc::correct);
  char detail[160];
  std::snprintf(detail, sizeof detail, "loss %.4f acc %.3f lr %.2e gn %.3g %.0f tok/s",
                acc.mean(PairAcc::loss), acc.mean(PairAcc::correct), lr, norm, tokens_per_s);
  t.progress->report(state.step, detail);
  acc.reset();
  t.interval_start = Clock::now();
}

// Evaluates on the held-out pairs, logs an "eval" line, and writes best/ when the metric improved.
Result<EvalMetrics> evaluate_and_log(Trainer& t, uint64_t step) {
  const TrainOptions& o = t.o;
  TrainState& state = t.state;
  EvalMetrics m = evaluate(t.eval_pairs, *t.rm, t.comm, o.micro_batch_tokens, o.share_prefix, t.pad);
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
  const bool maximize = o.best_metric == "eval_accuracy";
  const double value = maximize ? m.accuracy : m.loss;
  const bool better = step > 0 && (state.best_step == 0 ||
                                   (maximize ? value > state.best_metric : value < state.best_metric));
  if (better) {
    state.best_metric = value;
    state.best_step = step;
    if (t.root)
      SP_RETURN_IF_ERROR(save_model_folder(t.summary.best_dir, *t.rm, o.tokenizer_dir, t.tok_facts));
    j["best"] = true;
  }
  if (t.root) t.metrics.write(j);
  return m;
}

Status maybe_eval(Trainer& t, bool last) {
  const uint64_t step = t.state.step;
  const bool due = t.eval_pairs.size() > 0 && ((t.o.eval_every > 0 && step % t.o.eval_every == 0) || last);
  if (!due) return Status::ok();
  SP_ASSIGN_OR_RETURN(EvalMetrics m, evaluate_and_log(t, step));
  if (last) {
    t.summary.eval_loss = m.loss, t.summary.eval_accuracy = m.accuracy;
    t.summary.eval_accuracy_by_category = m.accuracy_by_category;
  }
  return Status::ok();
}

// A resumable checkpoint of the current step (checkpoint.h: save_checkpoint).
Status save(Trainer& t) {
  // The interval's sums over all ranks go into rank 0's state (other ranks restart from zero).
  t.comm.allreduce_sum(std::span<double>(t.acc.v, PairAcc::kFields));
  if (!t.root) t.acc.reset();
  Status saved = Status::ok();
  if (t.root) {
    TrainState& state = t.state;
    state.log_sums.assign(t.acc.v, t.acc.v + PairAcc::kFields);
    std::swap(state.adam_m, t.adam->m);  // lend the moments to the state for writing (no copy)
    std::swap(state.adam_v, t.adam->v);
    saved = save_checkpoint(t.o.out_dir, *t.rm, t.o.tokenizer_dir, &t.tok_facts, state, t.o.keep_checkpoints);
    std::swap(state.adam_m, t.adam->m);
    std::swap(state.adam_v, t.adam->v);
  }
  SP_RETURN_IF_ERROR(agree(t.comm, saved));
  t.saved_step = t.state.step;
  t.last_save = Clock::now();
  return Status::ok();
}

// Saves every save_every steps, when save_every_seconds have passed since the last save, and when a
// stop was requested (then the run ends with the message to resume it).
Status maybe_save(Trainer& t, const StepFlags& flags, bool last) {
  const uint64_t step = t.state.step;
  const bool stop = flags.stop && !last;
  const bool due = (t.o.save_every > 0 && step % t.o.save_every == 0) || (flags.save_due && !last) || stop;
  if (due && t.saved_step != step) SP_RETURN_IF_ERROR(save(t));
  if (stop) {
    return Status(StatusCode::interrupted,
                  "stopped at step " + std::to_string(step) + "; rerun with `resume` to continue from " +
                      (fs::path(t.o.out_dir) / ("checkpoint-" + std::to_string(step))).string());
  }
  return Status::ok();
}

// zero grads, forward-backward, all-reduce, clip + AdamW, log, maybe evaluate, maybe save.
Status train_loop(Trainer& t) {
  const TrainOptions& o = t.o;
  TrainState& state = t.state;
  if (!t.resumed && t.eval_pairs.size() > 0 && o.eval_every > 0)
    SP_RETURN_IF_ERROR(evaluate_and_log(t, 0).status());
  t.run_start = t.interval_start = t.last_save = Clock::now();
  std::vector<uint32_t> mine;
  while (state.step < t.total_steps) {
    const double lr = schedule_lr(t.schedule, o.lr, state.step, t.warmup, t.total_steps);
    const std::vector<uint32_t> step_ids = next_batch(t, &mine);
    t.rm->zero_grad();
    const int64_t bad_pair = forward_backward(t, mine, step_ids.size());
    const StepFlags flags = agree_on_flags(t, bad_pair);
    if (flags.bad_loss) return non_finite_loss(state.step + 1, bad_pair);
    const std::vector<int32_t>* embed_rows = allreduce_grads(t);
    const double norm = t.adam->grad_norm(t.rm->grads(), embed_rows);
    if (!std::isfinite(norm)) {
      return data_error("the gradient norm is not finite at step " + std::to_string(state.step + 1) +
                        "; nothing was saved from this step. Lower `lr` or set `max_grad_norm`");
    }
    t.adam->step(t.rm->params(), t.rm->grads(), embed_rows, state.step + 1, lr,
                 clip_scale(norm, o.max_grad_norm));
    ++state.step;
    state.pairs_seen += step_ids.size();

    const bool last = state.step == t.total_steps;
    if (state.step % std::max<uint64_t>(1, o.log_every) == 0 || last) log_step(t, lr, norm);
    SP_RETURN_IF_ERROR(maybe_eval(t, last));
    SP_RETURN_IF_ERROR(maybe_save(t, flags, last));
  }
  return Status::ok();
}

// ---------------------------------------------------------------- the end

Status write_summary_json(const Trainer& t) {
  const TrainSummary& summary = t.summary;
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
  if (t.eval_pairs.size() > 0) {
    s["eval_loss"] = summary.eval_loss;
    s["eval_accuracy"] = summary.eval_accuracy;
    nlohmann::ordered_json cats = nlohmann::ordered_json::object();
    for (const auto& [name, a] : summary.eval_accuracy_by_category) cats[name] = a;
    s["eval_accuracy_by_category"] = cats;
    s["best_metric_name"] = t.o.best_metric;
    s["best_metric"] = summary.best_metric;
    s["best_step"] = summary.best_step;
    s["best_dir"] = summary.best_dir;
  }
  s["final_dir"] = summary.final_dir;
  s["metrics"] = summary.metrics_path;
  s["data_records"] = t.report.records;
  s["data_rejects"] = t.report.rejects;
  s["data_too_long"] = t.report.too_long;
  s["options_fingerprint"] = t.fingerprint.hex();  // a resume of the finished run must match it
  return io::write_text((fs::path(t.o.out_dir) / "summary.json").string(), s.dump(2) + "\n");
}

// final/ and summary.json (written last: its presence marks a finished run).
Status finish(Trainer& t) {
  TrainSummary& summary = t.summary;
  summary.steps = t.state.step;
  summary.tokens = t.state.tokens_seen;
  summary.seconds = std::chrono::duration<double>(Clock::now() - t.run_start).count();
  summary.tokens_per_s = summary.seconds > 0 ? static_cast<double>(t.run_rows) / summary.seconds : 0;
  summary.best_metric = t.state.best_metric;
  summary.best_step = t.state.best_step;
  if (t.eval_pairs.size() == 0) summary.eval_loss = summary.eval_accuracy = NAN;
  summary.final_dir = (fs::path(t.o.out_dir) / "final").string();
  Status written = Status::ok();
  if (t.root) {
    written = save_model_folder(summary.final_dir, *t.rm, t.o.tokenizer_dir, t.tok_facts);
    if (written.is_ok()) written = write_summary_json(t);
  }
  return agree(t.comm, written);
}

}  // namespace

Result<TrainSummary> run_training(const TrainOptions& o) {
  SP_RETURN_IF_ERROR(check_options(o));
  Trainer t(o);
  t.summary.world_size = t.comm.size();
  SP_RETURN_IF_ERROR(agree(t.comm, t.root ? prepare_run_folder(o, t.lock) : Status::ok()));
  t.finished = o.resume && fs::exists(fs::path(o.out_dir) / "summary.json");

  SP_RETURN_IF_ERROR(load_tokenizer(t));
  SP_RETURN_IF_ERROR(plan_model(t));
  SP_RETURN_IF_ERROR(load_data(t));
  t.fingerprint = options_fingerprint(o, t.config, t.pairs, t.comm.size());
  if (t.finished) return finished_run(o.out_dir, t.fingerprint);
  SP_RETURN_IF_ERROR(create_model(t));
  SP_RETURN_IF_ERROR(init_or_resume(t));
  plan_schedule(t);
  SP_RETURN_IF_ERROR(open_metrics(t));

  SP_RETURN_IF_ERROR(train_loop(t));
  SP_RETURN_IF_ERROR(finish(t));
  return t.summary;
}

}  // namespace synpref::train
