// Fuzzes the record reader end to end: arbitrary bytes as a JSONL or JSON-array file, in every
// format mode, through conversion, validation and the canonical writer. Invariants: no crash,
// no sanitizer report; every accepted record re-reads to the same canonical line.
#include <cstdint>
#include <string>

#include "synpref/common/check.h"
#include "synpref/common/io.h"
#include "synpref/data/reader.h"
#include "synpref/data/writer.h"

using namespace synpref;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size == 0) return 0;
  // First byte picks the forced format (or auto) and a small line limit sometimes.
  const data::Format formats[] = {data::Format::auto_detect, data::Format::canonical, data::Format::chat,
                                  data::Format::prompt,      data::Format::hh,        data::Format::rmb};
  data::ReadOptions options;
  options.format = formats[bytes[0] % 6];
  if (bytes[0] & 0x80) options.max_line_bytes = 64;
  std::string_view input(reinterpret_cast<const char*>(bytes) + 1, size - 1);
  auto reader = data::RecordReader::from_source(io::memory_source(input), options);
  if (!reader.is_ok()) return 0;
  data::Record record;
  data::Reject reject;
  for (int guard = 0; guard < 100000; ++guard) {
    auto outcome = (*reader)->next(record, reject);
    if (!outcome.is_ok() || *outcome == data::RecordReader::Outcome::end) break;
    if (*outcome != data::RecordReader::Outcome::record) {
      SP_CHECK(!reject.code.empty() && !reject.reason.empty());
      continue;
    }
    std::string line;
    data::append_canonical(line, record);
    // The canonical line must parse back to a record that writes the same bytes.
    data::ReadOptions canonical;
    canonical.format = data::Format::canonical;
    canonical.empty_responses = data::EmptyPolicy::keep;
    data::Record again;
    std::string code, reason;
    SP_CHECK_MSG(data::parse_record_json(line, canonical, again, code, reason), reason.c_str());
    std::string line2;
    data::append_canonical(line2, again);
    SP_CHECK(line == line2);
  }
  return 0;
}
