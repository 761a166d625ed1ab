// libFuzzer target: the safetensors header parser on arbitrary bytes (src/model/safetensors.cpp).
// Invariants checked beyond "no crash / no sanitizer report": an accepted header's tensor ranges lie
// inside the input, tile the data buffer, and match dtype x shape; a parse told the file is longer
// than the bytes it may read never reads past them.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "synpref/model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace synpref::model;
  auto r = parse_safetensors_header(data, size, size, "fuzz.safetensors");
  if (r.is_ok()) {
    uint64_t cursor = r->data_begin;
    volatile uint8_t sink = 0;
    for (const TensorEntry& t : r->tensors) {
      if (t.begin != cursor || t.end < t.begin || t.end > size) std::abort();
      if (t.end - t.begin != t.n_elements() * dtype_size(t.dtype)) std::abort();
      if (r->find(t.name) == nullptr) std::abort();
      if (t.end > t.begin) sink = sink + data[t.begin] + data[t.end - 1];  // ASan: inside the input
      cursor = t.end;
    }
    if (cursor != size) std::abort();
  } else if (r.status().message().empty()) {
    std::abort();
  }
  // Same bytes as the prefix of a longer file: may fail, must not read beyond `size`.
  (void)parse_safetensors_header(data, size, static_cast<uint64_t>(size) + 4096, "fuzz-prefix.safetensors");
  return 0;
}
