// canonical: synpref's own JSONL (docs/formats/canonical-jsonl.md); strict, unknown fields refused.
#include "data/formats/formats.h"

#include <cmath>

namespace synpref::data::formats {

namespace {

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
    bad = wrong_type(field, "a response object", e);
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
      bad = wrong_type(std::string(field) + ".rank", "an integer", rank);
      return false;
    }
    out.rank = rank.get_int64().value_unsafe();
  }
  return get_string(o, "model", out.model, bad, false);
}

}  // namespace

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
      bad = wrong_type("attributes", "an object", attrs);
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
      bad = wrong_type("provenance", "an object", prov);
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

}  // namespace synpref::data::formats
