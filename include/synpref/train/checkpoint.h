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

// One file of a checkpoint folder: its name, size and XXH3-128 (recorded in the training state).
struct FileChecksum {
  std::string name;
  uint64_t bytes = 0;
  Hash128 xxh3;
};
// XXH3-128 (seed 0) of a file's bytes, read in chunks; *bytes receives its size.
Result<Hash128> hash_file(const std::string& path, uint64_t* bytes);

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
  std::vector<FileChecksum> files;    // every other file of the checkpoint folder, by name
  std::vector<float> adam_m, adam_v;  // (n_trainable) each
};
Status save_train_state(const std::string& path, const TrainState& state);
// `n_trainable` must match the model's (checked). A state of another format version is refused
// with what to do.
Result<TrainState> load_train_state(const std::string& path, size_t n_trainable);

// Resumable checkpoints in a run folder:
//   checkpoint-<step>/   HF folder (save_hf_folder) + training_state.bin, whose header lists every
//                        other file of the folder with its size and XXH3-128
//   latest               the name of the newest complete checkpoint ("checkpoint-<step>\n")
//
// save_checkpoint writes checkpoint-<state.step>.tmp/, fsyncs its files and the folder, renames it to
// checkpoint-<state.step>/, fsyncs the run folder, then points `latest` at it (written atomically,
// fsynced) and finally removes all but the newest `keep` checkpoints (at least 1; never the one
// just written). A crash at any moment leaves `latest` naming a complete checkpoint. Fills
// state.files.
Status save_checkpoint(const std::string& run_dir, const RewardModel& rm, const std::string& tokenizer_dir,
                       const model::TokenizerFacts* facts, TrainState& state, uint64_t keep);

// The checkpoint folder `latest` names; not_found when the run folder has none (or names a folder
// that is gone).
Result<std::string> latest_checkpoint(const std::string& run_dir);

// Loads checkpoint folder `dir` into `rm` and returns its state. Before any weight is read, the state
// file is validated and every file it lists is checked against its size and checksum, so a damaged
// or partly copied checkpoint is refused with the file's name instead of resuming silently.
Result<TrainState> load_checkpoint(const std::string& dir, RewardModel& rm);

}  // namespace synpref::train
