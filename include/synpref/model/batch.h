// synpref/model/batch.h: packed rows, the batch layout of the forward pass (inference and training).
//
// One batch = the rows (tokens) of several sequences back to back, no padding. A sequence with a
// parent continues that parent's rows (prefix sharing): it attends to all of the parent's rows
// first, then causally to its own. Parents come before their children and have no parent
// themselves; sequences are listed in row order.
#pragma once

#include <cstdint>
#include <vector>

namespace synpref::model {

struct PackedRows {
  struct Seq {
    int64_t row0 = 0, n_rows = 0;
    int parent = -1;  // index into seqs of the shared context this sequence continues; -1: none
  };
  std::vector<int32_t> ids;        // (T) token ids
  std::vector<int32_t> positions;  // (T) logical positions (parent length + own index)
  std::vector<Seq> seqs;
  int64_t n_rows() const { return static_cast<int64_t>(ids.size()); }
};

}  // namespace synpref::model
