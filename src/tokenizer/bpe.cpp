#include "bpe.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <queue>

#include "synpref/common/check.h"

namespace synpref::tokenizer {

uint64_t hash_bytes(std::string_view bytes) {
  return XXH3_64bits(bytes.data(), bytes.size());
}

// ---- PairTable ----

void PairTable::reserve(size_t n_entries) {
  while (slots_.size() < n_entries * 2) grow();
}

void PairTable::grow() {
  std::vector<Entry> old = std::move(slots_);
  slots_.assign(old.size() * 2, Entry{});
  mask_ = slots_.size() - 1;
  --shift_;
  size_ = 0;
  for (const Entry& e : old)
    if (e.key != kEmpty)
      insert(static_cast<int32_t>(e.key >> 32), static_cast<int32_t>(e.key & 0xFFFFFFFF), e.rank, e.merged);
}

void PairTable::insert(int32_t left, int32_t right, uint32_t rank, int32_t merged) {
  if ((size_ + 1) * 2 > slots_.size()) grow();
  const uint64_t key = make_key(left, right);
  size_t slot = (key * 0x9E3779B97F4A7C15ull) >> shift_;
  while (slots_[slot].key != kEmpty && slots_[slot].key != key) slot = (slot + 1) & mask_;
  if (slots_[slot].key == kEmpty) ++size_;
  slots_[slot] = Entry{key, rank, merged};
}

// ---- BytesIndex ----

void BytesIndex::reserve(size_t n_entries) {
  while (slots_.size() < n_entries * 2) grow();
}

void BytesIndex::grow() {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(old.size() * 2, Slot{});
  mask_ = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.id < 0) continue;
    size_t slot = s.hash & mask_;
    while (slots_[slot].id >= 0) slot = (slot + 1) & mask_;
    slots_[slot] = s;
  }
}

bool BytesIndex::insert(std::string_view bytes, int32_t id) {
  SP_CHECK(id >= 0);
  if ((size_ + 1) * 2 > slots_.size()) grow();
  const uint64_t h = hash_bytes(bytes);
  size_t slot = h & mask_;
  while (slots_[slot].id >= 0) {
    const Slot& s = slots_[slot];
    if (s.hash == h && std::string_view(arena_).substr(s.offset, s.length) == bytes) return false;
    slot = (slot + 1) & mask_;
  }
  SP_CHECK(arena_.size() + bytes.size() < (uint64_t{1} << 32));
  slots_[slot] = Slot{h, static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(bytes.size()), id};
  arena_.append(bytes);
  ++size_;
  return true;
}

int32_t BytesIndex::find(std::string_view bytes) const {
  const uint64_t h = hash_bytes(bytes);
  size_t slot = h & mask_;
  while (true) {
    const Slot& s = slots_[slot];
    if (s.id < 0) return -1;
    if (s.hash == h && s.length == bytes.size() &&
        std::memcmp(arena_.data() + s.offset, bytes.data(), bytes.size()) == 0)
      return s.id;
    slot = (slot + 1) & mask_;
  }
}

// ---- WordCache ----

WordCache& WordCache::for_thread(uint64_t owner) {
  thread_local WordCache cache;
  if (cache.owner_ != owner) {
    cache.clear();
    cache.owner_ = owner;
  }
  return cache;
}

void WordCache::clear() {
  if (size_ == 0) return;
  std::fill(slots_.begin(), slots_.end(), Slot{});
  keys_.clear();
  ids_.clear();
  size_ = 0;
}

const int32_t* WordCache::find(uint64_t hash, std::string_view word, size_t& n_ids) const {
  const size_t mask = slots_.size() - 1;
  size_t slot = hash & mask;
  while (slots_[slot].used) {
    const Slot& s = slots_[slot];
    if (s.hash == hash && s.key_length == word.size() &&
        std::memcmp(keys_.data() + s.key_offset, word.data(), word.size()) == 0) {
      n_ids = s.ids_length;
      return ids_.data() + s.ids_offset;
    }
    slot = (slot + 1) & mask;
  }
  return nullptr;
}

void WordCache::insert(uint64_t hash, std::string_view word, const int32_t* ids, size_t n_ids) {
  if (size_ >= kMaxEntries) clear();
  const size_t mask = slots_.size() - 1;
  size_t slot = hash & mask;
  while (slots_[slot].used) slot = (slot + 1) & mask;
  slots_[slot] = Slot{hash,
                      static_cast<uint32_t>(keys_.size()),
                      static_cast<uint32_t>(word.size()),
                      static_cast<uint32_t>(ids_.size()),
                      static_cast<uint32_t>(n_ids),
                      true};
  keys_.append(word);
  ids_.insert(ids_.end(), ids, ids + n_ids);
  ++size_;
}

