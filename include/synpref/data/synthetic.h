// synpref/data/synthetic.h: deterministic synthetic preference data for demos and benchmarks.
//
// Record i is a pure function of (seed, i): its text is drawn from a fixed word list with
// punctuation, newlines, quotes, code and non-ASCII text (so escaping and UTF-8 paths are
// exercised), and lengths follow log-normal distributions close to public RM data
// (median prompt ~300 bytes, responses ~700 bytes). A chosen fraction of records repeat an
// earlier record exactly (for dedup). Output format: chat (message lists), prompt or hh.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "synpref/common/io.h"

namespace synpref::data {

struct SyntheticOptions {
  uint64_t records = 1000;
  uint64_t seed = 1;
  double duplicate_fraction = 0.0;  // share of records that repeat an earlier one exactly
  std::string format = "chat";      // chat, prompt or hh
  double prompt_median_bytes = 300;
  double response_median_bytes = 700;
};

// Appends record `index` as one JSONL line. Returns the index of the record it repeats (== index
// when it is original).
uint64_t append_synthetic_record(std::string& out, const SyntheticOptions& options, uint64_t index);

// A ByteSource that streams options.records generated JSONL lines without storing them.
std::unique_ptr<io::ByteSource> synthetic_source(const SyntheticOptions& options);

}  // namespace synpref::data
