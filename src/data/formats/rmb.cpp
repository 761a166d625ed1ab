// rmb: RMB pairwise (conversation_input, chosen, reject) and best-of-N (bon_best, loser_list).
#include "data/formats/formats.h"

namespace synpref::data::formats {

namespace {

bool parse_rmb_answer(element e, std::string_view field, Response& out, Bad& bad) {
  if (!e.is_object()) {
    bad = wrong_type(field, "an object with llm_name and answer", e);
    return false;
  }
  object o = e.get_object().value_unsafe();
  element answer;
  if (!find(o, "answer", &answer)) {
    bad = {"missing_field", std::string(field) + ": missing required field 'answer'"};
    return false;
  }
  if (!get_content(answer, std::string(field) + ".answer", out.content, bad)) return false;
  return get_string(o, "llm_name", out.model, bad, false);
}

}  // namespace

bool convert_rmb(object obj, Record& record, Bad& bad) {
  element conv;
  if (!find(obj, "conversation_input", &conv)) {
    bad = {"missing_field", "missing required field 'conversation_input'"};
    return false;
  }
  if (!parse_messages(conv, "conversation_input", record.context, bad)) return false;
  if (record.context.empty()) {
    bad = {"no_context", "no shared context: 'conversation_input' is empty"};
    return false;
  }
  if (!get_string(obj, "category_path", record.attributes.task_category, bad, false)) return false;
  element best, losers;
  if (find(obj, "bon_best", &best)) {
    record.kind = RecordKind::response_set;
    if (!get_id(obj, "bon_uid", record.id, bad)) return false;
    if (!find(obj, "loser_list", &losers) || !losers.is_array()) {
      bad = {"missing_field", "best-of-N record needs a 'loser_list' array"};
      return false;
    }
    record.responses.clear();
    record.responses.emplace_back();
    if (!parse_rmb_answer(best, "bon_best", record.responses[0], bad)) return false;
    record.responses[0].rank = 1;
    size_t idx = 0;
    simdjson::dom::array losers_arr = losers.get_array().value_unsafe();
    for (element loser : losers_arr) {
      record.responses.emplace_back();
      if (!parse_rmb_answer(loser, "loser_list[" + std::to_string(idx++) + "]", record.responses.back(), bad))
        return false;
    }
    if (record.responses.size() < 2) {
      bad = {"count", "best-of-N record has an empty 'loser_list'"};
      return false;
    }
    return true;
  }
  element chosen, reject;
  if (!find(obj, "chosen", &chosen) || !find(obj, "reject", &reject)) {
    bad = {"missing_field", "RMB pairwise record needs 'chosen' and 'reject'"};
    return false;
  }
  if (!get_id(obj, "pair_uid", record.id, bad)) return false;
  record.responses.resize(2);
  return parse_rmb_answer(chosen, "chosen", record.responses[0], bad) &&
         parse_rmb_answer(reject, "reject", record.responses[1], bad);
}

}  // namespace synpref::data::formats
