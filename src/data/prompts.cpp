#include <simdjson.h>

#include "synpref/common/io.h"
#include "synpref/common/text.h"
#include "synpref/data/ops.h"

namespace synpref::data {

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Collects prompt texts from one benchmark record.
void collect(simdjson::dom::element e, std::vector<std::string_view>& out) {
  if (!e.is_object()) return;
  simdjson::dom::object obj = e.get_object().value_unsafe();
  for (const char* key : {"prompt", "question", "input", "instruction", "query"}) {
    auto v = obj.at_key(key);
    if (!v.error() && v.value_unsafe().is_string())
      out.push_back(v.value_unsafe().get_string().value_unsafe());
  }
  auto turns = obj.at_key("turns");
  if (!turns.error() && turns.value_unsafe().is_array()) {
    simdjson::dom::array arr = turns.value_unsafe().get_array().value_unsafe();
    for (auto t : arr)
      if (t.is_string()) out.push_back(t.get_string().value_unsafe());
  }
  for (const char* key : {"conversation_input", "context", "messages"}) {
    auto v = obj.at_key(key);
    if (v.error() || !v.value_unsafe().is_array()) continue;
    simdjson::dom::array arr = v.value_unsafe().get_array().value_unsafe();
    for (auto m : arr) {
      if (!m.is_object()) continue;
      auto role = m.get_object().value_unsafe().at_key("role");
      auto content = m.get_object().value_unsafe().at_key("content");
      if (role.error() || content.error() || !content.value_unsafe().is_string()) continue;
      if (role.value_unsafe().is_string() && role.value_unsafe().get_string().value_unsafe() == "user") {
        out.push_back(content.value_unsafe().get_string().value_unsafe());
      }
    }
  }
}

}  // namespace

Result<uint64_t> load_benchmark_prompts(const std::string& path, NgramIndex& index) {
  SP_ASSIGN_OR_RETURN(std::string data, io::read_file(path));
  uint64_t prompts = 0;
  std::string base = path;
  if (ends_with(path, ".gz") || ends_with(path, ".zst")) base = path.substr(0, path.rfind('.'));
  if (ends_with(base, ".txt")) {
    size_t line_no = 0, pos = 0;
    while (pos <= data.size()) {
      size_t nl = data.find('\n', pos);
      if (nl == std::string::npos) nl = data.size();
      ++line_no;
      std::string_view line = text::trim(std::string_view(data).substr(pos, nl - pos));
      if (!line.empty()) {
        if (!text::is_valid_utf8(line))
          return data_error(path + ":" + std::to_string(line_no) + ": invalid UTF-8");
        index.add(line, path + ":" + std::to_string(line_no));
        ++prompts;
      }
      pos = nl + 1;
    }
  } else {
    simdjson::dom::parser parser;
    std::vector<std::string_view> texts;
    std::string_view trimmed = text::trim(data);
    if (!trimmed.empty() && trimmed.front() == '[') {
      simdjson::padded_string padded(data);
      auto doc = parser.parse(padded);
      if (doc.error()) return data_error(path + ": invalid JSON: " + simdjson::error_message(doc.error()));
      if (!doc.value_unsafe().is_array()) return data_error(path + ": expected a JSON array");
      simdjson::dom::array arr = doc.value_unsafe().get_array().value_unsafe();
      size_t elem_idx = 0;
      for (auto e : arr) {
        ++elem_idx;
        texts.clear();
        collect(e, texts);
        for (auto t : texts) index.add(t, path + ": element " + std::to_string(elem_idx));
        prompts += texts.size();
      }
    } else {
      size_t line_no = 0, pos = 0;
      while (pos < data.size()) {
        size_t nl = data.find('\n', pos);
        if (nl == std::string::npos) nl = data.size();
        ++line_no;
        std::string_view line = std::string_view(data).substr(pos, nl - pos);
        pos = nl + 1;
        if (text::trim(line).empty()) continue;
        simdjson::padded_string padded(line);
        auto doc = parser.parse(padded);
        if (doc.error()) {
          return data_error(path + ":" + std::to_string(line_no) +
                            ": invalid JSON: " + simdjson::error_message(doc.error()));
        }
        texts.clear();
        collect(doc.value_unsafe(), texts);
        for (auto t : texts) index.add(t, path + ":" + std::to_string(line_no));
        prompts += texts.size();
      }
    }
  }
  if (prompts == 0) {
    return data_error(path +
                      ": no benchmark prompts found (expected .txt lines or JSON records with prompt, "
                      "question, input, instruction, query, turns or conversation_input)");
  }
  return prompts;
}

}  // namespace synpref::data
