// tools/synpref/data_summary.h: how data commands (and the demo) report a PipelineSummary.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "command.h"
#include "synpref/data/pipeline.h"

namespace synpref::cli {

inline nlohmann::json summary_json(const std::string& command, const data::PipelineSummary& s) {
  nlohmann::json by_code = nlohmann::json::object();
  for (auto& [code, n] : s.input.rejects_by_code) by_code[code] = n;
  nlohmann::json j = {
      {"command", command},
      {"files", s.input.files},
      {"records", s.input.records},
      {"rejects", s.input.rejects},
      {"rejects_by_code", by_code},
      {"rejects_file", s.rejects_path},
      {"empty_responses_kept", s.input.empty_responses_kept},
      {"input_bytes", s.input.bytes_read},
      {"seconds", s.seconds},
      {"input_mb_per_s", s.seconds > 0 ? static_cast<double>(s.input.bytes_read) / 1e6 / s.seconds : 0.0},
      {"output", s.output},
      {"written", s.written}};
  if (command == "dedup") {
    j["duplicates_removed"] = s.removed;
    j["duplicates_file"] = s.removed_path;
    j["table_bytes"] = s.table_bytes;
  } else if (command == "decontaminate") {
    j["removed"] = s.removed;
    j["removed_file"] = s.removed_path;
  } else if (command == "sample") {
    j["not_sampled"] = s.removed;
  }
  for (auto& [name, n] : s.splits) j["splits"][name] = n;
  return j;
}

inline std::string rejects_text(const data::PipelineSummary& s) {
  std::string out = "rejects " + std::to_string(s.input.rejects);
  if (s.input.rejects > 0) {
    out += " (";
    bool first = true;
    for (auto& [code, n] : s.input.rejects_by_code) {
      out += (first ? "" : ", ") + code + " " + std::to_string(n);
      first = false;
    }
    out += s.rejects_path.empty() ? ") (not listed; --rejects PATH lists them)" : ") -> " + s.rejects_path;
  }
  if (s.input.empty_responses_kept > 0) {
    out += "; kept " + std::to_string(s.input.empty_responses_kept) + " explicit empty responses";
  }
  return out;
}

// Prints the summary: JSON with --json (on stdout, or stderr when stdout carries the data),
// otherwise one human line on stderr: "<command>: <written> <what>[ <removed>] ...; rejects ...".
inline void report_summary(const std::string& command, const data::PipelineSummary& s,
                           const std::string& what, bool stdout_busy,
                           const nlohmann::json& extra = nlohmann::json::object()) {
  if (global_options().json) {
    nlohmann::json j = summary_json(command, s);
    j.update(extra);
    std::fprintf(stdout_busy ? stderr : stdout, "%s\n", j.dump().c_str());
    return;
  }
  std::string line = command + ": " + std::to_string(s.written) + " " + what;
  if (command == "dedup" || command == "decontaminate" || command == "sample") {
    line += " " + std::to_string(s.removed);
    if (!s.removed_path.empty()) line += " (listed in " + s.removed_path + ")";
  }
  for (auto& [name, n] : s.splits) line += " " + name + "=" + std::to_string(n);
  std::fprintf(stderr, "%s; %s\n", line.c_str(), rejects_text(s).c_str());
}

}  // namespace synpref::cli
