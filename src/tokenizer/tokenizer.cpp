// The encoding pipeline, decoding and batch encoding of synpref::tokenizer::Tokenizer.
#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <thread>

#include "synpref/common/text.h"
#include "synpref/common/threads.h"
#include "tokenizer_impl.h"

namespace synpref::tokenizer {

// ---- byte-level map ----

ByteLevelMap::ByteLevelMap() {
  std::fill(std::begin(char_to_byte), std::end(char_to_byte), int16_t{-1});
  uint32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    byte_to_char[b] = printable ? b : next++;
    char_to_byte[byte_to_char[b]] = static_cast<int16_t>(b);
  }
}

const ByteLevelMap& ByteLevelMap::get() {
  static const ByteLevelMap map;
  return map;
}

bool byte_level_decode(std::string_view token, std::string& out) {
  const ByteLevelMap& map = ByteLevelMap::get();
  const auto* s = reinterpret_cast<const uint8_t*>(token.data());
  for (size_t i = 0; i < token.size();) {
    size_t len = 0;
    const uint32_t cp = unicode::decode_utf8(s + i, len);
    if (i + len > token.size() || cp >= 512 || map.char_to_byte[cp] < 0) return false;
    out.push_back(static_cast<char>(map.char_to_byte[cp]));
    i += len;
  }
  return true;
}

std::string byte_level_encode(std::string_view bytes) {
  const ByteLevelMap& map = ByteLevelMap::get();
  std::string out;
  for (unsigned char b : bytes) unicode::append_utf8(out, map.byte_to_char[b]);
  return out;
}

// ---- added-token matcher ----

void AddedMatcher::add(std::string_view content, int32_t token_index) {
  if (content.empty()) return;
  int32_t node = 0;
  for (unsigned char c : content) {
    int32_t child = -1;
    for (auto& [byte, index] : nodes_[node].children)
      if (byte == c) child = index;
    if (child < 0) {
      child = static_cast<int32_t>(nodes_.size());
      nodes_[node].children.emplace_back(c, child);
      nodes_.emplace_back();
    }
    node = child;
  }
  if (nodes_[node].token_index < 0) nodes_[node].token_index = token_index;
  const auto first = static_cast<unsigned char>(content[0]);
  if (!first_byte_[first]) {
    first_byte_[first] = true;
    ++n_first_bytes_;
    only_first_byte_ = first;
  }
}

std::optional<AddedMatcher::Match> AddedMatcher::find(std::string_view text, size_t from) const {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  for (size_t start = from; start < n; ++start) {
    if (n_first_bytes_ == 1) {
      const void* hit = std::memchr(s + start, only_first_byte_, n - start);
      if (hit == nullptr) return std::nullopt;
      start = static_cast<const uint8_t*>(hit) - s;
    } else if (!first_byte_[s[start]]) {
      continue;
    }
    int32_t node = 0;
    Match best;
    for (size_t i = start; i < n; ++i) {
      int32_t child = -1;
      for (auto& [byte, index] : nodes_[node].children)
        if (byte == s[i]) child = index;
      if (child < 0) break;
      node = child;
      if (nodes_[node].token_index >= 0) best = Match{start, i + 1, nodes_[node].token_index};
    }
    if (best.token_index >= 0) return best;
  }
  return std::nullopt;
}

// ---- encoding ----

