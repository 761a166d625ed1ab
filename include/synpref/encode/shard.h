// synpref/encode/shard.h: tokenized shards, the binary input of training and bulk scoring.
//
// A shard holds RM inputs (encode/rm_input.h) of many records: per record the shared prefix ids
// once and each response's suffix ids, so the prefix is computed once downstream. Readers
// memory-map the file. Layout (all integers little-endian):
//
//   header, 64 bytes:
//     0  magic "SPSHARD1"                8 bytes
//     8  format version (u32) = 2
//    12  header bytes (u32) = 64
//    16  tokenizer fingerprint           16 bytes (XXH3-128 of everything that decides ids)
//    32  max_length (u64)                the builder's limit, for information
//    40  reserved                        16 zero bytes
//    56  XXH3-64 of bytes [0, 56)        8 bytes
//   records, back to back; each:
//     0  record magic "SPR1"             4 bytes (lets a reader resynchronize after damage)
//     4  payload bytes P (u32)
//     8  payload: id length (u32), id bytes zero-padded to a multiple of 4, kind (u32: 0 pair,
//        1 response set),
//        n_responses (u32), prefix length (u32), suffix lengths (u32 x n_responses),
//        prefix ids (i32 x ...), suffix ids (i32 x ..., in response order),
//        labels (f32 x n_responses; NaN = none),
//        margin (f32; NaN = none: the record's OpenRLHF-style preference margin),
//        task category length (u32), category bytes zero-padded to a multiple of 4
//     8+P XXH3-64 of the payload         8 bytes
//   (every field is 4-byte aligned, so ids are read in place from the mapping)
//   footer, 32 bytes:
//     0  magic "SPSHEND1"; 8 record count (u64); 16 bytes of records (u64); 24 XXH3-64 of [0, 24)
//
// A record whose checksum or structure is wrong is reported (offset, reason) and skipped; the
// reader resynchronizes at the next record magic. A missing footer (truncated file) is reported
// and every intact record before the cut is still read. A shard whose tokenizer fingerprint
// differs from the tokenizer in use is refused with the command to re-run.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "synpref/common/hash.h"
#include "synpref/common/io.h"
#include "synpref/common/status.h"
#include "synpref/encode/rm_input.h"

namespace synpref::encode {

// Version 2 added the margin and task category (what training reads besides the ids); version 1
// shards are refused with the command that rebuilds them.
inline constexpr uint32_t kShardVersion = 2;

class ShardWriter {
 public:
  static Result<std::unique_ptr<ShardWriter>> open(const std::string& path, Hash128 tokenizer_fingerprint,
                                                   uint64_t max_length);
  // labels: one per response (NaN when unknown) or empty. margin: NaN when the record has none.
  void add(const std::string& id, data::RecordKind kind, const RmInput& input,
           std::span<const float> labels = {}, float margin = NAN, std::string_view task_category = {});
  Status close();
  uint64_t records() const { return records_; }

 private:
  std::unique_ptr<io::Writer> writer_;
  uint64_t records_ = 0, record_bytes_ = 0;
  std::string payload_;
};

// One record as stored (views into the mapped file).
struct ShardRecord {
  std::string_view id;
  data::RecordKind kind = data::RecordKind::pair;
  std::span<const int32_t> prefix;
  std::vector<std::span<const int32_t>> suffixes;
  std::vector<float> labels;
  float margin = NAN;              // NaN: none
  std::string_view task_category;  // empty: none
};

class ShardReader {
 public:
  // Opens and checks the header. If expected_fingerprint is given and differs, fails with a
  // message saying which tokenizer the shard needs and how to re-tokenize.
  static Result<std::unique_ptr<ShardReader>> open(const std::string& path,
                                                   const Hash128* expected_fingerprint = nullptr);
  ~ShardReader();

  // Next intact record (true), or false at the end. Damaged records are skipped and listed in
  // problems(); they never stop the read.
  bool next(ShardRecord& record);
  Hash128 fingerprint() const { return fingerprint_; }
  uint64_t max_length() const { return max_length_; }
  // Human-readable descriptions of every damaged record or truncation found so far.
  const std::vector<std::string>& problems() const { return problems_; }
  uint64_t records_read() const { return records_read_; }
  // Records the footer announces (0 when the footer is missing).
  uint64_t records_expected() const { return records_expected_; }

 private:
  ShardReader() = default;
  bool parse_payload(const char* p, uint32_t n, ShardRecord& record, std::string& why) const;

  std::string path_;
  const char* data_ = nullptr;
  size_t size_ = 0;
  size_t pos_ = 0, end_ = 0;  // records lie in [64, end_)
  Hash128 fingerprint_;
  uint64_t max_length_ = 0, records_expected_ = 0, records_read_ = 0;
  std::vector<std::string> problems_;
  bool footer_ok_ = false;
};

}  // namespace synpref::encode
