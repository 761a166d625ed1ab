// synpref/chat/rm_input.h: the token ids a reward model scores, built exactly as transformers
// builds them, with the shared prompt kept apart so it is computed once.
//
// For each response r of a record, the full input is
//   ids(r) = encode(apply_chat_template(context + [assistant: r], add_generation_prompt=false))
// with the tokenizer's special tokens added (add_special_tokens=true), and a leading double BOS
// collapsed to one: a template that writes {{ bos_token }} and a tokenizer that prepends BOS
// would otherwise give <bos><bos> (the bug the Skywork-Reward model cards warn about). The
// record's `prefix` is the longest common prefix of those id sequences, and each response keeps
// the rest, so prefix + suffix(r) == ids(r) exactly (BPE merges across the context/response
// boundary are therefore handled: the split is made on tokens, never on text).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>  // RmInputOptions::extra, turns_from_json (chat/template.h no longer exposes it)

#include "synpref/chat/template.h"
#include "synpref/common/status.h"
#include "synpref/data/record.h"
#include "synpref/tokenizer/tokenizer.h"

namespace synpref::chat {

enum class Truncation {
  error,         // a record over max_length is an error naming it (default)
  skip,          // the record is skipped (the caller counts it and writes a reject)
  truncate_left  // drop the oldest context tokens (after BOS); never the responses or their end tokens;
                 // a record whose responses alone do not fit is skipped
};
Result<Truncation> parse_truncation(std::string_view name);  // "error", "skip", "truncate-left"

struct RmInputOptions {
  uint64_t max_length = 16384;  // tokens of prefix + the longest response
  Truncation truncation = Truncation::error;
  // Template override (a Jinja source); empty = the tokenizer's chat_template.
  std::string chat_template;
  // Date seen by strftime_now() / date_string (Llama 3.1/3.2 "Today Date"): pin it for
  // reproducible scores. Unset = today, as transformers does.
  std::optional<LocalDateTime> date;
  // Extra template variables (e.g. {"enable_thinking": false}).
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();
};

// The model inputs of one record: shared prefix + one suffix per response.
struct RmInput {
  std::vector<int32_t> prefix;
  std::vector<std::vector<int32_t>> suffixes;  // in the record's response order
  uint64_t truncated_tokens = 0;               // context tokens dropped by truncate-left
  bool skipped = false;                        // Truncation::skip and over max_length
  std::string skip_reason;
  uint64_t longest() const;  // prefix + longest suffix
};

class RmInputBuilder {
 public:
  // Fails when there is no chat template (neither in the tokenizer nor the options) or it does
  // not compile.
  static Result<RmInputBuilder> create(tokenizer::Tokenizer tokenizer, RmInputOptions options = {});

  // Renders `conversation` (the full conversation, ending with the scored assistant turn).
  Result<std::string> render(const std::vector<data::Turn>& conversation) const;
  // Ids of one full conversation, BOS rule applied (no truncation).
  Result<std::vector<int32_t>> encode(const std::vector<data::Turn>& conversation) const;
  // The record's prefix and suffixes, truncation applied. Errors name the record id.
  Result<RmInput> build(const data::Record& record) const;

  const tokenizer::Tokenizer& tokenizer() const { return tokenizer_; }
  const RmInputOptions& options() const { return options_; }

 private:
  RmInputBuilder(tokenizer::Tokenizer tokenizer, RmInputOptions options, Template tmpl)
      : tokenizer_(std::move(tokenizer)), options_(std::move(options)), template_(std::move(tmpl)) {}
  tokenizer::Tokenizer tokenizer_;
  RmInputOptions options_;
  Template template_;
};

// JSON messages [{role, content}] -> turns. Errors name the index and field.
Result<std::vector<data::Turn>> turns_from_json(const nlohmann::ordered_json& messages);

}  // namespace synpref::chat