template <typename OnText, typename OnToken>
void Tokenizer::Impl::split_added(std::string_view text, const AddedMatcher& matcher, OnText&& on_text,
                                  OnToken&& on_token) const {
  // HF AddedVocabulary::find_matches: matches are found left to right without overlap (the
  // search resumes at the end of the raw match); single_word filters, lstrip / rstrip widen the
  // match over adjacent whitespace, which then belongs to no text section.
  size_t start_offset = 0, search = 0;
  while (true) {
    const std::optional<AddedMatcher::Match> match = matcher.find(text, search);
    if (!match) break;
    search = match->end;
    const AddedToken& token = added[match->token_index];
    size_t start = match->start, stop = match->end;
    if (token.single_word) {
      const bool start_space =
          start == 0 || !unicode::is_alphanumeric(unicode::last_code_point(text.substr(0, start)));
      const bool stop_space =
          stop == text.size() || !unicode::is_alphanumeric(unicode::first_code_point(text.substr(stop)));
      if (!start_space || !stop_space) continue;
    }
    if (token.lstrip) {
      size_t new_start = start;
      while (new_start > 0) {
        size_t back = new_start - 1;
        while (back > 0 && (static_cast<uint8_t>(text[back]) & 0xC0) == 0x80) --back;
        if (!unicode::is_whitespace(unicode::first_code_point(text.substr(back)))) break;
        new_start = back;
      }
      start = std::max(new_start, start_offset);
    }
    if (token.rstrip) {
      while (stop < text.size()) {
        size_t len = 0;
        const uint32_t cp = unicode::decode_utf8(reinterpret_cast<const uint8_t*>(text.data()) + stop, len);
        if (!unicode::is_whitespace(cp)) break;
        stop += len;
      }
    }
    if (start_offset < start) on_text(text.substr(start_offset, start - start_offset));
    on_token(token.id);
    start_offset = stop;
  }
  if (start_offset < text.size()) on_text(text.substr(start_offset));
}

void Tokenizer::Impl::encode_plain(std::string_view text, std::vector<int32_t>& out) const {
  WordCache& cache = WordCache::for_thread(serial);
  pre.split(text, [&](size_t start, size_t end) {
    bpe.encode_piece(text.substr(start, end - start), &cache, out);
  });
}

void Tokenizer::Impl::encode_normalized(std::string_view text, std::vector<int32_t>& out) const {
  if (normalized_matcher.empty()) {
    encode_plain(text, out);
    return;
  }
  split_added(
      text, normalized_matcher, [&](std::string_view section) { encode_plain(section, out); },
      [&](int32_t id) { out.push_back(id); });
}

void Tokenizer::Impl::encode_section(std::string_view section, std::vector<int32_t>& out) const {
  std::string_view text = section;
  std::string buffers[2];
  int current = 0;
  for (unicode::NormalForm form : normal_forms) {
    if (unicode::is_normalized(form, text)) continue;
    std::string& next = buffers[current];
    next.clear();
    unicode::normalize(form, text, next);
    text = next;
    current ^= 1;
  }
  encode_normalized(text, out);
}

void Tokenizer::Impl::encode_into(std::string_view text, bool add_special_tokens,
                                  std::vector<int32_t>& out) const {
  std::string repaired;
  if (!text::is_valid_utf8(text)) {
    unicode::append_repaired_utf8(repaired, text);
    text = repaired;
  }
  if (add_special_tokens) out.insert(out.end(), post_prefix.begin(), post_prefix.end());
  if (raw_matcher.empty()) {
    if (!text.empty()) encode_section(text, out);
  } else {
    split_added(
        text, raw_matcher, [&](std::string_view section) { encode_section(section, out); },
        [&](int32_t id) { out.push_back(id); });
  }
  if (add_special_tokens) out.insert(out.end(), post_suffix.begin(), post_suffix.end());
}

// ---- fingerprint and derived tables ----

