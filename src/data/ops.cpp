#include "synpref/data/ops.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "synpref/common/check.h"
#include "synpref/common/text.h"

namespace synpref::data {

// ---- KeySet ------------------------------------------------------------------------------------

KeySet::KeySet(uint64_t expected) {
  uint64_t cap = 1024;
  while (cap * 7 / 10 < expected) cap <<= 1;
  slots_.assign(cap, Hash128{});
  mask_ = cap - 1;
}

namespace {
Hash128 non_empty(Hash128 k) {
  return (k.lo == 0 && k.hi == 0) ? Hash128{1, 0} : k;
}
}  // namespace

bool KeySet::insert(Hash128 key) {
  key = non_empty(key);
  if ((size_ + 1) * 10 > slots_.size() * 7) grow();
  for (uint64_t i = key.lo & mask_;; i = (i + 1) & mask_) {
    Hash128& slot = slots_[i];
    if (slot.lo == 0 && slot.hi == 0) {
      slot = key;
      ++size_;
      return true;
    }
    if (slot == key) return false;
  }
}

bool KeySet::contains(Hash128 key) const {
  key = non_empty(key);
  for (uint64_t i = key.lo & mask_;; i = (i + 1) & mask_) {
    const Hash128& slot = slots_[i];
    if (slot.lo == 0 && slot.hi == 0) return false;
    if (slot == key) return true;
  }
}

void KeySet::grow() {
  std::vector<Hash128> old;
  old.swap(slots_);
  slots_.assign(old.size() * 2, Hash128{});
  mask_ = slots_.size() - 1;
  for (const Hash128& k : old) {
    if (k.lo == 0 && k.hi == 0) continue;
    for (uint64_t i = k.lo & mask_;; i = (i + 1) & mask_) {
      if (slots_[i].lo == 0 && slots_[i].hi == 0) {
        slots_[i] = k;
        break;
      }
    }
  }
}

// ---- n-grams -------------------------------------------------------------------------------------

void word_hashes(std::string_view text, std::vector<uint64_t>& out) {
  out.clear();
  std::string word;
  auto flush = [&] {
    if (!word.empty()) {
      out.push_back(hash64(word));
      word.clear();
    }
  };
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80) {
      word.push_back(static_cast<char>(c));
    } else if (c >= 'A' && c <= 'Z') {
      word.push_back(static_cast<char>(c - 'A' + 'a'));
    } else {
      flush();
    }
  }
  flush();
}

namespace {
std::pair<uint64_t, uint64_t> gram_key(const uint64_t* words, int n) {
  Hash128 h = hash128(std::string_view(reinterpret_cast<const char*>(words), sizeof(uint64_t) * n));
  return {h.lo, h.hi};
}
}  // namespace

void NgramIndex::add(std::string_view text, const std::string& tag) {
  std::vector<uint64_t> words;
  word_hashes(text, words);
  if (static_cast<int>(words.size()) < n_) return;
  uint32_t tag_idx = static_cast<uint32_t>(tags_.size());
  bool used = false;
  for (size_t i = 0; i + n_ <= words.size(); ++i) {
    used |= grams_.emplace(gram_key(words.data() + i, n_), tag_idx).second;
  }
  if (used) tags_.push_back(tag);
}

const std::string* NgramIndex::find(std::string_view text) const {
  thread_local std::vector<uint64_t> words;
  word_hashes(text, words);
  if (static_cast<int>(words.size()) < n_) return nullptr;
  for (size_t i = 0; i + n_ <= words.size(); ++i) {
    auto it = grams_.find(gram_key(words.data() + i, n_));
    if (it != grams_.end()) return &tags_[it->second];
  }
  return nullptr;
}

double unit_hash(std::string_view id, uint64_t seed) {
  uint64_t h = hash64(id, seed);
  return static_cast<double>(h >> 11) * 0x1.0p-53;
}

// ---- Stats ---------------------------------------------------------------------------------------

