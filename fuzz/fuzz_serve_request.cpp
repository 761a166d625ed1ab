// Fuzzes the reward server's request parsers (src/serve/requests.h): arbitrary bytes as the body of
// each endpoint (the first byte picks it and tightens the limits sometimes). Invariants: no crash,
// no sanitizer report; a refusal is a 400 or 413 with a message; accepted work respects every limit
// (items, tokens per sequence and per request, ids inside the vocabulary), and its response body,
// rendered from placeholder scores, is valid JSON.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "serve/requests.h"
#include "synpref/common/check.h"
#include "synpref/tokenizer/tokenizer.h"

using namespace synpref;
using namespace synpref::serve;

namespace {

const encode::RmInputBuilder& builder() {
  static const encode::RmInputBuilder b = [] {
    auto tok =
        tokenizer::load_tokenizer(std::string(SYNPREF_SOURCE_DIR) + "/../shared/data/tokenizers/qwen3");
    SP_CHECK_MSG(tok.is_ok(), tok.status().message().c_str());
    auto built = encode::RmInputBuilder::create(std::move(tok).value());
    SP_CHECK_MSG(built.is_ok(), built.status().message().c_str());
    return std::move(built).value();
  }();
  return b;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size == 0) return 0;
  RequestLimits limits{
      .max_items = 64, .max_request_tokens = 1 << 14, .max_length = 4096, .vocab_size = 151669};
  if (bytes[0] & 0x80)
    limits = {.max_items = 2, .max_request_tokens = 32, .max_length = 16, .vocab_size = 100};
  const std::string_view body(reinterpret_cast<const char*>(bytes) + 1, size - 1);
  Work work;
  Parsed error;
  switch (bytes[0] % 4) {
    case 0:
      error = parse_get_reward(body, builder(), limits, work);
      break;
    case 1:
      error = parse_classify(body, builder(), limits, work);
      break;
    case 2:
      error = parse_pooling(body, builder(), limits, work);
      break;
    default:
      error = parse_score(body, builder(), limits, work);
      break;
  }
  if (error) {
    SP_CHECK(error->status == 400 || error->status == 413);
    SP_CHECK(!error->message.empty());
    return 0;
  }
  SP_CHECK(!work.items.empty());
  SP_CHECK(work.tokens() <= static_cast<uint64_t>(limits.max_request_tokens));
  Scores scores(work.groups.size());
  for (size_t g = 0; g < work.groups.size(); ++g) {
    const Group& group = work.groups[g];
    for (int32_t id : group.prefix) SP_CHECK(id >= 0 && id < limits.vocab_size);
    for (const auto& suffix : group.suffixes) {
      for (int32_t id : suffix) SP_CHECK(id >= 0 && id < limits.vocab_size);
      SP_CHECK(group.prefix.size() + suffix.size() > 0);
      scores[g].push_back(0.5f * float(g));
    }
  }
  for (const ItemRef& item : work.items)
    if (item.group >= 0)
      SP_CHECK(item.response < work.groups[static_cast<size_t>(item.group)].suffixes.size());
  std::string out;
  switch (bytes[0] % 4) {
    case 0:
      out = render_get_reward(work, scores);
      break;
    case 1:
      out = render_classify(work, scores);
      break;
    case 2:
      out = render_pooling(work, scores, "m", 1);
      break;
    default:
      out = render_score(work, scores);
      break;
  }
  SP_CHECK(nlohmann::json::accept(out));
  return 0;
}
