// synpref/tokenizer/train.h: learn a small byte-level BPE tokenizer and write it in Hugging Face
// format (tokenizer.json + tokenizer_config.json with a ChatML chat template).
//
// For demos and tests that must run without downloaded tokenizers: the result is an ordinary HF
// tokenizer folder (Qwen2-style split pattern, ByteLevel mapping, BPE merges, <|endoftext|>,
// <|im_start|>, <|im_end|>), loaded by load_tokenizer() and usable by transformers.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "synpref/common/status.h"

namespace synpref::tokenizer {

struct BpeTrainOptions {
  int vocab_size = 1024;  // byte alphabet (256) + merges; the 3 special tokens come on top
  int min_frequency = 2;  // stop when the best pair is rarer
};

// Learns merges from `texts` (split with the Qwen2 pattern) and writes DIR/tokenizer.json and
// DIR/tokenizer_config.json. Deterministic: ties between pairs break by the pair's bytes.
Status train_bpe_tokenizer(const std::vector<std::string_view>& texts, const BpeTrainOptions& options,
                           const std::string& dir);

}  // namespace synpref::tokenizer
