// Benchmark prompts for decontamination: .txt lines, JSON/JSONL records, or folders of them.
#include <simdjson.h>

#include <filesystem>

#include "common/json.h"
#include "synpref/common/io.h"
#include "synpref/common/text.h"
#include "synpref/data/ops.h"

namespace synpref::data {

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Collects prompt texts from one benchmark record.
void collect(simdjson::dom::object obj, std::vector<std::string_view>& out) {
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

Result<uint64_t> load_text_prompts(const std::string& path, NgramIndex& index) {
  SP_ASSIGN_OR_RETURN(std::string data, io::read_file(path));
  uint64_t prompts = 0;
  size_t line_no = 0, pos = data.rfind("\xef\xbb\xbf", 0) == 0 ? 3 : 0;  // skip a UTF-8 byte-order mark
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
  return prompts;
}

// JSON array or JSON lines; each prompt is tagged "<file>:<line>" or "<file>: record <n>".
Result<uint64_t> load_json_prompts(const std::string& path, NgramIndex& index) {
  uint64_t prompts = 0;
  std::vector<std::string_view> texts;
  SP_RETURN_IF_ERROR(
      json::for_each_record(path, [&](simdjson::dom::object obj, const json::RecordWhere& where) {
        texts.clear();
        collect(obj, texts);
        const std::string tag = where.str();
        for (auto t : texts) index.add(t, tag);
        prompts += texts.size();
        return Status::ok();
      }));
  return prompts;
}

Result<uint64_t> load_prompt_file(const std::string& path, NgramIndex& index) {
  std::string base = path;
  if (ends_with(path, ".gz") || ends_with(path, ".zst")) base = path.substr(0, path.rfind('.'));
  return ends_with(base, ".txt") ? load_text_prompts(path, index) : load_json_prompts(path, index);
}

}  // namespace

Result<uint64_t> load_benchmark_prompts(const std::string& path, NgramIndex& index) {
  std::error_code ec;
  std::vector<std::string> files = {path};
  // A benchmark folder may also hold files without prompts (MT-Bench's reference answers): only
  // the folder as a whole must yield some.
  if (std::filesystem::is_directory(path, ec)) {
    SP_ASSIGN_OR_RETURN(files, json::list_data_files(path));
  }
  uint64_t prompts = 0;
  for (const std::string& file : files) {
    SP_ASSIGN_OR_RETURN(uint64_t n, load_prompt_file(file, index));
    prompts += n;
  }
  if (prompts == 0) {
    return data_error(path +
                      ": no benchmark prompts found (expected .txt lines or JSON records with prompt, "
                      "question, input, instruction, query, turns or conversation_input)");
  }
  return prompts;
}

}  // namespace synpref::data
