// src/data/formats/formats.h: one converter per input format, from a parsed JSON object to a
// Record. Each fills `record` (already cleared) or describes why it cannot in `bad`; the reader
// detects the format, adds the metadata shared by source formats and validates the result.
#pragma once

#include "data/formats/fields.h"

namespace synpref::data::formats {

bool convert_canonical(object obj, Record& record, Bad& bad);
bool convert_chat(object obj, Record& record, Bad& bad);
bool convert_prompt(object obj, Record& record, Bad& bad);
bool convert_hh(object obj, Record& record, Bad& bad);
bool convert_rmb(object obj, Record& record, Bad& bad);

// Splits two full conversations into their shared context and one final assistant turn each
// (chat format; also the shape TRL and OpenRLHF conversational files have).
bool split_shared(std::vector<Turn>& chosen, std::vector<Turn>& rejected, Record& record, Bad& bad);

}  // namespace synpref::data::formats