void Stats::Histogram::add(uint64_t v) {
  ++count;
  sum += v;
  min = std::min(min, v);
  max = std::max(max, v);
  int width = v == 0 ? 0 : 64 - __builtin_clzll(v);
  ++buckets[std::min(width, 63)];
}

uint64_t Stats::Histogram::quantile(double q) const {
  if (count == 0) return 0;
  uint64_t target = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count)));
  if (target == 0) target = 1;
  uint64_t seen = 0;
  for (int b = 0; b < 64; ++b) {
    seen += buckets[b];
    if (seen >= target) return std::min(max, b == 0 ? 0 : (uint64_t{1} << b) - 1);
  }
  return max;
}

void Stats::add(const Record& record) {
  ++records_;
  uint64_t ctx_bytes = 0;
  for (const Turn& t : record.context) ctx_bytes += t.content.size();
  context_turns_.add(record.context.size());
  context_bytes_.add(ctx_bytes);
  if (record.kind == RecordKind::pair) {
    ++pairs_;
    chosen_bytes_.add(record.responses[0].content.size());
    rejected_bytes_.add(record.responses[1].content.size());
  } else {
    ++response_sets_;
    responses_per_set_.add(record.responses.size());
  }
  for (const Response& r : record.responses) response_bytes_.add(r.content.size());
  ++by_source_[record.source.empty() ? "(none)" : record.source];
  ++by_split_[record.split.empty() ? "(none)" : record.split];
  if (!record.context.empty())
    ++by_role_of_last_context_turn_[std::string(role_name(record.context.back().role))];
  ++by_label_source_[record.provenance.source.empty() ? "(unknown)" : record.provenance.source];
  if (record.margin) ++with_margin_;
  auto count_attr = [&](const char* field, const std::string& value) {
    auto& m = attributes_[field];
    // Bounded memory for free-text attributes: at most 1000 distinct values, then "(other)".
    if (m.size() >= 1000 && !m.count(value)) {
      ++m["(other)"];
    } else {
      ++m[value.empty() ? "(empty)" : value];
    }
  };
  count_attr("task_category", record.attributes.task_category);
  count_attr("objectivity", record.attributes.objectivity);
  count_attr("controversiality", record.attributes.controversiality);
}

namespace {
void append_counts(std::string& out, const std::map<std::string, uint64_t>& m) {
  out.push_back('{');
  bool first = true;
  for (auto& [k, v] : m) {
    if (!first) out.push_back(',');
    first = false;
    text::append_json_string_lossy(out, k);
    out.push_back(':');
    text::append_json_number(out, static_cast<int64_t>(v));
  }
  out.push_back('}');
}

void append_hist(std::string& out, const Stats::Histogram& h) {
  char buf[256];
  double mean = h.count ? static_cast<double>(h.sum) / static_cast<double>(h.count) : 0;
  std::snprintf(buf, sizeof buf,
                "{\"count\":%llu,\"mean\":%.2f,\"min\":%llu,\"p50_le\":%llu,\"p90_le\":%llu,\"p99_le\":%llu,"
                "\"max\":%llu,"
                "\"log2_buckets\":[",
                (unsigned long long)h.count, mean, (unsigned long long)(h.count ? h.min : 0),
                (unsigned long long)h.quantile(0.5), (unsigned long long)h.quantile(0.9),
                (unsigned long long)h.quantile(0.99), (unsigned long long)h.max);
  out += buf;
  int last = 0;
  for (int b = 0; b < 64; ++b)
    if (h.buckets[b]) last = b;
  for (int b = 0; b <= last; ++b) {
    if (b) out.push_back(',');
    text::append_json_number(out, static_cast<int64_t>(h.buckets[b]));
  }
  out += "]}";
}
}  // namespace

