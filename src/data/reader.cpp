// Record readers: JSONL and JSON-array files, format detection, conversion and validation.
#include "synpref/data/reader.h"

#include <simdjson.h>

#include <cstring>

#include "synpref/common/text.h"

namespace synpref::data {

using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

std::string_view format_name(Format format) {
  switch (format) {
    case Format::auto_detect:
      return "auto";
    case Format::canonical:
      return "canonical";
    case Format::chat:
      return "chat";
    case Format::prompt:
      return "prompt";
    case Format::hh:
      return "hh";
    case Format::rmb:
      return "rmb";
  }
  return "auto";
}

Result<Format> parse_format(std::string_view name) {
  for (Format f :
       {Format::auto_detect, Format::canonical, Format::chat, Format::prompt, Format::hh, Format::rmb}) {
    if (format_name(f) == name) return f;
  }
  return invalid_argument("unknown format '" + std::string(name) +
                          "': expected auto, canonical, chat, prompt, hh or rmb");
}

namespace {

// A conversion failure: code + reason, turned into a Reject by the caller.
struct Bad {
  std::string code;
  std::string reason;
};

const char* type_name(element_type t) {
  switch (t) {
    case element_type::ARRAY:
      return "array";
    case element_type::OBJECT:
      return "object";
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE:
      return "number";
    case element_type::STRING:
      return "string";
    case element_type::BOOL:
      return "boolean";
    case element_type::NULL_VALUE:
      return "null";
  }
  return "value";
}

Bad wrong_type(std::string_view field, std::string_view expected, element e) {
  return {"type", "field '" + std::string(field) + "': expected " + std::string(expected) + ", got " +
                      type_name(e.type())};
}

// Optional lookup: returns false if absent.
bool find(object obj, std::string_view key, element* out) {
  auto r = obj.at_key(key);
  if (r.error()) return false;
  *out = r.value_unsafe();
  return true;
}

// Reads a string field. Absent or null -> empty unless required.
bool get_string(object obj, std::string_view key, std::string& out, Bad& bad, bool required) {
  element e;
  if (!find(obj, key, &e) || e.is_null()) {
    if (required) {
      bad = {"missing_field", "missing required field '" + std::string(key) + "'"};
      return false;
    }
    out.clear();
    return true;
  }
  if (!e.is_string()) {
    bad = wrong_type(key, "string", e);
    return false;
  }
  std::string_view sv = e.get_string().value_unsafe();
  out.assign(sv.data(), sv.size());
  return true;
}

// An id may be a string or an integer in source data.
bool get_id(object obj, std::string_view key, std::string& out, Bad& bad) {
  element e;
  if (!find(obj, key, &e) || e.is_null()) return true;
  if (e.is_string()) {
    std::string_view sv = e.get_string().value_unsafe();
    out.assign(sv.data(), sv.size());
    return true;
  }
  if (e.is_int64()) {
    out = std::to_string(e.get_int64().value_unsafe());
    return true;
  }
  if (e.is_uint64()) {
    out = std::to_string(e.get_uint64().value_unsafe());
    return true;
  }
  bad = wrong_type(key, "string or integer", e);
  return false;
}

bool get_number(object obj, std::string_view key, std::optional<double>& out, Bad& bad) {
  element e;
  out.reset();
  if (!find(obj, key, &e) || e.is_null()) return true;
  if (!e.is_number()) {
    bad = wrong_type(key, "number", e);
    return false;
  }
  out = e.get_double().value_unsafe();
  return true;
}

// Message content: a string, or a list of {"type":"text","text":...} parts (concatenated).
bool get_content(element e, std::string_view field, std::string& out, Bad& bad) {
  if (e.is_string()) {
    std::string_view sv = e.get_string().value_unsafe();
    out.assign(sv.data(), sv.size());
    return true;
  }
  if (e.is_array()) {
    out.clear();
    size_t part_idx = 0;
    simdjson::dom::array e_arr = e.get_array().value_unsafe();
    for (element part : e_arr) {
      std::string where = std::string(field) + "[" + std::to_string(part_idx++) + "]";
      if (!part.is_object()) {
        bad = wrong_type(where, "content part object", part);
        return false;
      }
      object p = part.get_object().value_unsafe();
      std::string type, text;
      if (!get_string(p, "type", type, bad, true)) return false;
      if (type != "text") {
        bad = {"type", where + ": content part type '" + type + "' is not supported (text only)"};
        return false;
      }
      if (!get_string(p, "text", text, bad, true)) return false;
      out += text;
    }
    return true;
  }
  if (e.is_null()) {
    bad = {"type", "field '" + std::string(field) + "' is null (tool calls without text are not supported)"};
    return false;
  }
  bad = wrong_type(field, "string or list of text parts", e);
  return false;
}

bool parse_messages(element e, std::string_view field, std::vector<Turn>& out, Bad& bad) {
  if (!e.is_array()) {
    bad = wrong_type(field, "list of messages", e);
    return false;
  }
  out.clear();
  size_t idx = 0;
  simdjson::dom::array e_arr = e.get_array().value_unsafe();
  for (element m : e_arr) {
    std::string where = std::string(field) + "[" + std::to_string(idx++) + "]";
    if (!m.is_object()) {
      bad = wrong_type(where, "message object", m);
      return false;
    }
    object obj = m.get_object().value_unsafe();
    std::string role;
    if (!get_string(obj, "role", role, bad, true)) {
      bad.reason = where + ": " + bad.reason;
      return false;
    }
    auto parsed = parse_role(role);
    if (!parsed) {
      bad = {"role", where + ".role: unknown role '" + role + "' (expected system, user, assistant or tool)"};
      return false;
    }
    element content;
    Turn turn;
    turn.role = *parsed;
    if (!find(obj, "content", &content)) {
      bad = {"missing_field", where + ": missing required field 'content'"};
      return false;
    }
    if (!get_content(content, where + ".content", turn.content, bad)) return false;
    out.push_back(std::move(turn));
  }
  return true;
}

bool same_turn(const Turn& a, const Turn& b) {
  return a.role == b.role && a.content == b.content;
}

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

// ---- hh-rlhf transcripts ---------------------------------------------------------------------

struct Segment {
  Role role;
  size_t begin, end;  // raw content bytes [begin, end) in the transcript
};

bool parse_transcript(std::string_view t, std::string_view field, std::vector<Segment>& out, Bad& bad) {
  static constexpr std::string_view kHuman = "\n\nHuman:";
  static constexpr std::string_view kAssistant = "\n\nAssistant:";
  out.clear();
  size_t pos = 0;
  // Tolerate a transcript that starts with "Human:" without the leading blank line.
  if (t.rfind("Human:", 0) == 0) {
    out.push_back({Role::user, 6, 0});
    pos = 6;
  } else if (t.rfind(kHuman, 0) != 0) {
    bad = {"type", "field '" + std::string(field) + "': hh transcript must start with \"\\n\\nHuman:\""};
    return false;
  }
  for (;;) {
    size_t h = t.find(kHuman, pos), a = t.find(kAssistant, pos);
    size_t next = std::min(h, a);
    if (!out.empty()) out.back().end = next == std::string_view::npos ? t.size() : next;
    if (next == std::string_view::npos) break;
    bool is_human = next == h;
    size_t content = next + (is_human ? kHuman.size() : kAssistant.size());
    out.push_back({is_human ? Role::user : Role::assistant, content, 0});
    pos = content;
  }
  return true;
}

bool convert_hh(object obj, Record& record, Bad& bad) {
  std::string chosen, rejected;
  if (!get_string(obj, "chosen", chosen, bad, true) || !get_string(obj, "rejected", rejected, bad, true))
    return false;
  std::vector<Segment> sc, sr;
  if (!parse_transcript(chosen, "chosen", sc, bad) || !parse_transcript(rejected, "rejected", sr, bad))
    return false;
  auto content = [](const std::string& t, const Segment& s) {
    return text::trim(std::string_view(t).substr(s.begin, s.end - s.begin));
  };
  size_t k = 0;
  while (k < sc.size() && k < sr.size() && sc[k].role == sr[k].role &&
         content(chosen, sc[k]) == content(rejected, sr[k]))
    ++k;
  if (k == sc.size() && k == sr.size()) {
    bad = {"identical_responses", "chosen and rejected transcripts are identical"};
    return false;
  }
  if (k == 0) {
    bad = {"no_context", "no shared context: chosen and rejected transcripts differ from the first turn"};
    return false;
  }
  // Everything after the shared turns must be the assistant's. Several assistant segments in a
  // row happen when a reply contains an inline "Human:" artifact or a repeated "Assistant:" marker;
  // they form one response, kept verbatim from the first one's start (nothing is dropped).
  const std::string* texts[2] = {&chosen, &rejected};
  std::vector<Segment>* segs[2] = {&sc, &sr};
  const char* names[2] = {"chosen", "rejected"};
  record.responses.resize(2);
  for (int s = 0; s < 2; ++s) {
    auto& v = *segs[s];
    if (k == v.size()) {
      bad = {"not_assistant", std::string(names[s]) + " has no turn after the shared context"};
      return false;
    }
    for (size_t i = k; i < v.size(); ++i) {
      if (v[i].role != Role::assistant) {
        bad = {"not_assistant", std::string(names[s]) +
                                    ": a Human turn follows the shared context; the transcript must end with "
                                    "the assistant's reply"};
        return false;
      }
    }
    std::string_view rest = std::string_view(*texts[s]).substr(v[k].begin);
    std::string_view trimmed = text::trim(rest);
    record.responses[s].content.assign(trimmed.data(), trimmed.size());
  }
  record.context.clear();
  for (size_t i = 0; i < k; ++i) {
    std::string_view c = content(chosen, sc[i]);
    record.context.push_back({sc[i].role, std::string(c)});
  }
  return true;
}

// ---- formats ---------------------------------------------------------------------------------

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
  bad = wrong_type(field, "string or list of messages", e);
  return false;
}

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
    bad = wrong_type("prompt", "string or list of messages", pe);
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

bool parse_rmb_answer(element e, std::string_view field, Response& out, Bad& bad) {
  if (!e.is_object()) {
    bad = wrong_type(field, "object with llm_name and answer", e);
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

// ---- canonical -------------------------------------------------------------------------------

bool only_keys(object obj, std::initializer_list<std::string_view> allowed, std::string_view where,
               Bad& bad) {
  for (auto field : obj) {
    bool known = false;
    for (auto a : allowed) known |= field.key == a;
    if (!known) {
      bad = {"unknown_field", "unknown field '" + std::string(field.key) + "'" +
                                  (where.empty() ? "" : " in '" + std::string(where) + "'")};
      return false;
    }
  }
  return true;
}

bool parse_canonical_response(element e, std::string_view field, Response& out, Bad& bad) {
  if (!e.is_object()) {
    bad = wrong_type(field, "response object", e);
    return false;
  }
  object o = e.get_object().value_unsafe();
  if (!only_keys(o, {"content", "label", "rank", "model"}, field, bad)) return false;
  if (!get_string(o, "content", out.content, bad, true)) return false;
  if (!get_number(o, "label", out.label, bad)) return false;
  element rank;
  out.rank.reset();
  if (find(o, "rank", &rank) && !rank.is_null()) {
    if (!rank.is_int64()) {
      bad = wrong_type(std::string(field) + ".rank", "integer", rank);
      return false;
    }
    out.rank = rank.get_int64().value_unsafe();
  }
  return get_string(o, "model", out.model, bad, false);
}

bool convert_canonical(object obj, Record& record, Bad& bad) {
  if (!only_keys(obj,
                 {"id", "kind", "source", "split", "context", "chosen", "rejected", "responses", "margin",
                  "attributes", "provenance"},
                 "", bad))
    return false;
  std::string kind;
  if (!get_string(obj, "kind", kind, bad, true)) return false;
  if (kind == "pair") {
    record.kind = RecordKind::pair;
  } else if (kind == "response_set") {
    record.kind = RecordKind::response_set;
  } else {
    bad = {"type", "field 'kind': expected \"pair\" or \"response_set\", got \"" + kind + "\""};
    return false;
  }
  if (!get_id(obj, "id", record.id, bad) || !get_string(obj, "source", record.source, bad, false) ||
      !get_string(obj, "split", record.split, bad, false) || !get_number(obj, "margin", record.margin, bad))
    return false;
  element ctx;
  if (!find(obj, "context", &ctx)) {
    bad = {"missing_field", "missing required field 'context'"};
    return false;
  }
  if (!parse_messages(ctx, "context", record.context, bad)) return false;
  if (record.kind == RecordKind::pair) {
    element c, r, extra;
    if (find(obj, "responses", &extra)) {
      bad = {"unknown_field", "a pair has 'chosen' and 'rejected', not 'responses'"};
      return false;
    }
    if (!find(obj, "chosen", &c) || !find(obj, "rejected", &r)) {
      bad = {"missing_field", "a pair needs 'chosen' and 'rejected'"};
      return false;
    }
    record.responses.resize(2);
    if (!parse_canonical_response(c, "chosen", record.responses[0], bad) ||
        !parse_canonical_response(r, "rejected", record.responses[1], bad))
      return false;
  } else {
    element rs, extra;
    if (find(obj, "chosen", &extra) || find(obj, "rejected", &extra)) {
      bad = {"unknown_field", "a response_set has 'responses', not 'chosen'/'rejected'"};
      return false;
    }
    if (!find(obj, "responses", &rs) || !rs.is_array()) {
      bad = {"missing_field", "a response_set needs a 'responses' array"};
      return false;
    }
    record.responses.clear();
    size_t idx = 0;
    simdjson::dom::array rs_arr = rs.get_array().value_unsafe();
    for (element e : rs_arr) {
      record.responses.emplace_back();
      if (!parse_canonical_response(e, "responses[" + std::to_string(idx++) + "]", record.responses.back(),
                                    bad))
        return false;
    }
  }
  element attrs;
  if (find(obj, "attributes", &attrs) && !attrs.is_null()) {
    if (!attrs.is_object()) {
      bad = wrong_type("attributes", "object", attrs);
      return false;
    }
    object a = attrs.get_object().value_unsafe();
    if (!only_keys(a,
                   {"task_category", "objectivity", "controversiality", "desired_attributes",
                    "annotation_guideline"},
                   "attributes", bad) ||
        !get_string(a, "task_category", record.attributes.task_category, bad, false) ||
        !get_string(a, "objectivity", record.attributes.objectivity, bad, false) ||
        !get_string(a, "controversiality", record.attributes.controversiality, bad, false) ||
        !get_string(a, "desired_attributes", record.attributes.desired_attributes, bad, false) ||
        !get_string(a, "annotation_guideline", record.attributes.annotation_guideline, bad, false))
      return false;
  }
  element prov;
  if (find(obj, "provenance", &prov) && !prov.is_null()) {
    if (!prov.is_object()) {
      bad = wrong_type("provenance", "object", prov);
      return false;
    }
    object p = prov.get_object().value_unsafe();
    std::optional<double> confidence;
    if (!only_keys(p, {"source", "annotator", "judge", "confidence", "time"}, "provenance", bad) ||
        !get_string(p, "source", record.provenance.source, bad, false) ||
        !get_string(p, "annotator", record.provenance.annotator, bad, false) ||
        !get_string(p, "judge", record.provenance.judge, bad, false) ||
        !get_number(p, "confidence", confidence, bad) ||
        !get_string(p, "time", record.provenance.time, bad, false))
      return false;
    record.provenance.confidence = confidence.value_or(std::nan(""));
    const std::string& s = record.provenance.source;
    if (!(s.empty() || s == "original" || s == "human" || s == "llm_judge" || s == "model")) {
      bad = {"type",
             "field 'provenance.source': expected original, human, llm_judge or model, got \"" + s + "\""};
      return false;
    }
  }
  return true;
}

// Detects the format of one record from its keys.
Format detect(object obj) {
  element e, c;
  if (find(obj, "kind", &e) && find(obj, "context", &e)) return Format::canonical;
  if (find(obj, "conversation_input", &e)) return Format::rmb;
  if (find(obj, "prompt", &e) && find(obj, "chosen", &c)) return Format::prompt;
  if (find(obj, "chosen", &c) && find(obj, "rejected", &e)) {
    if (c.is_array()) return Format::chat;
    if (c.is_string()) {
      std::string_view s = c.get_string().value_unsafe();
      if (s.rfind("\n\nHuman:", 0) == 0 || s.rfind("Human:", 0) == 0) return Format::hh;
      return Format::auto_detect;
    }
  }
  return Format::auto_detect;
}

// Checks shared by every format, after conversion.
bool validate(Record& record, Format format, EmptyPolicy policy, Bad& bad, bool* kept_empty) {
  if (record.context.empty()) {
    bad = {"no_context", "no shared context: the conversation before the responses is empty"};
    return false;
  }
  if (record.kind == RecordKind::pair && record.responses.size() != 2) {
    bad = {"count", "a pair needs exactly 2 responses"};
    return false;
  }
  if (record.responses.empty()) {
    bad = {"count", "a response set needs at least 1 response"};
    return false;
  }
  bool keep_empty = policy == EmptyPolicy::keep || (policy == EmptyPolicy::auto_detect &&
                                                    (format == Format::hh || format == Format::canonical));
  for (size_t idx = 0; idx < record.responses.size(); ++idx) {
    if (!text::trim(record.responses[idx].content).empty()) continue;
    if (keep_empty) {
      if (kept_empty) *kept_empty = true;
      continue;
    }
    std::string which = record.kind == RecordKind::pair ? (idx == 0 ? "chosen" : "rejected")
                                                        : "responses[" + std::to_string(idx) + "]";
    bad = {"empty_response", which + " response is empty (or only whitespace)"};
    return false;
  }
  if (record.kind == RecordKind::pair &&
      text::trim(record.responses[0].content) == text::trim(record.responses[1].content)) {
    bad = {"identical_responses", "chosen and rejected responses are identical"};
    return false;
  }
  return true;
}

bool convert(element root, const ReadOptions& options, Record& record, Bad& bad, bool* kept_empty) {
  record.clear();
  if (!root.is_object()) {
    bad = {"type", std::string("record must be a JSON object, got ") + type_name(root.type())};
    return false;
  }
  object obj = root.get_object().value_unsafe();
  Format format = options.format == Format::auto_detect ? detect(obj) : options.format;
  bool ok = false;
  switch (format) {
    case Format::canonical:
      ok = convert_canonical(obj, record, bad);
      break;
    case Format::chat:
      ok = convert_chat(obj, record, bad);
      break;
    case Format::prompt:
      ok = convert_prompt(obj, record, bad);
      break;
    case Format::hh:
      ok = convert_hh(obj, record, bad);
      break;
    case Format::rmb:
      ok = convert_rmb(obj, record, bad);
      break;
    case Format::auto_detect:
      bad = {"unknown_format",
             "unrecognized record: expected canonical (kind, context), chat/hh (chosen, rejected), "
             "prompt (prompt, chosen, rejected) or RMB (conversation_input) keys; use --format to force one"};
      return false;
  }
  if (!ok) return false;
  if (format != Format::canonical) {
    // Common metadata of source formats.
    if (record.id.empty() && !get_id(obj, "id", record.id, bad)) return false;
    element e;
    if (find(obj, "source", &e) && e.is_string()) record.source = std::string(e.get_string().value_unsafe());
    if (!get_number(obj, "margin", record.margin, bad)) return false;
  }
  if (!validate(record, format, options.empty_responses, bad, kept_empty)) return false;
  if (record.source.empty()) record.source = options.source;
  if (record.id.empty()) record.id = default_id(record);
  return true;
}

std::string json_error_reason(simdjson::error_code code, std::string_view text) {
  if (code == simdjson::UTF8_ERROR) {
    size_t at = text::first_invalid_utf8(text);
    return "invalid UTF-8 at byte " + std::to_string(at == std::string_view::npos ? 0 : at) +
           " of the record";
  }
  return std::string("invalid JSON: ") + simdjson::error_message(code);
}

// ---- readers ---------------------------------------------------------------------------------

class ReaderBase : public RecordReader {
 protected:
  ReaderBase(std::string name, ReadOptions options) : name_(std::move(name)), options_(std::move(options)) {}

  // Parses text (followed by >= simdjson::SIMDJSON_PADDING readable bytes) as one record.
  Outcome handle(std::string_view text, uint64_t line_no, Record& record, Reject& reject) {
    last_line_ = line_no;
    auto doc = parser_.parse(text.data(), text.size(), false);
    Bad bad;
    bool kept_empty = false;
    if (doc.error()) {
      bad = {doc.error() == simdjson::UTF8_ERROR ? "utf8" : "json", json_error_reason(doc.error(), text)};
    } else if (convert(doc.value_unsafe(), options_, record, bad, &kept_empty)) {
      if (kept_empty) ++empty_kept_;
      return Outcome::record;
    }
    reject.file = name_;
    reject.line = line_no;
    reject.code = std::move(bad.code);
    reject.reason = std::move(bad.reason);
    reject.raw.assign(text.data(), std::min<size_t>(text.size(), 64 << 10));
    return Outcome::reject;
  }

  std::string name_;
  ReadOptions options_;
  simdjson::dom::parser parser_;
};

static_assert(io::LineReader::kPadding >= simdjson::SIMDJSON_PADDING, "line padding must cover simdjson's");

class JsonlReader final : public ReaderBase {
 public:
  JsonlReader(std::unique_ptr<io::ByteSource> source, ReadOptions options)
      : ReaderBase(source->name(), std::move(options)), lines_(std::move(source), options_.max_line_bytes) {}

  Result<Outcome> next(Record& record, Reject& reject) override {
    for (;;) {
      SP_ASSIGN_OR_RETURN(io::LineReader::Line line, lines_.next());
      if (line.kind == io::LineReader::Kind::eof) return Outcome::end;
      if (line.kind == io::LineReader::Kind::too_long) {
        reject = {name_, line.line_no, "too_long",
                  "line is " + std::to_string(line.length) + " bytes, over the limit of " +
                      std::to_string(options_.max_line_bytes) + " (--max-line-bytes)",
                  ""};
        return Outcome::reject;
      }
      if (text::trim(line.text).empty()) continue;  // blank lines are not records
      return handle(line.text, line.line_no, record, reject);
    }
  }
  uint64_t raw_position() const override { return lines_.source().raw_position(); }
  uint64_t raw_size() const override { return lines_.source().raw_size(); }

 private:
  io::LineReader lines_;
};

// A file holding one JSON array of records. Elements are found by a bracket scanner (strings and
// escapes aware) so one malformed element is rejected alone, with its line number.
class ArrayReader final : public ReaderBase {
 public:
  ArrayReader(std::string name, std::string data, ReadOptions options)
      : ReaderBase(std::move(name), std::move(options)), data_(std::move(data)) {
    raw_size_ = data_.size();
    data_.append(simdjson::SIMDJSON_PADDING, '\0');
    end_ = raw_size_;
    pos_ = data_.find('[');  // the caller checked it is the first non-space byte
    SP_CHECK(pos_ != std::string::npos);
    ++pos_;
  }

  Result<Outcome> next(Record& record, Reject& reject) override {
    if (done_) return Outcome::end;
    skip_space_and(',');
    if (pos_ >= end_) return data_error(name_ + ": unterminated JSON array (missing ']')");
    if (data_[pos_] == ']') {
      ++pos_;
      skip_space();
      if (pos_ < end_)
        return data_error(name_ + ":" + std::to_string(line_at(pos_)) +
                          ": unexpected text after the JSON array");
      done_ = true;
      return Outcome::end;
    }
    size_t begin = pos_;
    SP_ASSIGN_OR_RETURN(size_t stop, scan_value(begin));
    pos_ = stop;
    uint64_t line = line_at(begin);
    std::string_view text(data_.data() + begin, stop - begin);
    // simdjson needs padding after the text: copy the element when the next bytes are in use.
    element_.assign(text.data(), text.size());
    element_.append(simdjson::SIMDJSON_PADDING, '\0');
    return handle(std::string_view(element_.data(), text.size()), line, record, reject);
  }
  uint64_t raw_position() const override { return pos_; }
  uint64_t raw_size() const override { return raw_size_; }

 private:
  void skip_space() {
    while (pos_ < end_ &&
           (data_[pos_] == ' ' || data_[pos_] == '\n' || data_[pos_] == '\r' || data_[pos_] == '\t'))
      ++pos_;
  }
  void skip_space_and(char sep) {
    skip_space();
    if (pos_ < end_ && data_[pos_] == sep && started_) ++pos_;
    started_ = true;
    skip_space();
  }
  uint64_t line_at(size_t offset) {
    // Lines counted incrementally: offsets only move forward.
    for (; line_scan_ < offset; ++line_scan_) line_ += data_[line_scan_] == '\n';
    return line_;
  }
  // Returns the end offset of the JSON value starting at `begin` (an element of the array).
  Result<size_t> scan_value(size_t begin) {
    size_t i = begin;
    int depth = 0;
    bool in_string = false;
    for (; i < end_; ++i) {
      char c = data_[i];
      if (in_string) {
        if (c == '\\')
          ++i;
        else if (c == '"')
          in_string = false;
        continue;
      }
      if (c == '"')
        in_string = true;
      else if (c == '{' || c == '[')
        ++depth;
      else if (c == '}' || c == ']') {
        if (depth == 0) return i;  // the array's own ']' ends a scalar element
        if (--depth == 0) return i + 1;
      } else if (c == ',' && depth == 0)
        return i;
    }
    return data_error(name_ + ":" + std::to_string(line_at(begin)) +
                      ": JSON array element never ends (unbalanced brackets or an unterminated string)");
  }

  std::string data_;
  std::string element_;
  size_t pos_ = 0, end_ = 0, raw_size_ = 0, line_scan_ = 0;
  uint64_t line_ = 1;
  bool done_ = false, started_ = false;
};

// Replays bytes already read for detection, then continues with the source.
class PrefixedSource final : public io::ByteSource {
 public:
  PrefixedSource(std::string prefix, std::unique_ptr<io::ByteSource> inner)
      : prefix_(std::move(prefix)), inner_(std::move(inner)) {}
  Result<size_t> read(char* dst, size_t cap) override {
    if (pos_ < prefix_.size()) {
      size_t n = std::min(cap, prefix_.size() - pos_);
      std::memcpy(dst, prefix_.data() + pos_, n);
      pos_ += n;
      return n;
    }
    return inner_->read(dst, cap);
  }
  uint64_t raw_position() const override { return inner_->raw_position(); }
  uint64_t raw_size() const override { return inner_->raw_size(); }
  const std::string& name() const override { return inner_->name(); }

 private:
  std::string prefix_;
  size_t pos_ = 0;
  std::unique_ptr<io::ByteSource> inner_;
};

}  // namespace

bool parse_record_json(std::string_view json_text, const ReadOptions& options, Record& record,
                       std::string& code, std::string& reason, bool* kept_empty) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json_text);
  auto doc = parser.parse(padded);
  Bad bad;
  if (doc.error()) {
    bad = {doc.error() == simdjson::UTF8_ERROR ? "utf8" : "json", json_error_reason(doc.error(), json_text)};
  } else if (convert(doc.value_unsafe(), options, record, bad, kept_empty)) {
    return true;
  }
  code = std::move(bad.code);
  reason = std::move(bad.reason);
  return false;
}

