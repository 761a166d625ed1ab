// libFuzzer target: tokenizer loading and encoding (src/tokenizer/).
//   first byte even: the rest is text (any bytes, invalid UTF-8 included) encoded with the Qwen3
//     tokenizer from ../shared/data (or $SYNPREF_FUZZ_TOKENIZER), then decoded again;
//   first byte odd: the rest is "tokenizer.json NUL text": a fuzzed tokenizer.json is loaded and,
//     when it loads, the text is encoded and decoded.
// Invariants beyond "no crash / no sanitizer report": ids lie in [0, vocab_size()), decoding them
// succeeds, and a failed load carries a message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "synpref/tokenizer/tokenizer.h"

namespace {

using synpref::tokenizer::Tokenizer;

const Tokenizer* real_tokenizer() {
  static const std::optional<Tokenizer> tok = []() -> std::optional<Tokenizer> {
    const char* env = std::getenv("SYNPREF_FUZZ_TOKENIZER");
    auto loaded = synpref::tokenizer::load_tokenizer(env ? env : "../shared/data/tokenizers/qwen3");
    if (!loaded.is_ok()) return std::nullopt;
    return std::move(loaded).value();
  }();
  return tok ? &*tok : nullptr;
}

void encode_and_check(const Tokenizer& tok, std::string_view text) {
  for (bool special : {false, true}) {
    std::vector<int32_t> ids = tok.encode(text, special);
    for (int32_t id : ids)
      if (id < 0 || id >= tok.vocab_size()) std::abort();
    if (!tok.decode(ids).is_ok()) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) {
    if (const Tokenizer* tok = real_tokenizer()) encode_and_check(*tok, rest);
    return 0;
  }
  const size_t nul = rest.find('\0');
  const std::string_view json = rest.substr(0, nul);
  const std::string_view text = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
  auto tok = synpref::tokenizer::load_tokenizer_json(json, {}, "fuzz/tokenizer.json");
  if (!tok.is_ok()) {
    if (tok.status().message().empty()) std::abort();
    return 0;
  }
  encode_and_check(*tok, text);
  return 0;
}