std::string Stats::to_json() const {
  std::string out = "{\"records\":" + std::to_string(records_) + ",\"pairs\":" + std::to_string(pairs_) +
                    ",\"response_sets\":" + std::to_string(response_sets_) +
                    ",\"with_margin\":" + std::to_string(with_margin_);
  out += ",\"by_source\":";
  append_counts(out, by_source_);
  out += ",\"by_split\":";
  append_counts(out, by_split_);
  out += ",\"last_context_role\":";
  append_counts(out, by_role_of_last_context_turn_);
  out += ",\"label_source\":";
  append_counts(out, by_label_source_);
  out += ",\"lengths\":{\"context_turns\":";
  append_hist(out, context_turns_);
  out += ",\"context_bytes\":";
  append_hist(out, context_bytes_);
  out += ",\"chosen_bytes\":";
  append_hist(out, chosen_bytes_);
  out += ",\"rejected_bytes\":";
  append_hist(out, rejected_bytes_);
  out += ",\"response_bytes\":";
  append_hist(out, response_bytes_);
  out += ",\"responses_per_set\":";
  append_hist(out, responses_per_set_);
  out += "},\"attributes\":{";
  bool first = true;
  for (auto& [field, counts] : attributes_) {
    if (!first) out.push_back(',');
    first = false;
    text::append_json_string(out, field);
    out.push_back(':');
    append_counts(out, counts);
  }
  out += "}}";
  return out;
}

std::string Stats::to_text() const {
  std::string out;
  char buf[512];
  std::snprintf(buf, sizeof buf, "records %llu (pairs %llu, response sets %llu, with margin %llu)\n",
                (unsigned long long)records_, (unsigned long long)pairs_, (unsigned long long)response_sets_,
                (unsigned long long)with_margin_);
  out += buf;
  auto hist_line = [&](const char* name, const Histogram& h) {
    if (h.count == 0) return;
    std::snprintf(buf, sizeof buf,
                  "  %-18s mean %10.1f  min %8llu  p50<= %8llu  p90<= %8llu  p99<= %8llu  max %10llu\n", name,
                  static_cast<double>(h.sum) / static_cast<double>(h.count), (unsigned long long)h.min,
                  (unsigned long long)h.quantile(0.5), (unsigned long long)h.quantile(0.9),
                  (unsigned long long)h.quantile(0.99), (unsigned long long)h.max);
    out += buf;
    // Histogram bars over log2 buckets.
    uint64_t peak = 0;
    for (uint64_t c : h.buckets) peak = std::max(peak, c);
    for (int b = 0; b < 64; ++b) {
      if (!h.buckets[b]) continue;
      uint64_t lo = b == 0 ? 0 : uint64_t{1} << (b - 1), hi = b == 0 ? 0 : (uint64_t{1} << b) - 1;
      int bar = static_cast<int>(40.0 * static_cast<double>(h.buckets[b]) / static_cast<double>(peak) + 0.5);
      std::snprintf(buf, sizeof buf, "      [%7llu, %7llu] %9llu %s\n", (unsigned long long)lo,
                    (unsigned long long)hi, (unsigned long long)h.buckets[b], std::string(bar, '#').c_str());
      out += buf;
    }
  };
  out += "lengths (bytes; quantiles are bucket upper bounds):\n";
  hist_line("context turns", context_turns_);
  hist_line("context bytes", context_bytes_);
  hist_line("chosen bytes", chosen_bytes_);
  hist_line("rejected bytes", rejected_bytes_);
  hist_line("responses/set", responses_per_set_);
  auto counts = [&](const char* name, const std::map<std::string, uint64_t>& m) {
    out += name;
    out += ":";
    std::vector<std::pair<uint64_t, std::string>> sorted;
    for (auto& [k, v] : m) sorted.push_back({v, k});
    std::sort(sorted.rbegin(), sorted.rend());
    size_t shown = 0;
    for (auto& [v, k] : sorted) {
      if (shown++ == 20) {
        out += " ...";
        break;
      }
      out += " " + k + "=" + std::to_string(v);
    }
    out += "\n";
  };
  counts("source", by_source_);
  counts("split", by_split_);
  counts("label source", by_label_source_);
  for (auto& [field, m] : attributes_) counts(("attribute " + field).c_str(), m);
  return out;
}

}  // namespace synpref::data
