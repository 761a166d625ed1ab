// src/judge/cache.h: the persistent response cache of the judge client (internal).
//
// One SQLite file (WAL journal, synchronous=NORMAL: a killed process loses nothing committed; an
// OS crash may lose the last transactions, which are simply asked again). Table
//   samples(model, prompt_hash, sample_index, content, logprob, finish_reason, endpoint, time)
// with primary key (model, prompt_hash, sample_index). Rows are only ever inserted
// (INSERT OR IGNORE): the first answer stored for a key is the answer for good, so two runs, or
// two identical requests in one run, always see the same sample. Thread-safe (one connection
// behind a mutex).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "synpref/common/status.h"
#include "synpref/judge/client.h"

namespace synpref::judge {

class Cache {
 public:
  // Opens or creates the cache file; refuses a file of another schema version.
  static Result<std::unique_ptr<Cache>> open(const std::string& path);
  ~Cache();
  Cache(const Cache&) = delete;
  Cache& operator=(const Cache&) = delete;

  // The stored samples of (model, prompt_hash) for indices [0, n): out[i] empty when absent.
  Status lookup(const std::string& model, const std::string& prompt_hash, int n,
                std::vector<std::optional<Sample>>& out);
  // Stores (index, sample) pairs in one transaction; keys already present keep their sample.
  Status store(const std::string& model, const std::string& prompt_hash, const std::string& endpoint,
               const std::vector<std::pair<int, Sample>>& samples);

  struct Impl;

 private:
  explicit Cache(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace synpref::judge