Status finish_tokenizer(Tokenizer::Impl& impl, const std::string& name) {
  size_t vocab_size = impl.token_raw.size();
  for (const AddedToken& t : impl.added) vocab_size = std::max(vocab_size, static_cast<size_t>(t.id) + 1);
  impl.token_raw.resize(vocab_size);
  impl.id_kind.resize(vocab_size, 0);
  impl.token_string.assign(vocab_size, std::string());
  for (size_t id = 0; id < vocab_size; ++id)
    if (impl.id_kind[id] == 1) impl.token_string[id] = byte_level_encode(impl.token_raw[id]);

  const ByteLevelMap& map = ByteLevelMap::get();
  (void)map;
  for (size_t i = 0; i < impl.added.size(); ++i) {
    const AddedToken& t = impl.added[i];
    if (t.id < 0) return data_error(name + ": added token '" + t.content + "' has a negative id");
    impl.id_kind[t.id] = t.special ? 3 : 2;
    impl.token_string[t.id] = t.content;
    // HF's ByteLevel decoder maps a token's characters back to bytes when all of them are in the
    // byte-level alphabet, else emits the token's UTF-8 as is.
    std::string raw;
    if (!byte_level_decode(t.content, raw)) raw = t.content;
    impl.token_raw[t.id] = raw;
    if (t.normalized && !impl.normal_forms.empty()) {
      // HF matches normalized added tokens by their normalized content.
      std::string content = t.content;
      for (unicode::NormalForm form : impl.normal_forms) {
        std::string next;
        unicode::normalize(form, content, next);
        content = std::move(next);
      }
      impl.normalized_matcher.add(content, static_cast<int32_t>(i));
    } else if (t.normalized) {
      impl.normalized_matcher.add(t.content, static_cast<int32_t>(i));
    } else {
      impl.raw_matcher.add(t.content, static_cast<int32_t>(i));
    }
  }
  impl.string_to_id.reserve(vocab_size);
  for (const AddedToken& t : impl.added) impl.string_to_id.insert(t.content, t.id);
  for (size_t id = 0; id < vocab_size; ++id)
    if (impl.id_kind[id] == 1) impl.string_to_id.insert(impl.token_string[id], static_cast<int32_t>(id));

  Hasher hasher;
  hasher.add_field("synpref.tokenizer.v1");
  hasher.add_u64(vocab_size);
  for (size_t id = 0; id < vocab_size; ++id) {
    hasher.add_u64(impl.id_kind[id]);
    hasher.add_field(impl.id_kind[id] >= 2 ? impl.token_string[id] : impl.token_raw[id]);
  }
  std::vector<std::array<uint64_t, 4>> merges;
  merges.reserve(impl.bpe.pairs.size());
  impl.bpe.pairs.for_each([&](int32_t left, int32_t right, const PairTable::Entry& e) {
    merges.push_back(
        {e.rank, static_cast<uint64_t>(left), static_cast<uint64_t>(right), static_cast<uint64_t>(e.merged)});
  });
  std::sort(merges.begin(), merges.end());
  hasher.add_u64(merges.size());
  for (const auto& m : merges)
    for (uint64_t v : m) hasher.add_u64(v);
  hasher.add_u64(impl.added.size());
  for (const AddedToken& t : impl.added) {
    hasher.add_u64(static_cast<uint64_t>(t.id));
    hasher.add_field(t.content);
    hasher.add_u64((t.special ? 1 : 0) | (t.lstrip ? 2 : 0) | (t.rstrip ? 4 : 0) | (t.single_word ? 8 : 0) |
                   (t.normalized ? 16 : 0));
  }
  hasher.add_field(impl.normalizer_desc);
  hasher.add_field(impl.pre.pattern());
  hasher.add_u64(impl.bpe.ignore_merges ? 1 : 0);
  hasher.add_u64(impl.post_prefix.size());
  for (int32_t id : impl.post_prefix) hasher.add_u64(static_cast<uint64_t>(id));
  hasher.add_u64(impl.post_suffix.size());
  for (int32_t id : impl.post_suffix) hasher.add_u64(static_cast<uint64_t>(id));
  impl.fingerprint = hasher.digest();

  static std::atomic<uint64_t> next_serial{1};
  impl.serial = next_serial.fetch_add(1);
  return Status::ok();
}

// ---- public API ----

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  impl_->encode_into(text, add_special_tokens, out);
  return out;
}

void Tokenizer::encode_into(std::string_view text, bool add_special_tokens, std::vector<int32_t>& out) const {
  impl_->encode_into(text, add_special_tokens, out);
}

