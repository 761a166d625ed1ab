// src/tokenizer/bpe.h: byte-level BPE over raw bytes.
//
// The vocabulary is kept as raw bytes (tokenizer.json's byte-level characters decoded once at
// load), so a piece of text is merged without building a mapped string. A merge is a pair of
// token ids with a rank and the id it produces; the lowest rank merges first, leftmost among
// equals (HF's BPE::merge_word and tiktoken's byte_pair_merge agree on this). For tiktoken files
// the pairs are derived: every split of a token into two tokens, ranked by the token's rank.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace synpref::tokenizer {

// Open-addressing map (left id, right id) -> (rank, merged id).
class PairTable {
 public:
  struct Entry {
    uint64_t key = kEmpty;
    uint32_t rank = 0;
    int32_t merged = 0;
  };
  static constexpr uint64_t kEmpty = ~uint64_t{0};

  void reserve(size_t n_entries);
  // Inserts or overwrites (HF: a later duplicate merge line wins).
  void insert(int32_t left, int32_t right, uint32_t rank, int32_t merged);
  const Entry* find(int32_t left, int32_t right) const {
    const uint64_t key = make_key(left, right);
    size_t slot = (key * 0x9E3779B97F4A7C15ull) >> shift_;
    while (true) {
      const Entry& e = slots_[slot];
      if (e.key == key) return &e;
      if (e.key == kEmpty) return nullptr;
      slot = (slot + 1) & mask_;
    }
  }
  size_t size() const { return size_; }
  template <typename F>
  void for_each(F&& f) const {
    for (const Entry& e : slots_)
      if (e.key != kEmpty) f(static_cast<int32_t>(e.key >> 32), static_cast<int32_t>(e.key & 0xFFFFFFFF), e);
  }

 private:
  static uint64_t make_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  void grow();
  std::vector<Entry> slots_ = std::vector<Entry>(16);
  size_t mask_ = 15, size_ = 0;
  int shift_ = 60;
};

// Open-addressing map from token bytes to id; bytes live in one arena.
class BytesIndex {
 public:
  void reserve(size_t n_entries);
  // Returns false (and changes nothing) when `bytes` is already present.
  bool insert(std::string_view bytes, int32_t id);
  int32_t find(std::string_view bytes) const;  // -1 when absent
  size_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t hash = 0;
    uint32_t offset = 0, length = 0;
    int32_t id = -1;
  };
  void grow();
  std::string arena_;
  std::vector<Slot> slots_ = std::vector<Slot>(16);
  size_t mask_ = 15, size_ = 0;
};

uint64_t hash_bytes(std::string_view bytes);

// A bounded per-thread cache of piece -> ids. Cleared when full (simple and never unbounded).
class WordCache {
 public:
  static constexpr size_t kMaxEntries = 1 << 14;
  static constexpr size_t kMaxWordBytes = 64;
  // The cache of the calling thread for model `owner` (cleared when the thread switches models).
  static WordCache& for_thread(uint64_t owner);
  // Returns the cached ids (and their count) or nullptr.
  const int32_t* find(uint64_t hash, std::string_view word, size_t& n_ids) const;
  void insert(uint64_t hash, std::string_view word, const int32_t* ids, size_t n_ids);
  void clear();

 private:
  struct Slot {
    uint64_t hash = 0;
    uint32_t key_offset = 0, key_length = 0, ids_offset = 0, ids_length = 0;
    bool used = false;
  };
  uint64_t owner_ = 0;
  std::vector<Slot> slots_ = std::vector<Slot>(kMaxEntries * 2);
  std::string keys_;
  std::vector<int32_t> ids_;
  size_t size_ = 0;
};

class BpeModel {
 public:
  // Appends the ids of one pre-tokenized piece (raw bytes) to `out`.
  void encode_piece(std::string_view piece, WordCache* cache, std::vector<int32_t>& out) const;

  // The merge loop on initial symbol ids: the quadratic scan used for short pieces and the
  // heap-based O(n log n) one for long pieces. Both give identical results (tested).
  void merge_small(std::vector<int32_t>& symbols) const;
  void merge_heap(std::vector<int32_t>& symbols) const;

  int32_t byte_id[256];  // token of each single byte; -1 when the vocabulary lacks it
  PairTable pairs;
  BytesIndex vocab;            // raw token bytes -> id (regular vocabulary, not added tokens)
  bool ignore_merges = false;  // whole-piece vocabulary hit wins before merging (Llama 3, tiktoken)
  static constexpr size_t kSmallPiece = 48;  // symbols; above this merge_heap is used
};

}  // namespace synpref::tokenizer