Result<std::unique_ptr<RecordReader>> RecordReader::from_source(std::unique_ptr<io::ByteSource> source,
                                                                const ReadOptions& options) {
  // Look at the first non-space byte: '[' means one JSON array, anything else JSONL.
  std::string head;
  char buf[4096];
  char first = 0;
  while (first == 0) {
    SP_ASSIGN_OR_RETURN(size_t n, source->read(buf, sizeof buf));
    if (n == 0) break;
    head.append(buf, n);
    for (char c : std::string_view(buf, n)) {
      if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
        first = c;
        break;
      }
    }
  }
  std::string name = source->name();
  if (first == '[') {
    std::string data = std::move(head);
    for (;;) {
      SP_ASSIGN_OR_RETURN(size_t n, source->read(buf, sizeof buf));
      if (n == 0) break;
      data.append(buf, n);
      if (data.size() > options.max_array_file_bytes) {
        return data_error(name + ": JSON array file is larger than " +
                          std::to_string(options.max_array_file_bytes) +
                          " bytes; convert it to JSONL (one record per line) to stream it");
      }
    }
    return std::unique_ptr<RecordReader>(new ArrayReader(name, std::move(data), options));
  }
  auto prefixed = std::make_unique<PrefixedSource>(std::move(head), std::move(source));
  return std::unique_ptr<RecordReader>(new JsonlReader(std::move(prefixed), options));
}

Result<std::unique_ptr<RecordReader>> RecordReader::open(const std::string& path,
                                                         const ReadOptions& options) {
  SP_ASSIGN_OR_RETURN(auto source, io::open_source(path));
  return from_source(std::move(source), options);
}

}  // namespace synpref::data
