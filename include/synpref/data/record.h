// synpref/data/record.h: the preference-data model every subsystem reads and writes.
//
// A Record is either a preference pair (shared context + chosen and rejected final assistant
// turns) or a response set (context + N candidate final assistant turns with optional labels or
// ranks, for best-of-N). Both store candidates in `responses`; for a pair, responses[0] is the
// chosen and responses[1] the rejected turn, so the scorer handles both kinds the same way.
// The on-disk form is canonical JSONL: docs/formats/canonical-jsonl.md.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "synpref/common/hash.h"

namespace synpref::data {

enum class Role : uint8_t { system, user, assistant, tool };
std::string_view role_name(Role role);
// Accepts system/user/assistant/tool and the common aliases human/gpt/bot/model/function/ipython.
std::optional<Role> parse_role(std::string_view name);

struct Turn {
  Role role = Role::user;
  std::string content;
};

enum class RecordKind : uint8_t { pair, response_set };

// Preference attributes (SynPref-40M stage 1): free strings, empty when unknown.
struct Attributes {
  std::string task_category;
  std::string objectivity;
  std::string controversiality;
  std::string desired_attributes;
  std::string annotation_guideline;
  bool empty() const {
    return task_category.empty() && objectivity.empty() && controversiality.empty() &&
           desired_attributes.empty() && annotation_guideline.empty();
  }
};

// Where the preference label came from. `source` is one of: "" (unknown), "original" (as
// released), "human", "llm_judge", "model" (a reward model). Confidence is NaN when unknown.
struct Provenance {
  std::string source;
  std::string annotator;  // human annotator id
  std::string judge;      // LLM judge or model name
  double confidence = std::nan("");
  std::string time;  // ISO 8601, free string
  bool empty() const {
    return source.empty() && annotator.empty() && judge.empty() && std::isnan(confidence) && time.empty();
  }
};

struct Response {
  std::string content;
  std::optional<double> label;  // e.g. a rating or 1/0 correctness; absent when unknown
  std::optional<int64_t> rank;  // 1 = best; absent when unknown
  std::string model;            // generating model, free string
};

struct Record {
  std::string id;
  std::string source;
  std::string split;
  RecordKind kind = RecordKind::pair;
  std::vector<Turn> context;        // ends with a user (or tool) turn
  std::vector<Response> responses;  // pair: [chosen, rejected]
  std::optional<double> margin;     // OpenRLHF-style preference margin
  Attributes attributes;
  Provenance provenance;

  // Clears every field but keeps string capacity, so a reader can reuse one Record per line.
  void clear();
  const Response& chosen() const { return responses[0]; }
  const Response& rejected() const { return responses[1]; }
};

// Content hash of the normalized (context, responses) tuple: the dedup key and, as 32 hex digits
// prefixed "sp-", the id of records that come without one. Normalization: each turn's role and
// its content with leading/trailing whitespace removed and "\r\n" read as "\n". Response order
// matters (chosen vs rejected). Defined byte for byte in docs/formats/canonical-jsonl.md.
Hash128 content_hash(const Record& record);
std::string default_id(const Record& record);

}  // namespace synpref::data
