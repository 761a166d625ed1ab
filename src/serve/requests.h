// src/serve/requests.h: request bodies of each endpoint -> scoring work, and scores -> response
// bodies. Pure functions of the body and the tokenizer/builder: no HTTP, no queue, so each shape
// is tested and fuzzed on its own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "serve/batcher.h"
#include "synpref/common/status.h"
#include "synpref/encode/rm_input.h"

namespace synpref::serve {

// Limits checked while parsing; each error names the field and the limit.
struct RequestLimits {
  int64_t max_items = 1024;
  int64_t max_request_tokens = 1 << 20;
  uint64_t max_length = 16384;  // tokens of one sequence (text endpoints; records use the builder's rule)
  int64_t vocab_size = 0;       // ids given directly (input_ids) must be below it
};

// A parse failure: the HTTP status (400 or 413) and the message naming the field.
struct RequestError {
  int status = 400;
  std::string message;
};

// Where item i's score is: scores[group][response]. Records (/v1/score) have one entry per record,
// with group -1 for a record skipped by truncation = skip.
struct ItemRef {
  int64_t group = -1;
  uint32_t response = 0;
  uint64_t tokens = 0;  // the full sequence (prefix + suffix), or all of a record's tokens
  std::string id;       // records: the record id
  std::string skip_reason;
  uint64_t truncated_tokens = 0;
};

struct Work {
  std::vector<Group> groups;
  std::vector<ItemRef> items;
  bool single = false;  // the request gave one input, not a list (sglang/vLLM answer in kind)
  enum class Kind { text, records, conversations } kind = Kind::text;
  uint64_t tokens() const;
};

using Parsed = std::optional<RequestError>;  // nullopt = ok

// POST /get_reward (OpenRLHF): {"query": [str], "prompts": [str]?, "labels": [any]?}. Each query is
// rendered text (special tokens in it matched as tokens), padding cut from both ends, encoded with
// the BOS rule of encode::RmInputBuilder::encode_rendered, so a query that is the rendered
// conversation gets exactly the ids `synpref score` scores. Queries with equal prompts share their
// common token prefix (computed once; the same scores bit for bit). Labels are accepted and unused.
Parsed parse_get_reward(std::string_view body, const encode::RmInputBuilder& builder,
                        const RequestLimits& limits, Work& work);
// POST /classify (sglang): {"text": str | [str]} or {"input_ids": [int] | [[int]]}.
Parsed parse_classify(std::string_view body, const encode::RmInputBuilder& builder,
                      const RequestLimits& limits, Work& work);
// POST /pooling (vLLM): {"input": str | [str] | [int] | [[int]]}.
Parsed parse_pooling(std::string_view body, const encode::RmInputBuilder& builder,
                     const RequestLimits& limits, Work& work);
// POST /v1/score (native): {"records": [record]} (any format `synpref score` reads; "format" picks
// one) or {"conversations": [[{"role", "content"}]]} (each ending with the scored assistant turn).
Parsed parse_score(std::string_view body, const encode::RmInputBuilder& builder, const RequestLimits& limits,
                   Work& work);

// Response bodies from scores[group][response].
using Scores = std::vector<std::vector<float>>;
std::string render_get_reward(const Work& work, const Scores& scores);
std::string render_classify(const Work& work, const Scores& scores);
std::string render_pooling(const Work& work, const Scores& scores, const std::string& model_name,
                           uint64_t request_no);
std::string render_score(const Work& work, const Scores& scores);

// The first non-finite score as "<item>: NaN|infinity", or "" when all are finite.
std::string first_non_finite(const Work& work, const Scores& scores);

}  // namespace synpref::serve
