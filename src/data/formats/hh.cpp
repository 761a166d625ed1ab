// hh: Anthropic hh-rlhf transcripts "\n\nHuman: ...\n\nAssistant: ...".
#include "data/formats/formats.h"

#include "synpref/common/text.h"

namespace synpref::data::formats {

namespace {

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

}  // namespace

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

}  // namespace synpref::data::formats
