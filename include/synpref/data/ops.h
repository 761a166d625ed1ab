// synpref/data/ops.h: the building blocks of `synpref data dedup|decontaminate|stats|split|sample`.
// All work in one streaming pass with bounded memory; the curation pipeline calls them directly.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "synpref/common/hash.h"
#include "synpref/common/status.h"
#include "synpref/data/record.h"

namespace synpref::data {

// A set of 128-bit keys in one open-addressed table (16 bytes a slot, load <= 0.7): 10M keys take
// 256 MiB. Collisions of distinct contents need a 128-bit XXH3 collision (~n^2/2^129).
class KeySet {
 public:
  explicit KeySet(uint64_t expected = 1 << 20);
  // Inserts; returns true if the key was new.
  bool insert(Hash128 key);
  bool contains(Hash128 key) const;
  uint64_t size() const { return size_; }
  uint64_t memory_bytes() const { return slots_.size() * sizeof(Hash128); }

 private:
  void grow();
  std::vector<Hash128> slots_;  // {0,0} = empty; a real {0,0} key is stored as {1,0}
  uint64_t mask_ = 0, size_ = 0;
};

// Word n-grams for decontamination, as in the Skywork-Reward-V2 report (13-grams).
// Words: maximal runs of letters/digits (ASCII letters lowercased; every non-ASCII byte counts
// as a word character, so non-Latin scripts form words between spaces and punctuation).
class NgramIndex {
 public:
  explicit NgramIndex(int n = 13) : n_(n) {}
  // Adds every n-gram of `text`, remembering `tag` (e.g. "file:line") for reports.
  void add(std::string_view text, const std::string& tag);
  // Returns the tag of the first indexed n-gram found in `text`, or nullptr.
  const std::string* find(std::string_view text) const;
  uint64_t size() const { return grams_.size(); }
  int n() const { return n_; }

 private:
  int n_;
  std::map<std::pair<uint64_t, uint64_t>, uint32_t> grams_;  // n-gram hash -> tag index
  std::vector<std::string> tags_;
};

// Splits text into the word hashes NgramIndex uses.
void word_hashes(std::string_view text, std::vector<uint64_t>& out);

// Deterministic uniform number in [0, 1) from an id and a seed: split and sample assignments are
// stable across runs, machines and input order.
double unit_hash(std::string_view id, uint64_t seed);

// Streaming statistics: counts, length histograms (bytes, log2 buckets with exact mean and
// approximate quantiles), attribute breakdowns.
class Stats {
 public:
  void add(const Record& record);
  // JSON object (nlohmann-free plain string) with every figure.
  std::string to_json() const;
  std::string to_text() const;
  uint64_t records() const { return records_; }

  struct Histogram {
    uint64_t count = 0, sum = 0, min = UINT64_MAX, max = 0;
    uint64_t buckets[64] = {};  // bucket b holds values with bit width b (0 -> value 0)
    void add(uint64_t v);
    uint64_t quantile(double q) const;  // upper bound of the bucket holding the q-quantile
  };

 private:
  uint64_t records_ = 0, pairs_ = 0, response_sets_ = 0;
  Histogram context_turns_, context_bytes_, chosen_bytes_, rejected_bytes_, response_bytes_,
      responses_per_set_;
  std::map<std::string, uint64_t> by_source_, by_split_, by_role_of_last_context_turn_, by_label_source_;
  std::map<std::string, std::map<std::string, uint64_t>> attributes_;  // field -> value -> count
  uint64_t with_margin_ = 0;
};

}  // namespace synpref::data

namespace synpref::data {

// Loads benchmark prompts into `index`, tagging each with "<file>:<line>" (or "<file>: record <n>"
// in a JSON array). .txt files: one prompt per non-empty line. JSON/JSONL (plain/gz/zst; one
// array or one object a line): the string fields prompt, question, input, instruction, query; the
// string list "turns" (MT-Bench); and user turns of the message lists conversation_input,
// context, messages. A folder: every .json/.jsonl(.gz/.zst) file under it, in sorted order.
// Returns the number of prompts read; a file yielding none is an error (likely a wrong file).
Result<uint64_t> load_benchmark_prompts(const std::string& path, NgramIndex& index);

}  // namespace synpref::data
