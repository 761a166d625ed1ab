// The generic load path: walks the data files, hands each to the registered benchmark's loader,
// and collects items with unique ids and hashed files (DatasetBuilder).
#include "eval/load.h"

#include <optional>

#include "eval/registry.h"
#include "eval/sha256.h"

namespace synpref::eval {

using simdjson::dom::element_type;

namespace {

std::optional<data::Role> role_from(std::string_view name) {
  if (name == "user" || name == "human") return data::Role::user;
  if (name == "assistant" || name == "gpt" || name == "bot" || name == "model") return data::Role::assistant;
  if (name == "system") return data::Role::system;
  return std::nullopt;
}

}  // namespace

Result<std::vector<data::Turn>> read_context(simdjson::dom::object obj, std::string_view key,
                                             const RecordWhere& where, std::string_view what) {
  simdjson::dom::element value;
  if (obj.at_key(key).get(value) != simdjson::SUCCESS) {
    return located(where, "missing field '" + std::string(key) + "' (" + std::string(what) + ")");
  }
  std::vector<data::Turn> turns;
  if (value.type() == element_type::STRING) {
    turns.push_back({data::Role::user, std::string(value.get_string().value_unsafe())});
    return turns;
  }
  if (value.type() != element_type::ARRAY) {
    return located(where,
                   "field '" + std::string(key) + "' must be a string or a list of {role, content} messages");
  }
  size_t index = 0;
  simdjson::dom::array messages = value.get_array().value_unsafe();
  for (simdjson::dom::element message : messages) {
    std::string at = std::string(key) + "[" + std::to_string(index++) + "]";
    if (message.type() != element_type::OBJECT)
      return located(where, at + " must be a {role, content} object");
    simdjson::dom::object m = message.get_object().value_unsafe();
    SP_ASSIGN_OR_RETURN(std::string_view role_name, get_string(m, "role", where, at));
    SP_ASSIGN_OR_RETURN(std::string_view content, get_string(m, "content", where, at));
    auto role = role_from(role_name);
    if (!role)
      return located(where, at + ".role '" + std::string(role_name) + "' is not user, assistant or system");
    turns.push_back({*role, std::string(content)});
  }
  if (turns.empty()) return located(where, "field '" + std::string(key) + "' is an empty conversation");
  return turns;
}

Status DatasetBuilder::begin_file(const std::string& path) {
  SP_ASSIGN_OR_RETURN(FileHashes hashes, hash_file(path));
  DataFile file;
  file.path = path;
  file.bytes = hashes.bytes;
  file.sha256 = hashes.sha256;
  file.xxh3_128 = hashes.xxh3_128;
  dataset_.files.push_back(std::move(file));
  return Status::ok();
}

Status DatasetBuilder::add(Item item, const RecordWhere& where) {
  SP_CHECK(!dataset_.files.empty());
  item.file_index = uint32_t(dataset_.files.size() - 1);
  item.record_no = where.record_no;
  auto [it, inserted] = first_seen_.try_emplace(item.id, where.str());
  if (!inserted) {
    return data_error(where.str() + ": duplicate item id '" + item.id + "' (first at " + it->second +
                      "); ids must be unique because the --scores file is keyed by them");
  }
  dataset_.files.back().n_items++;
  dataset_.items.push_back(std::move(item));
  return Status::ok();
}

void DatasetBuilder::exclude(const std::string& reason) {
  dataset_.n_excluded++;
  dataset_.excluded_reason = reason;
}

Result<Dataset> DatasetBuilder::finish(const std::string& path) {
  if (dataset_.items.empty()) {
    return data_error(path + ": no " + dataset_.benchmark + " items found");
  }
  return std::move(dataset_);
}

std::string_view Item::tag(std::string_view name) const {
  for (const auto& [key, value] : tags) {
    if (key == name) return value;
  }
  return {};
}

Result<Dataset> load_benchmark(std::string_view benchmark, const std::string& path,
                               const LoadOptions& options) {
  const BenchmarkSpec* spec = find_spec(benchmark);
  if (spec == nullptr) {
    return invalid_argument("benchmark '" + std::string(benchmark) + "' is not one of: " + benchmark_names());
  }
  if (options.llmbar && spec->load_variant == nullptr) {
    return invalid_argument("option llmbar does not apply to benchmark " + std::string(spec->name));
  }
  SP_ASSIGN_OR_RETURN(std::vector<std::string> files, list_data_files(path));
  DatasetBuilder builder{std::string(spec->name)};
  if (options.llmbar) {
    SP_RETURN_IF_ERROR(spec->load_variant(builder, path, files, options));
    return builder.finish(path);
  }
  for (const auto& file : files) {
    SP_RETURN_IF_ERROR(builder.begin_file(file));
    SP_RETURN_IF_ERROR(spec->load_file(builder, file));
  }
  return builder.finish(path);
}

}  // namespace synpref::eval
