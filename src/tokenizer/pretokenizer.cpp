#include "pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace synpref::tokenizer {

struct PreTokenizer::Regex {
  pcre2_code* code = nullptr;
  ~Regex() {
    if (code) pcre2_code_free(code);
  }
};

Result<PreTokenizer> PreTokenizer::from_pattern(std::string pattern, bool force_regex) {
  PreTokenizer pre;
  pre.pattern_ = std::move(pattern);
  if (!force_regex && pre.pattern_ == kQwenPattern) {
    pre.kind_ = Kind::qwen;
    return pre;
  }
  if (!force_regex && pre.pattern_ == kLlama3Pattern) {
    pre.kind_ = Kind::llama3;
    return pre;
  }
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  auto regex = std::make_shared<Regex>();
  regex->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pre.pattern_.data()), pre.pattern_.size(),
                              PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr);
  if (regex->code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof message);
    return unsupported("pre-tokenizer regex '" + pre.pattern_ + "' does not compile at offset " +
                       std::to_string(error_offset) + ": " + reinterpret_cast<const char*>(message));
  }
  pcre2_jit_compile(regex->code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter on failure
  pre.regex_ = std::move(regex);
  pre.kind_ = Kind::regex;
  return pre;
}

void PreTokenizer::split_regex(std::string_view text, Thunk thunk, void* ctx) const {
  pcre2_match_data* match = pcre2_match_data_create_from_pattern(regex_->code, nullptr);
  const auto* s = reinterpret_cast<PCRE2_SPTR>(text.data());
  const size_t n = text.size();
  size_t emitted = 0, search = 0;
  while (search < n) {
    const int rc = pcre2_match(regex_->code, s, n, search, PCRE2_NO_UTF_CHECK, match, nullptr);
    if (rc < 0) break;
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match);
    const size_t start = ovector[0], end = ovector[1];
    if (end == start) {  // empty match: no piece; step over one character
      size_t len = 0;
      unicode::decode_utf8(reinterpret_cast<const uint8_t*>(text.data()) + start, len);
      search = start + len;
      continue;
    }
    if (start > emitted) thunk(ctx, emitted, start);
    thunk(ctx, start, end);
    emitted = search = end;
  }
  if (emitted < n) thunk(ctx, emitted, n);
  pcre2_match_data_free(match);
}

std::vector<std::string_view> PreTokenizer::split_to_vector(std::string_view text) const {
  std::vector<std::string_view> pieces;
  split(text, [&](size_t start, size_t end) { pieces.push_back(text.substr(start, end - start)); });
  return pieces;
}

}  // namespace synpref::tokenizer
