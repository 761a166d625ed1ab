// Helpers shared by the model tests: temporary folders, tiny random models, the PyTorch reference.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "synpref/model/init.h"
#include "synpref/model/model.h"
#include "test_util.h"

namespace synpref::model::testing {

using synpref::testing::TempDir;

// A tiny config: 2 layers, hidden 64, GQA, family defaults; tests override fields.
inline ModelConfig tiny_config(Family family, HeadKind head = HeadKind::score) {
  ModelConfig c;
  c.family = family;
  c.head = head;
  const FamilySpec& spec = family_spec(family);
  c.architecture = head == HeadKind::score ? spec.arch_score
                   : head == HeadKind::lm  ? spec.arch_lm
                                           : spec.arch_base;
  c.qk_norm = spec.qk_norm;
  c.vocab_size = 1000;
  c.hidden_size = 64;
  c.intermediate_size = 96;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_head_kv = 2;
  c.head_dim = family == Family::qwen3 ? 32 : 16;
  c.rms_norm_eps = family == Family::qwen3 ? 1e-6 : 1e-5;
  c.rope_theta = family == Family::qwen3 ? 1000000.0 : 500000.0;
  c.max_position_embeddings = 4096;
  c.num_labels = 1;
  c.pad_token_id = 999;
  return c;
}

// Weights large enough that every op matters (transformers' 0.02 would make a 2-layer model nearly
// linear), norm weights away from 1, biases non-zero.
inline InitOptions test_init(uint64_t seed, DType dtype = DType::F32) {
  InitOptions o;
  o.seed = seed;
  o.init_std = 0.15;
  o.norm_jitter = 0.3;
  o.bias_std = 0.2;
  o.dtype = dtype;
  return o;
}

inline std::vector<std::vector<int32_t>> random_sequences(int count, int min_len, int max_len, int64_t vocab,
                                                          uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> len(min_len, max_len);
  std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(vocab - 1));
  std::vector<std::vector<int32_t>> out(static_cast<size_t>(count));
  for (auto& s : out) {
    s.resize(static_cast<size_t>(len(rng)));
    for (auto& t : s) t = id(rng);
  }
  return out;
}

inline std::vector<std::span<const int32_t>> spans(const std::vector<std::vector<int32_t>>& seqs) {
  return {seqs.begin(), seqs.end()};
}

// Runs tests/oracles/model_reference.py with /usr/bin/python3 (Debian's torch) and returns its JSON output.
inline nlohmann::json run_reference(const std::vector<std::string>& args,
                                    const std::vector<std::vector<int32_t>>& seqs, const TempDir& tmp) {
  const std::string in = tmp.file("reference_in.json"), out = tmp.file("reference_out.json");
  {
    std::ofstream f(in);
    f << nlohmann::json({{"sequences", seqs}}).dump();
  }
  std::string cmd =
      "/usr/bin/python3 " + std::string(SYNPREF_SOURCE_DIR) + "/tests/oracles/model_reference.py";
  for (const auto& a : args) cmd += " '" + a + "'";
  cmd += " --input '" + in + "' --output '" + out + "' 2>" + tmp.file("reference_err.txt");
  const int rc = std::system(cmd.c_str());
  if (rc != 0) {
    std::ifstream err(tmp.file("reference_err.txt"));
    std::string text((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
    ADD_FAILURE() << "reference failed (rc " << rc
                  << "; is python3-torch installed? run scripts/setup.sh): " << cmd << "\n"
                  << text;
    return nlohmann::json();
  }
  std::ifstream f(out);
  return nlohmann::json::parse(f);
}

inline std::string stories260k_path() {
  return std::string(SYNPREF_SOURCE_DIR) + "/../shared/data/models/stories260K/stories260K.bin";
}

}  // namespace synpref::model::testing
