// synpref/train/trainer.h: the Bradley-Terry training loop (`synpref train`).
//
// One optimizer step = `batch_pairs` pairs (global, over all MPI ranks), split by token budget into
// micro-batches whose gradients accumulate; then allreduce, global-norm clipping, AdamW with the
// schedule's learning rate. Loss = mean over the step's pairs of -log sigmoid(r_c - r_r - margin).
//
// Output folder (`out_dir`; one run per folder, locked while a run uses it):
//   train.lock                 flock'ed by the running trainer; holds its pid
//   metrics.jsonl              one JSON line per logging step ("kind": "train") and evaluation ("eval")
//   init-model/                the random initial model (from-scratch runs only)
//   checkpoint-<step>/         HF folder + training_state.bin (checksums of every file), written every
//                              save_every steps and every save_every_seconds (the last
//                              keep_checkpoints kept); `latest` names the newest complete one
//   best/                      HF folder of the best evaluation so far (best_metric)
//   final/                     HF folder of the trained model
//   summary.json               what happened (steps, final and best metrics, throughput); written
//                              last, so its presence marks a finished run
//   report.html                the training report page, written by the `synpref train` command
//                              after the run and by `synpref report train` (synpref/report/pages.h)
//
// A new run refuses a non-empty `out_dir` unless `overwrite` (which deletes what an earlier run
// wrote there and refuses folders holding anything else). Resume (`resume = true`): continues from
// `latest` bit-identically (same options, data and thread count), truncating metrics.jsonl to the
// resumed step; resuming a finished run changes nothing (TrainSummary::already_finished); resuming a
// folder without a checkpoint is an error.
//
// Errors: option errors name TrainOptions fields in backticks (e.g. "`out_dir` is required"); a
// front end maps them to its own names (the CLI to its flags). A non-finite loss or gradient norm
// stops the run with an error naming the step; nothing is saved from it. When stop_requested()
// turns true, the run saves a checkpoint at the end of the current step and returns
// StatusCode::interrupted ("stopped at step N; rerun with `resume` ...").
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "synpref/common/status.h"
#include "synpref/train/optimizer.h"

namespace synpref::train {

struct TrainOptions {
  // Model: a HF folder (RM, causal LM or base model) or a preset trained from scratch.
  std::string model_init;  // folder, or "preset:<name>" (e.g. preset:qwen3-tiny)
  std::string tokenizer_dir;
  // From-scratch shape overrides (0 = the preset's value).
  int64_t hidden_size = 0, intermediate_size = 0, n_layer = 0, n_head = 0, n_head_kv = 0, head_dim = 0;
  double init_std = 0.02;

  std::vector<std::string> data, eval_data;
  std::string out_dir;

  // Optimization.
  double lr = 1e-5;
  AdamWOptions adam;           // adam.lr is ignored (lr above, scheduled)
  double max_grad_norm = 1.0;  // 0 = no clipping
  std::string schedule = "linear";
  uint64_t warmup_steps = 0;
  double warmup_ratio = 0.0;           // used when warmup_steps is 0
  uint64_t batch_pairs = 32;           // pairs per optimizer step, all ranks together
  uint64_t micro_batch_tokens = 8192;  // token budget of one forward/backward pass
  uint64_t epochs = 1;
  uint64_t max_steps = 0;  // 0 = epochs * ceil(pairs / batch_pairs)
  uint64_t seed = 0;       // init, score head, data order
  bool shuffle = true;
  bool share_prefix = true;
  int freeze_layers = 0;
  bool freeze_embeddings = false;

  // Data.
  uint64_t max_length = 4096;
  std::string truncation = "skip";
  std::string format = "auto";
  std::string date;  // chat-template date (YYYY-MM-DD) for reproducible tokenization

  // Logging, evaluation, checkpoints.
  uint64_t log_every = 10;
  uint64_t eval_every = 0;          // 0 = only at the end (when eval_data is given)
  uint64_t save_every = 0;          // steps between checkpoints (0 = by time only)
  double save_every_seconds = 600;  // also save when this long has passed since the last save (0 = off)
  uint64_t keep_checkpoints = 2;
  std::string best_metric = "eval_accuracy";  // eval_accuracy (max) or eval_loss (min)
  bool resume = false;
  bool overwrite = false;  // a new run may clear an earlier run's out_dir
  // Progress: a redrawn line on a terminal; elsewhere (pipes, CI, nohup, Slurm) a plain line every
  // log_every steps on stderr (step, loss, accuracy, lr, tokens/s, ETA). false = silent.
  bool progress = true;
  // Polled at every step boundary (e.g. a flag set by a SIGINT/SIGTERM handler); null = never.
  std::function<bool()> stop_requested;

  int threads = 0;
  std::string kernels = "auto";
};

struct TrainSummary {
  uint64_t steps = 0, pairs = 0, eval_pairs = 0;
  uint64_t tokens = 0;  // rows processed (prefix counted once when shared)
  double seconds = 0, tokens_per_s = 0;
  double first_loss = 0, last_loss = 0;  // logged train loss (first and last logging interval)
  double last_accuracy = 0;
  double eval_loss = 0, eval_accuracy = 0;  // final evaluation (NaN without eval data)
  std::vector<std::pair<std::string, double>> eval_accuracy_by_category;
  double best_metric = 0;
  uint64_t best_step = 0;
  uint64_t resumed_from = 0;
  int world_size = 1;
  std::string final_dir, best_dir, metrics_path;
  int64_t n_params = 0, n_trainable = 0;
  // A resume found the run finished (summary.json): nothing was changed; steps, pairs, world_size,
  // final_dir, best_dir and metrics_path come from its summary.json.
  bool already_finished = false;
};

Result<TrainSummary> run_training(const TrainOptions& options);

// Evaluation of a HF folder on pairs (no training): loss, pair accuracy, mean margin.
struct EvalMetrics {
  uint64_t pairs = 0;
  double loss = 0, accuracy = 0, margin = 0;
  double chosen_mean = 0, chosen_std = 0, rejected_mean = 0, rejected_std = 0;
  // Pair accuracy per attributes.task_category (records without one under "").
  std::vector<std::pair<std::string, double>> accuracy_by_category;
};

}  // namespace synpref::train
