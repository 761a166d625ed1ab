// synpref/train/checkpoint.h: Hugging Face folders in and out, and the resumable training state.
//
// A checkpoint folder is a transformers *ForSequenceClassification folder (config.json with
// "architectures": ["Qwen3ForSequenceClassification"] or Llama's, num_labels 1, pad_token_id;
// model.safetensors in f32 with transformers' tensor names; the tokenizer files) that
// `synpref score` and transformers' from_pretrained load. A resumable checkpoint adds
// training_state.bin (format: docs/formats/training-state.md): optimizer moments, step, data
// position and RNG, so that a run killed at any point resumes bit-identically from it.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "synpref/common/hash.h"
#include "synpref/common/status.h"
#include "synpref/model/config.h"
#include "synpref/model/init.h"
#include "synpref/train/reward_model.h"

namespace synpref::train {

// config.json of a HF folder, turned into a reward-model config (head score, num_labels 1,
// architecture *ForSequenceClassification) whatever head the folder had.
Result<model::ModelConfig> read_reward_config(const std::string& dir);

// Loads every parameter of `rm` from a HF folder (model.safetensors or a sharded index; f32, f16,
// bf16; with or without the "model." prefix). When the folder has no score.weight (a causal-LM or
// base checkpoint) the new head is initialized as transformers does, normal(0, initializer_range),
// from the stream (seed, "score.weight"), and *score_initialized is set. Errors name the file and
// tensor (missing, wrong shape, unsupported dtype).
Status load_hf_weights(const std::string& dir, RewardModel& rm, uint64_t seed, bool* score_initialized);

// Writes config.json, model.safetensors (f32) and the tokenizer files of `tokenizer_dir` (when not
// empty; `facts` from model::inspect_tokenizer_dir, looked up when null) into `dir` (created).
// Files are written atomically (temporary name, then rename).
Status save_hf_folder(const std::string& dir, const RewardModel& rm, const std::string& tokenizer_dir,
                      const model::TokenizerFacts* facts = nullptr);

// Everything besides the weights that a resumed run needs.
struct TrainState {
  uint64_t step = 0;   // optimizer steps done
  uint64_t epoch = 0;  // data position: epoch and the next pair in its shuffled order
  uint64_t cursor = 0;
  uint64_t rng_state = 0;    // the data-order generator
  uint64_t tokens_seen = 0;  // totals for metrics
  uint64_t pairs_seen = 0;
  double best_metric = 0;  // best eval metric so far (valid when best_step > 0)
  uint64_t best_step = 0;
  Hash128 options_fingerprint;        // the options that decide the trajectory; a resume must match
  std::vector<double> log_sums;       // metric sums of the logging interval in progress
  std::vector<float> adam_m, adam_v;  // (n_trainable) each
};
Status save_train_state(const std::string& path, const TrainState& state);
// `n_trainable` must match the model's (checked).
Result<TrainState> load_train_state(const std::string& path, size_t n_trainable);

}  // namespace synpref::train
