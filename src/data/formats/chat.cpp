// chat: conversational "chosen"/"rejected" message lists sharing a prefix (Skywork-Reward-Preference,
// TRL conversational, OpenRLHF).
#include "data/formats/formats.h"

namespace synpref::data::formats {

namespace {

bool same_turn(const Turn& a, const Turn& b) {
  return a.role == b.role && a.content == b.content;
}

}  // namespace

// Splits two full conversations into shared context + one final assistant turn each.
bool split_shared(std::vector<Turn>& chosen, std::vector<Turn>& rejected, Record& record, Bad& bad) {
  size_t k = 0;
  while (k < chosen.size() && k < rejected.size() && same_turn(chosen[k], rejected[k])) ++k;
  if (k == chosen.size() && k == rejected.size()) {
    bad = {"identical_responses", "chosen and rejected conversations are identical"};
    return false;
  }
  if (k == 0) {
    bad = {"no_context", "no shared context: chosen and rejected differ from their first message"};
    return false;
  }
  const char* names[2] = {"chosen", "rejected"};
  std::vector<Turn>* sides[2] = {&chosen, &rejected};
  for (int s = 0; s < 2; ++s) {
    std::vector<Turn>& v = *sides[s];
    size_t rest = v.size() - k;
    if (rest == 0) {
      bad = {"not_assistant", std::string(names[s]) + " has no turn after the shared context"};
      return false;
    }
    if (v.back().role != Role::assistant) {
      bad = {"not_assistant", std::string(names[s]) + ": last turn is by '" +
                                  std::string(role_name(v.back().role)) + "', not the assistant"};
      return false;
    }
    if (rest > 1) {
      bad = {"multi_turn",
             std::string(names[s]) + " continues for " + std::to_string(rest) +
                 " turns after the shared context; only a single final assistant turn is supported"};
      return false;
    }
  }
  record.context.assign(std::make_move_iterator(chosen.begin()), std::make_move_iterator(chosen.begin() + k));
  record.responses.resize(2);
  record.responses[0].content = std::move(chosen.back().content);
  record.responses[1].content = std::move(rejected.back().content);
  return true;
}

bool convert_chat(object obj, Record& record, Bad& bad) {
  element ce, re;
  if (!find(obj, "chosen", &ce) || !find(obj, "rejected", &re)) {
    bad = {"missing_field", "missing 'chosen' or 'rejected'"};
    return false;
  }
  std::vector<Turn> chosen, rejected;
  if (!parse_messages(ce, "chosen", chosen, bad) || !parse_messages(re, "rejected", rejected, bad))
    return false;
  return split_shared(chosen, rejected, record, bad);
}

// One completion: a string, or a list holding exactly one assistant message.

}  // namespace synpref::data::formats