// ---- BPE ----

void BpeModel::merge_small(std::vector<int32_t>& symbols) const {
  constexpr uint32_t kNone = ~uint32_t{0};
  size_t n = symbols.size();
  if (n < 2) return;
  // rank[i] / merged[i]: the merge of symbols i and i+1.
  uint32_t rank[kSmallPiece];
  int32_t merged[kSmallPiece];
  SP_CHECK(n <= kSmallPiece);
  auto look = [&](size_t i) {
    const PairTable::Entry* e = pairs.find(symbols[i], symbols[i + 1]);
    rank[i] = e ? e->rank : kNone;
    merged[i] = e ? e->merged : -1;
  };
  for (size_t i = 0; i + 1 < n; ++i) look(i);
  while (n > 1) {
    size_t best = 0;
    uint32_t best_rank = kNone;
    for (size_t i = 0; i + 1 < n; ++i) {
      if (rank[i] < best_rank) {
        best_rank = rank[i];
        best = i;
      }
    }
    if (best_rank == kNone) break;
    symbols[best] = merged[best];
    for (size_t i = best + 1; i + 1 < n; ++i) {
      symbols[i] = symbols[i + 1];
      rank[i] = rank[i + 1];
      merged[i] = merged[i + 1];
    }
    --n;
    if (best + 1 < n) look(best);
    if (best > 0) look(best - 1);
  }
  symbols.resize(n);
}

void BpeModel::merge_heap(std::vector<int32_t>& symbols) const {
  const size_t n = symbols.size();
  if (n < 2) return;
  struct Candidate {
    uint32_t rank;
    uint32_t pos;  // index of the left symbol; merged symbols keep the left index
    int32_t merged;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::vector<int32_t> prev(n), next(n);
  std::vector<uint8_t> alive(n, 1);
  for (size_t i = 0; i < n; ++i) {
    prev[i] = static_cast<int32_t>(i) - 1;
    next[i] = i + 1 < n ? static_cast<int32_t>(i + 1) : -1;
  }
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto push = [&](int32_t left) {
    if (left < 0 || next[left] < 0) return;
    if (const PairTable::Entry* e = pairs.find(symbols[left], symbols[next[left]]))
      queue.push({e->rank, static_cast<uint32_t>(left), e->merged});
  };
  for (size_t i = 0; i + 1 < n; ++i) push(static_cast<int32_t>(i));
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    const int32_t left = static_cast<int32_t>(top.pos);
    if (!alive[left] || next[left] < 0) continue;
    const int32_t right = next[left];
    const PairTable::Entry* e = pairs.find(symbols[left], symbols[right]);
    if (e == nullptr || e->merged != top.merged || e->rank != top.rank) continue;  // stale
    symbols[left] = top.merged;
    alive[right] = 0;
    next[left] = next[right];
    if (next[right] >= 0) prev[next[right]] = left;
    push(prev[left]);
    push(left);
  }
  size_t out = 0;
  for (int32_t i = 0; i >= 0; i = next[i]) symbols[out++] = symbols[i];
  symbols.resize(out);
}

void BpeModel::encode_piece(std::string_view piece, WordCache* cache, std::vector<int32_t>& out) const {
  const auto* bytes = reinterpret_cast<const uint8_t*>(piece.data());
  if (piece.size() == 1 && byte_id[bytes[0]] >= 0) {
    out.push_back(byte_id[bytes[0]]);
    return;
  }
  if (ignore_merges) {
    const int32_t id = vocab.find(piece);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  const bool cacheable = cache != nullptr && piece.size() <= WordCache::kMaxWordBytes;
  uint64_t hash = 0;
  if (cacheable) {
    hash = hash_bytes(piece);
    size_t n_ids = 0;
    if (const int32_t* ids = cache->find(hash, piece, n_ids)) {
      out.insert(out.end(), ids, ids + n_ids);
      return;
    }
  }
  thread_local std::vector<int32_t> symbols;
  symbols.clear();
  // Bytes without a token are dropped, as HF's BPE does when the model has no unk_token.
  for (size_t i = 0; i < piece.size(); ++i)
    if (byte_id[bytes[i]] >= 0) symbols.push_back(byte_id[bytes[i]]);
  if (symbols.size() <= kSmallPiece) {
    merge_small(symbols);
  } else {
    merge_heap(symbols);
  }
  if (cacheable) cache->insert(hash, piece, symbols.data(), symbols.size());
  out.insert(out.end(), symbols.begin(), symbols.end());
}

}  // namespace synpref::tokenizer