EncodedBatch Tokenizer::encode_batch(std::span<const std::string_view> texts, bool add_special_tokens,
                                     int n_threads) const {
  // The ids do not depend on the thread count, so out-of-range counts are clamped, not errors.
  n_threads = resolve_threads(std::clamp(n_threads, 0, kMaxThreads));
  n_threads = static_cast<int>(std::min<size_t>(n_threads, std::max<size_t>(1, texts.size())));
  std::vector<std::vector<int32_t>> per_text(texts.size());
  std::atomic<size_t> next{0};
  constexpr size_t kChunk = 16;  // texts claimed at a time: cheap balancing, little contention
  auto work = [&] {
    while (true) {
      const size_t begin = next.fetch_add(kChunk);
      if (begin >= texts.size()) break;
      const size_t end = std::min(begin + kChunk, texts.size());
      for (size_t i = begin; i < end; ++i) impl_->encode_into(texts[i], add_special_tokens, per_text[i]);
    }
  };
  std::vector<std::thread> threads;
  for (int t = 1; t < n_threads; ++t) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  EncodedBatch batch;
  batch.offsets.reserve(texts.size() + 1);
  batch.offsets.push_back(0);
  size_t total = 0;
  for (const auto& ids : per_text) total += ids.size();
  batch.ids.reserve(total);
  for (auto& ids : per_text) {
    batch.ids.insert(batch.ids.end(), ids.begin(), ids.end());
    batch.offsets.push_back(batch.ids.size());
  }
  return batch;
}

Result<std::string> Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    const int32_t id = ids[i];
    if (id < 0 || id >= vocab_size() || impl_->id_kind[id] == 0) {
      return invalid_argument("decode: id " + std::to_string(id) + " at position " + std::to_string(i) +
                              " is not a token of this tokenizer (vocab_size " +
                              std::to_string(vocab_size()) + ")");
    }
    if (skip_special_tokens && impl_->id_kind[id] == 3) continue;
    out.append(impl_->token_raw[id]);
  }
  return out;
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  const int32_t id = impl_->string_to_id.find(token);
  if (id < 0) return std::nullopt;
  return id;
}

std::optional<std::string> Tokenizer::id_to_token(int32_t id) const {
  if (id < 0 || id >= vocab_size() || impl_->id_kind[id] == 0) return std::nullopt;
  return impl_->token_string[id];
}

std::optional<std::string> Tokenizer::token_bytes(int32_t id) const {
  if (id < 0 || id >= vocab_size() || impl_->id_kind[id] == 0) return std::nullopt;
  return impl_->token_raw[id];
}

int32_t Tokenizer::vocab_size() const {
  return static_cast<int32_t>(impl_->id_kind.size());
}
std::span<const AddedToken> Tokenizer::added_tokens() const {
  return impl_->added;
}
std::optional<int32_t> Tokenizer::bos_id() const {
  return impl_->bos_id;
}
std::optional<int32_t> Tokenizer::eos_id() const {
  return impl_->eos_id;
}
std::optional<int32_t> Tokenizer::pad_id() const {
  return impl_->pad_id;
}
const std::string& Tokenizer::bos_token() const {
  return impl_->bos_token;
}
const std::string& Tokenizer::eos_token() const {
  return impl_->eos_token;
}
const std::string& Tokenizer::pad_token() const {
  return impl_->pad_token;
}
const std::string& Tokenizer::chat_template() const {
  return impl_->chat_template;
}
Hash128 Tokenizer::fingerprint() const {
  return impl_->fingerprint;
}
const std::string& Tokenizer::source_format() const {
  return impl_->source_format;
}
const std::string& Tokenizer::source_dir() const {
  return impl_->source_dir;
}

std::string repair_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  unicode::append_repaired_utf8(out, bytes);
  return out;
}

}  // namespace synpref::tokenizer
