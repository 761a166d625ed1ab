// prompt: TRL "prompt"/"chosen"/"rejected", each a string or a message list.
#include "data/formats/formats.h"

namespace synpref::data::formats {

namespace {

bool parse_completion(element e, std::string_view field, std::string& out, Bad& bad) {
  if (e.is_string()) {
    std::string_view sv = e.get_string().value_unsafe();
    out.assign(sv.data(), sv.size());
    return true;
  }
  if (e.is_array()) {
    std::vector<Turn> turns;
    if (!parse_messages(e, field, turns, bad)) return false;
    if (turns.empty()) {
      bad = {"empty_response", std::string(field) + " is an empty message list"};
      return false;
    }
    if (turns.back().role != Role::assistant) {
      bad = {"not_assistant", std::string(field) + ": last turn is by '" +
                                  std::string(role_name(turns.back().role)) + "', not the assistant"};
      return false;
    }
    if (turns.size() > 1) {
      bad = {"multi_turn", std::string(field) + " has " + std::to_string(turns.size()) +
                               " messages; only a single final assistant turn is supported"};
      return false;
    }
    out = std::move(turns[0].content);
    return true;
  }
  bad = wrong_type(field, "a string or a list of messages", e);
  return false;
}

}  // namespace

bool convert_prompt(object obj, Record& record, Bad& bad) {
  element pe, ce, re;
  if (!find(obj, "prompt", &pe) || !find(obj, "chosen", &ce) || !find(obj, "rejected", &re)) {
    bad = {"missing_field", "missing 'prompt', 'chosen' or 'rejected'"};
    return false;
  }
  record.context.clear();
  if (pe.is_string()) {
    std::string_view sv = pe.get_string().value_unsafe();
    record.context.push_back({Role::user, std::string(sv)});
  } else if (pe.is_array()) {
    if (!parse_messages(pe, "prompt", record.context, bad)) return false;
  } else {
    bad = wrong_type("prompt", "a string or a list of messages", pe);
    return false;
  }
  if (record.context.empty()) {
    bad = {"no_context", "no shared context: 'prompt' is an empty list"};
    return false;
  }
  record.responses.resize(2);
  return parse_completion(ce, "chosen", record.responses[0].content, bad) &&
         parse_completion(re, "rejected", record.responses[1].content, bad);
}

}  // namespace synpref::data::formats
