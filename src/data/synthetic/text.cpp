// Synthetic text records (see synpref/data/synthetic.h).
#include "synpref/data/synthetic.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "data/synthetic/seeded.h"
#include "synpref/common/hash.h"
#include "synpref/common/text.h"

namespace synpref::data {

namespace {

const char* const kWords[] = {
    "the",       "model",    "reward",  "answer",     "question",  "because",  "which",     "should",
    "would",     "could",    "data",    "preference", "response",  "person",   "helper",    "explain",
    "example",   "first",    "second",  "however",    "therefore", "function", "return",    "value",
    "result",    "number",   "people",  "water",      "history",   "science",  "energy",    "simple",
    "important", "consider", "problem", "solution",   "approach",  "quickly",  "carefully", "a",
    "an",        "is",       "are",     "was",        "to",        "of",       "and",       "in",
    "on",        "for",      "with",    "that",       "this",      "it",       "you",       "we",
    "they",      "not",      "can",     "will",       "be",        "have",     "has",       "do",
    "does",      "what",     "how",     "why",        "when",      "café",     "naïve",     "résumé",
    "Straße",    "東京",     "数据",    "модель",     "ответ",     "نموذج",    "🙂",      "x²",
    "≤",
};
constexpr size_t kNumWords = sizeof(kWords) / sizeof(kWords[0]);
const char* const kPunct[] = {".",  ",",    "?",           "!",        ":",   ";",
                              "\n", "\n\n", " \"quoted\"", " (aside)", " - ", "\t"};
constexpr size_t kNumPunct = sizeof(kPunct) / sizeof(kPunct[0]);

// Text of roughly `bytes` bytes from a seeded generator.
void gen_text(std::mt19937_64& rng, size_t bytes, std::string& out) {
  out.clear();
  bool sentence_start = true;
  while (out.size() < bytes) {
    uint64_t r = rng();
    if (!sentence_start) out.push_back(' ');
    const char* w = kWords[r % kNumWords];
    if (sentence_start && w[0] >= 'a' && w[0] <= 'z') {
      out.push_back(static_cast<char>(w[0] - 32));
      out.append(w + 1);
    } else {
      out.append(w);
    }
    sentence_start = false;
    if ((r >> 20) % 9 == 0) {
      out.append(kPunct[(r >> 32) % kNumPunct]);
      sentence_start = true;
    }
    if ((r >> 40) % 97 == 0) out.append("\n```python\ndef f(x):\n    return x * 2  # \\ backslash\n```\n");
  }
  if (out.empty()) out = "ok";
}

size_t lognormal_bytes(std::mt19937_64& rng, double median) {
  std::lognormal_distribution<double> dist(std::log(median), 0.9);
  double v = dist(rng);
  return static_cast<size_t>(std::clamp(v, 8.0, 64.0 * 1024));
}

void add_str(std::string& out, const std::string& s) {
  text::append_json_string(out, s);
}

}  // namespace

uint64_t append_synthetic_record(std::string& out, const SyntheticOptions& options, uint64_t index) {
  uint64_t source_index = index;
  // Decide whether this record repeats an earlier one (a pure function of seed and index).
  if (index > 0 && options.duplicate_fraction > 0) {
    uint64_t h = hash64(std::string_view(reinterpret_cast<const char*>(&index), sizeof index),
                        options.seed ^ 0xd0b1e5);
    if (synthetic::unit_interval(h) < options.duplicate_fraction) {
      source_index = (h >> 7) % index;
      // Follow the chain to an original record so the repeat is exact.
      return append_synthetic_record(out, options, source_index), source_index;
    }
  }
  std::mt19937_64 rng(options.seed * 0x9E3779B97F4A7C15ULL + index);
  thread_local std::string prompt, chosen, rejected, system;
  gen_text(rng, lognormal_bytes(rng, options.prompt_median_bytes), prompt);
  gen_text(rng, lognormal_bytes(rng, options.response_median_bytes), chosen);
  gen_text(rng, lognormal_bytes(rng, options.response_median_bytes), rejected);
  chosen += " [" + std::to_string(index) + "]";  // responses never coincide
  bool with_system = rng() % 4 == 0;
  if (with_system) gen_text(rng, 60, system);
  if (options.format == "prompt") {
    out += "{\"prompt\":";
    add_str(out, prompt);
    out += ",\"chosen\":";
    add_str(out, chosen);
    out += ",\"rejected\":";
    add_str(out, rejected);
    out += "}\n";
  } else if (options.format == "hh") {
    out += "{\"chosen\":";
    add_str(out, "\n\nHuman: " + prompt + "\n\nAssistant: " + chosen);
    out += ",\"rejected\":";
    add_str(out, "\n\nHuman: " + prompt + "\n\nAssistant: " + rejected);
    out += "}\n";
  } else {
    auto conv = [&](const std::string& resp) {
      out += "[";
      if (with_system) {
        out += "{\"role\":\"system\",\"content\":";
        add_str(out, system);
        out += "},";
      }
      out += "{\"role\":\"user\",\"content\":";
      add_str(out, prompt);
      out += "},{\"role\":\"assistant\",\"content\":";
      add_str(out, resp);
      out += "}]";
    };
    out += "{\"chosen\":";
    conv(chosen);
    out += ",\"rejected\":";
    conv(rejected);
    out += ",\"source\":\"synthetic\"}\n";
  }
  return source_index;
}

namespace {
class SyntheticSource final : public io::ByteSource {
 public:
  explicit SyntheticSource(SyntheticOptions o) : options_(std::move(o)) {}
  Result<size_t> read(char* dst, size_t cap) override {
    size_t n = 0;
    while (n < cap) {
      if (pos_ == buf_.size()) {
        if (next_ >= options_.records) break;
        buf_.clear();
        pos_ = 0;
        while (buf_.size() < (1 << 16) && next_ < options_.records)
          append_synthetic_record(buf_, options_, next_++);
      }
      size_t k = std::min(cap - n, buf_.size() - pos_);
      std::memcpy(dst + n, buf_.data() + pos_, k);
      pos_ += k;
      n += k;
      produced_ += k;
    }
    return n;
  }
  uint64_t raw_position() const override { return produced_; }
  const std::string& name() const override { return name_; }

 private:
  SyntheticOptions options_;
  std::string buf_;
  size_t pos_ = 0;
  uint64_t next_ = 0, produced_ = 0;
  std::string name_ = "<synthetic>";
};
}  // namespace

std::unique_ptr<io::ByteSource> synthetic_source(const SyntheticOptions& options) {
  return std::make_unique<SyntheticSource>(options);
}

}  // namespace synpref::data
