// Internal to the curate library: the gold import's shared pieces (step_gold.cpp) and the
// annotation-tool readers (gold_formats.cpp).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "synpref/curate/steps.h"

namespace synpref::curate {

// One rejects-file line: {"file","line","code","reason","raw"}; reason "code: message".
std::string reject_line(const std::string& file, uint64_t line, const std::string& reason,
                        std::string_view raw);
// Records a batch of gold labels (labels, then gold membership) and clears it.
Status record_gold_batch(Project& project, std::vector<Label>& batch, GoldImportSummary& summary);
// Drops an empty rejects file; a file that gave no label is a data_error with the counts.
Status finish_gold_import(const std::string& path, GoldImportSummary& summary);
// "synpref", "label-studio" or "argilla": `format` itself, or for "auto" what the file looks like.
Result<std::string> detect_gold_format(const std::string& path, const std::string& format);
// Reads a Label Studio or Argilla export.
Result<GoldImportSummary> import_tool_export(Project& project, const std::string& path,
                                             const std::string& format, const GoldImportOptions& options);

}  // namespace synpref::curate
