#include "synpref/data/record.h"

#include "synpref/common/text.h"

namespace synpref::data {

std::string_view role_name(Role role) {
  switch (role) {
    case Role::system:
      return "system";
    case Role::user:
      return "user";
    case Role::assistant:
      return "assistant";
    case Role::tool:
      return "tool";
  }
  return "user";
}

std::optional<Role> parse_role(std::string_view name) {
  if (name == "user" || name == "human") return Role::user;
  if (name == "assistant" || name == "gpt" || name == "bot" || name == "model") return Role::assistant;
  if (name == "system" || name == "developer") return Role::system;
  if (name == "tool" || name == "function" || name == "ipython") return Role::tool;
  return std::nullopt;
}

void Record::clear() {
  id.clear();
  source.clear();
  split.clear();
  kind = RecordKind::pair;
  context.clear();
  responses.clear();
  margin.reset();
  attributes = Attributes{};
  provenance = Provenance{};
}

namespace {
// Normalized content: trimmed, with "\r\n" read as "\n". Feeds the hasher without copying when
// there is no '\r'.
void add_normalized(Hasher& hasher, std::string_view content) {
  std::string_view t = text::trim(content);
  if (t.find('\r') == std::string_view::npos) {
    hasher.add_field(t);
    return;
  }
  std::string norm;
  norm.reserve(t.size());
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '\r' && i + 1 < t.size() && t[i + 1] == '\n') continue;
    norm.push_back(t[i]);
  }
  hasher.add_field(norm);
}
}  // namespace

Hash128 content_hash(const Record& record) {
  Hasher hasher(0x73796e70726566ULL);  // "synpref"
  hasher.add_u64(static_cast<uint64_t>(record.kind));
  hasher.add_u64(record.context.size());
  for (const Turn& turn : record.context) {
    hasher.add_field(role_name(turn.role));
    add_normalized(hasher, turn.content);
  }
  hasher.add_u64(record.responses.size());
  for (const Response& response : record.responses) add_normalized(hasher, response.content);
  return hasher.digest();
}

std::string default_id(const Record& record) {
  return "sp-" + content_hash(record).hex();
}

}  // namespace synpref::data
