// synpref/encode/rm_input.h: the token ids a reward model scores, built exactly as transformers
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
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "synpref/chat/template.h"
#include "synpref/common/status.h"
#include "synpref/data/record.h"
#include "synpref/tokenizer/tokenizer.h"

namespace synpref::encode {

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
  std::optional<chat::LocalDateTime> date;
  // Extra template variables as a JSON object text (e.g. {"enable_thinking": false}); "" = none.
  std::string extra_json;
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
  // Fails when there is no chat template (neither in the tokenizer nor the options), it does
  // not compile, or extra_json is not a JSON object.
  static Result<RmInputBuilder> create(tokenizer::Tokenizer tokenizer, RmInputOptions options = {});

  // Renders `conversation` (the full conversation, ending with the scored assistant turn).
  Result<std::string> render(const std::vector<data::Turn>& conversation) const;
  // Ids of one full conversation, BOS rule applied (no truncation).
  Result<std::vector<int32_t>> encode(const std::vector<data::Turn>& conversation) const;
  // Ids of text already rendered by a chat template (special tokens in it are matched as tokens),
  // with the same BOS rule: encode(conversation) == encode_rendered(render(conversation)).
  std::vector<int32_t> encode_rendered(std::string_view text) const;
  // The record's prefix and suffixes, truncation applied. Errors name the record id.
  Result<RmInput> build(const data::Record& record) const;
  // The same for a conversation and its candidate responses (a benchmark item); `name` is what
  // errors call it (e.g. "item 12").
  Result<RmInput> build(std::span<const data::Turn> context, std::span<const std::string> responses,
                        std::string_view name) const;

  const tokenizer::Tokenizer& tokenizer() const { return tokenizer_; }
  const RmInputOptions& options() const { return options_; }

 private:
  struct Extra;  // the parsed extra_json
  RmInputBuilder(tokenizer::Tokenizer tokenizer, RmInputOptions options, chat::Template tmpl,
                 std::shared_ptr<const Extra> extra)
      : tokenizer_(std::move(tokenizer)),
        options_(std::move(options)),
        template_(std::move(tmpl)),
        extra_(std::move(extra)) {}
  template <typename Responses>
  Result<RmInput> build_impl(std::span<const data::Turn> context, const Responses& responses,
                             std::string_view name) const;
  tokenizer::Tokenizer tokenizer_;
  RmInputOptions options_;
  chat::Template template_;
  std::shared_ptr<const Extra> extra_;
};

// A JSON list of messages [{role, content}] (text) -> turns. Errors name the index and field.
Result<std::vector<data::Turn>> turns_from_json(std::string_view json_text);

// ---- building from settings, as commands and config files give them ------------------------

// Everything that decides RM inputs besides the records, by field name. Errors of open_builder()
// name these fields (e.g. "truncation: unknown value 'x'"); front ends map fields to their flags.
struct RmInputSettings {
  std::string tokenizer_dir;         // folder with tokenizer.json or tokenizer.model (+ chat template)
  uint64_t max_length = 16384;       // tokens of prefix + the longest response (>= 1)
  std::string truncation = "error";  // error, skip or truncate-left
  std::string date;                  // YYYY-MM-DD[THH:MM[:SS]] seen by the template; "" = today
  std::string chat_template_file;    // Jinja file overriding the tokenizer's template; "" = none
};

// RmInputOptions from settings (tokenizer_dir is not read). Errors name the field.
Result<RmInputOptions> resolve_options(const RmInputSettings& settings);
// Loads the tokenizer of settings.tokenizer_dir and makes the builder. Errors name the field.
Result<RmInputBuilder> open_builder(const RmInputSettings& settings);
// The same with a tokenizer already loaded (settings.tokenizer_dir is not read).
Result<RmInputBuilder> open_builder(tokenizer::Tokenizer tokenizer, const RmInputSettings& settings);

}  // namespace synpref::encode
