// Loaders for the seven benchmarks' released formats (field names as published; see
// docs/EVAL.md for the source of each and the response order).
#include <algorithm>
#include <filesystem>
#include <unordered_map>

#include "common/json.h"
#include "eval/sha256.h"
#include "synpref/eval/benchmark.h"

namespace synpref::eval {

using namespace synpref::json;
namespace fs = std::filesystem;
using simdjson::dom::element_type;

namespace {

struct BenchmarkInfo {
  Benchmark benchmark;
  std::string_view name;
  std::string_view column;
};

constexpr BenchmarkInfo kBenchmarks[] = {
    {Benchmark::rewardbench, "rewardbench", "RB v1"},
    {Benchmark::rewardbench2, "rewardbench2", "RB v2"},
    {Benchmark::ppe_preference, "ppe-preference", "PPE Pref"},
    {Benchmark::ppe_correctness, "ppe-correctness", "PPE Corr"},
    {Benchmark::rmb, "rmb", "RMB"},
    {Benchmark::rm_bench, "rm-bench", "RM-Bench"},
    {Benchmark::judgebench, "judgebench", "JudgeBench"},
};

std::optional<data::Role> role_from(std::string_view name) {
  if (name == "user" || name == "human") return data::Role::user;
  if (name == "assistant" || name == "gpt" || name == "bot" || name == "model") return data::Role::assistant;
  if (name == "system") return data::Role::system;
  return std::nullopt;
}

// A prompt given as a string (one user turn) or as a list of {role, content} messages.
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

// Collects items and files; enforces unique ids.
class Builder {
 public:
  explicit Builder(Benchmark benchmark) { dataset_.benchmark = benchmark; }

  Status begin_file(const std::string& path) {
    SP_ASSIGN_OR_RETURN(FileHashes hashes, hash_file(path));
    DataFile file;
    file.path = path;
    file.bytes = hashes.bytes;
    file.sha256 = hashes.sha256;
    file.xxh3_128 = hashes.xxh3_128;
    dataset_.files.push_back(std::move(file));
    return Status::ok();
  }

  Status add(Item item, const RecordWhere& where) {
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

  void exclude(const std::string& reason) {
    dataset_.n_excluded++;
    dataset_.excluded_reason = reason;
  }

  Result<Dataset> finish(const std::string& path) {
    if (dataset_.items.empty()) {
      return data_error(path + ": no " + std::string(benchmark_name(dataset_.benchmark)) + " items found");
    }
    return std::move(dataset_);
  }

 private:
  Dataset dataset_;
  std::unordered_map<std::string, std::string> first_seen_;
};

// ---- RewardBench v1 (allenai/reward-bench, split "filtered"; pref-test-sets) ----------------

constexpr std::string_view kRb1 = "RewardBench v1 record: prompt, chosen, rejected, subset, id";

Status load_rewardbench_file(Builder& builder, const std::string& path) {
  return for_each_record(path, [&](simdjson::dom::object obj, const RecordWhere& where) -> Status {
    if (has_field(obj, "output_1") && has_field(obj, "label") && !has_field(obj, "chosen")) {
      return located(
          where, "this is an LLMBar record (input, output_1, output_2, label); load LLMBar with --llmbar");
    }
    Item item;
    SP_ASSIGN_OR_RETURN(item.id, get_id(obj, "id", where, kRb1));
    SP_ASSIGN_OR_RETURN(item.context, read_context(obj, "prompt", where, kRb1));
    SP_ASSIGN_OR_RETURN(std::string_view subset, get_string(obj, "subset", where, kRb1));
    SP_ASSIGN_OR_RETURN(std::string_view chosen, get_string(obj, "chosen", where, kRb1));
    SP_ASSIGN_OR_RETURN(std::string_view rejected, get_string(obj, "rejected", where, kRb1));
    item.subset = std::string(subset);
    item.responses = {std::string(chosen), std::string(rejected)};
    item.n_chosen = 1;
    return builder.add(std::move(item), where);
  });
}

// LLMBar/<set>/dataset.json -> RewardBench subset name, or "" for folders RewardBench does not use.
std::string llmbar_subset(const fs::path& file) {
  std::vector<std::string> parts;
  for (const auto& part : file.parent_path()) parts.push_back(part.string());
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (parts[i] != "LLMBar") continue;
    if (parts[i + 1] == "Natural" && i + 2 == parts.size()) return "llmbar-natural";
    if (parts[i + 1] == "Adversarial" && i + 3 == parts.size()) {
      const std::string& set = parts[i + 2];
      if (set == "Neighbor") return "llmbar-adver-neighbor";
      if (set == "GPTInst") return "llmbar-adver-GPTInst";
      if (set == "GPTOut") return "llmbar-adver-GPTOut";
      if (set == "Manual") return "llmbar-adver-manual";
    }
  }
  return "";
}

constexpr std::string_view kLlmbar = "LLMBar record: input, output_1, output_2, label";

Status load_llmbar_file(Builder& builder, const std::string& path, const std::string& subset) {
  uint64_t index = 0;
  return for_each_record(path, [&](simdjson::dom::object obj, const RecordWhere& where) -> Status {
    Item item;
    item.id = subset + ":" + std::to_string(index++);
    item.subset = subset;
    SP_ASSIGN_OR_RETURN(item.context, read_context(obj, "input", where, kLlmbar));
    SP_ASSIGN_OR_RETURN(std::string_view output_1, get_string(obj, "output_1", where, kLlmbar));
    SP_ASSIGN_OR_RETURN(std::string_view output_2, get_string(obj, "output_2", where, kLlmbar));
    SP_ASSIGN_OR_RETURN(int64_t label, get_int(obj, "label", where, kLlmbar));
    if (label != 1 && label != 2)
      return located(where, "field 'label' must be 1 or 2, found " + std::to_string(label));
    if (label == 1) {
      item.responses = {std::string(output_1), std::string(output_2)};
    } else {
      item.responses = {std::string(output_2), std::string(output_1)};
    }
    item.n_chosen = 1;
    return builder.add(std::move(item), where);
  });
}

// ---- RewardBench 2 (allenai/reward-bench-2, split "test") ----------------------------------

constexpr std::string_view kRb2 =
    "RewardBench 2 record: id, prompt, chosen (list), rejected (list), num_correct, total_completions, "
    "subset";

bool is_ties_subset(std::string_view subset) {
  return subset.size() == 4 && (subset[0] == 'T' || subset[0] == 't') && subset.substr(1) == "ies";
}

Status load_rewardbench2_file(Builder& builder, const std::string& path) {
  return for_each_record(path, [&](simdjson::dom::object obj, const RecordWhere& where) -> Status {
    Item item;
    SP_ASSIGN_OR_RETURN(item.id, get_id(obj, "id", where, kRb2));
    SP_ASSIGN_OR_RETURN(item.context, read_context(obj, "prompt", where, kRb2));
    SP_ASSIGN_OR_RETURN(std::string_view subset, get_string(obj, "subset", where, kRb2));
    SP_ASSIGN_OR_RETURN(std::vector<std::string> chosen, get_string_array(obj, "chosen", where, kRb2));
    SP_ASSIGN_OR_RETURN(std::vector<std::string> rejected, get_string_array(obj, "rejected", where, kRb2));
    SP_ASSIGN_OR_RETURN(int64_t num_correct, get_int(obj, "num_correct", where, kRb2));
    if (num_correct != int64_t(chosen.size())) {
      return located(where, "num_correct is " + std::to_string(num_correct) + " but 'chosen' holds " +
                                std::to_string(chosen.size()) + " responses");
    }
    if (has_field(obj, "total_completions")) {
      SP_ASSIGN_OR_RETURN(int64_t total, get_int(obj, "total_completions", where, kRb2));
      if (total != int64_t(chosen.size() + rejected.size())) {
        return located(where, "total_completions is " + std::to_string(total) +
                                  " but chosen + rejected hold " +
                                  std::to_string(chosen.size() + rejected.size()));
      }
    }
    if (chosen.empty() || rejected.empty()) {
      return located(where, "needs at least one chosen and one rejected response");
    }
    if (is_ties_subset(subset)) {
      // The official Ties composite groups "ref:N" and "tied:N" items by N.
      size_t colon = item.id.find(':');
      std::string_view kind = std::string_view(item.id).substr(0, colon);
      bool numeric = colon != std::string::npos && colon + 1 < item.id.size() &&
                     item.id.size() - colon <= 19 &&
                     std::all_of(item.id.begin() + colon + 1, item.id.end(),
                                 [](char c) { return c >= '0' && c <= '9'; });
      if (!numeric || (kind != "ref" && kind != "tied")) {
        return located(where,
                       "Ties item id '" + item.id + "' must be 'ref:<n>' or 'tied:<n>' (official format)");
      }
      if (kind == "tied" && chosen.size() < 2) {
        return located(where,
                       "Ties item '" + item.id +
                           "' has one correct answer; the official composite needs >= 2 for tied prompts");
      }
    }
    item.subset = std::string(subset);
    item.n_chosen = int32_t(chosen.size());
    item.responses = std::move(chosen);
    for (auto& r : rejected) item.responses.push_back(std::move(r));
    return builder.add(std::move(item), where);
  });
}

// ---- PPE human preference (lmarena-ai/PPE-Human-Preference-V1) ------------------------------

constexpr std::string_view kPpePref =
    "PPE human-preference record: question_id, prompt, response_1, response_2, winner";

Status load_ppe_preference_file(Builder& builder, const std::string& path) {
  return for_each_record(path, [&](simdjson::dom::object obj, const RecordWhere& where) -> Status {
    Item item;
    SP_ASSIGN_OR_RETURN(item.id, get_id(obj, "question_id", where, kPpePref));
    SP_ASSIGN_OR_RETURN(std::string_view winner, get_string(obj, "winner", where, kPpePref));
    if (winner == "tie" || winner == "tie (bothbad)") {
      builder.exclude(
          "PPE human-preference records whose winner is a tie are excluded, as in PPE's accuracy");
      return Status::ok();
    }
    if (winner != "model_a" && winner != "model_b") {
      return located(where, "field 'winner' is '" + std::string(winner) +
                                "'; expected model_a, model_b, tie or tie (bothbad)");
    }
    item.label = winner == "model_a" ? 0 : 1;
    SP_ASSIGN_OR_RETURN(item.context, read_context(obj, "prompt", where, kPpePref));
    SP_ASSIGN_OR_RETURN(std::string_view r1, get_string(obj, "response_1", where, kPpePref));
    SP_ASSIGN_OR_RETURN(std::string_view r2, get_string(obj, "response_2", where, kPpePref));
    item.responses = {std::string(r1), std::string(r2)};
    item.subset = "all";
    SP_ASSIGN_OR_RETURN(auto language, get_optional_string(obj, "language", where, kPpePref));
    if (language) item.tags.emplace_back("language", std::string(*language));
    for (const char* flag : {"hard_prompt", "easy_prompt", "if_prompt", "math_prompt", "is_code"}) {
      simdjson::dom::element value;
      if (obj.at_key(flag).get(value) == simdjson::SUCCESS && value.type() == element_type::BOOL) {
        item.tags.emplace_back(flag, value.get_bool().value_unsafe() ? "true" : "false");
      }
    }
    return builder.add(std::move(item), where);
  });
}

// ---- PPE correctness (lmarena-ai/PPE-{MMLU-Pro,MATH,GPQA,MBPP-Plus,IFEval}-Best-of-K) --------

constexpr std::string_view kPpeCorr =
    "PPE correctness record: question_id, prompt, scores (list of bool), response_1..response_N";

// The correctness benchmark from the file name (the five PPE sets are separate datasets).
std::string ppe_benchmark_from_path(const std::string& path) {
  std::string name = fs::path(path).filename().string();
  std::string lower;
  for (char c : name) lower.push_back(char(std::tolower(static_cast<unsigned char>(c))));
  if (lower.find("mmlu") != std::string::npos) return "mmlu_pro";
  if (lower.find("gpqa") != std::string::npos) return "gpqa";
  if (lower.find("mbpp") != std::string::npos) return "mbpp_plus";
  if (lower.find("ifeval") != std::string::npos) return "ifeval";
  if (lower.find("math") != std::string::npos) return "math";
  size_t dot = name.find('.');
  return dot == std::string::npos ? name : name.substr(0, dot);
}

Status load_ppe_correctness_file(Builder& builder, const std::string& path) {
  std::string subset = ppe_benchmark_from_path(path);
  return for_each_record(path, [&](simdjson::dom::object obj, const RecordWhere& where) -> Status {
    Item item;
    SP_ASSIGN_OR_RETURN(item.id, get_id(obj, "question_id", where, kPpeCorr));
    SP_ASSIGN_OR_RETURN(auto model_name, get_optional_string(obj, "model_name", where, kPpeCorr));
    if (model_name) {
      // Each question is answered by several models, one record per (question, model).
      item.id += "|" + std::string(*model_name);
      item.tags.emplace_back("model_name", std::string(*model_name));
    }
    SP_ASSIGN_OR_RETURN(item.context, read_context(obj, "prompt", where, kPpeCorr));
    SP_ASSIGN_OR_RETURN(simdjson::dom::array labels, get_array(obj, "scores", where, kPpeCorr));
    for (simdjson::dom::element label : labels) {
      if (label.type() == element_type::BOOL) {
        item.correct.push_back(label.get_bool().value_unsafe() ? 1 : 0);
      } else if (label.type() == element_type::INT64 &&
                 (label.get_int64().value_unsafe() == 0 || label.get_int64().value_unsafe() == 1)) {
        item.correct.push_back(uint8_t(label.get_int64().value_unsafe()));
      } else {
        return located(where, "field 'scores' (correctness labels) must hold booleans");
      }
    }
    for (size_t k = 1; k <= item.correct.size(); ++k) {
      std::string key = "response_" + std::to_string(k);
      SP_ASSIGN_OR_RETURN(std::string_view response, get_string(obj, key, where, kPpeCorr));
      item.responses.emplace_back(response);
    }
    if (item.responses.size() < 2) return located(where, "needs at least two responses");
    if (has_field(obj, "response_" + std::to_string(item.correct.size() + 1))) {
      return located(where, "has more response_<k> fields than correctness labels in 'scores'");
    }
    item.subset = subset;
    return builder.add(std::move(item), where);
  });
}

// ---- RMB (Zhou-Zoey/RMB-Reward-Model-Benchmark, RMB_dataset/) -------------------------------

constexpr std::string_view kRmb =
    "RMB record: pair_uid + chosen + reject, or bon_uid + bon_best + loser_list; conversation_input";

Result<std::string> rmb_answer(simdjson::dom::object obj, std::string_view key, const RecordWhere& where) {
  SP_ASSIGN_OR_RETURN(simdjson::dom::object answer, get_object(obj, key, where, kRmb));
  SP_ASSIGN_OR_RETURN(std::string_view text,
                      get_string(answer, "answer", where, std::string(key) + " {llm_name, answer}"));
  return std::string(text);
}

// "Helpfulness"/"Harmlessness" from the category_path, else from the file path.
std::string rmb_goal(std::string_view category_path, const std::string& file) {
  for (std::string_view goal : {"Helpfulness", "Harmlessness"}) {
    if (category_path.find(goal) != std::string_view::npos) return std::string(goal);
  }
  for (const auto& part : fs::path(file)) {
    if (part == "Helpfulness" || part == "Harmlessness") return part.string();
  }
  return "";
}

Status load_rmb_file(Builder& builder, const std::string& path) {
  return for_each_record(path, [&](simdjson::dom::object obj, const RecordWhere& where) -> Status {
    Item item;
    bool bon = has_field(obj, "bon_uid");
    SP_ASSIGN_OR_RETURN(item.id, get_id(obj, bon ? "bon_uid" : "pair_uid", where, kRmb));
    SP_ASSIGN_OR_RETURN(item.context, read_context(obj, "conversation_input", where, kRmb));
    SP_ASSIGN_OR_RETURN(auto category_path, get_optional_string(obj, "category_path", where, kRmb));
    std::string cp = category_path ? std::string(*category_path) : "";
    std::string goal = rmb_goal(cp, path);
    if (goal.empty()) {
      return located(where,
                     "cannot tell Helpfulness from Harmlessness: neither category_path nor the file path "
                     "names one (keep RMB_dataset's folder layout)");
    }
    if (bon) {
      SP_ASSIGN_OR_RETURN(std::string best, rmb_answer(obj, "bon_best", where));
      item.responses.push_back(std::move(best));
      SP_ASSIGN_OR_RETURN(simdjson::dom::array losers, get_array(obj, "loser_list", where, kRmb));
      size_t index = 0;
      for (simdjson::dom::element loser : losers) {
        std::string at = "loser_list[" + std::to_string(index++) + "]";
        if (loser.type() != element_type::OBJECT)
          return located(where, at + " must be an {llm_name, answer} object");
        SP_ASSIGN_OR_RETURN(std::string_view text,
                            get_string(loser.get_object().value_unsafe(), "answer", where, at));
        item.responses.emplace_back(text);
      }
      if (item.responses.size() < 2) return located(where, "loser_list is empty");
    } else {
      SP_ASSIGN_OR_RETURN(std::string chosen, rmb_answer(obj, "chosen", where));
      SP_ASSIGN_OR_RETURN(std::string reject, rmb_answer(obj, "reject", where));
      item.responses = {std::move(chosen), std::move(reject)};
    }
    item.n_chosen = 1;
    item.subset = goal + (bon ? "/BoN" : "/Pairwise");
    // The scenario: category_path after "<set>/<goal>/", e.g. "Chat/Discussion" or "S1".
    std::string scenario = cp;
    size_t at = cp.find(goal + "/");
    if (at != std::string::npos) scenario = cp.substr(at + goal.size() + 1);
    item.tags.emplace_back("scenario", scenario);
    item.tags.emplace_back("category_path", cp);
    return builder.add(std::move(item), where);
  });
}

// ---- RM-Bench (THU-KEG/RM-Bench, data/*.json) -----------------------------------------------

constexpr std::string_view kRmBench = "RM-Bench record: id, prompt, chosen[3], rejected[3], domain";

bool is_rm_bench_domain(std::string_view d) {
  return d == "chat" || d == "code" || d == "math" || d == "safety-refuse" || d == "safety-response";
}

Status load_rm_bench_file(Builder& builder, const std::string& path) {
  // The per-domain files carry no domain field: it is the file name ("chat_filtered.json").
  std::string stem = fs::path(path).filename().string();
  stem = stem.substr(0, stem.find('.'));
  size_t cut = stem.find("_filtered");
  std::string file_domain = cut == std::string::npos ? stem : stem.substr(0, cut);
  return for_each_record(path, [&](simdjson::dom::object obj, const RecordWhere& where) -> Status {
    Item item;
    SP_ASSIGN_OR_RETURN(std::string id, get_id(obj, "id", where, kRmBench));
    SP_ASSIGN_OR_RETURN(auto domain_field, get_optional_string(obj, "domain", where, kRmBench));
    std::string domain = domain_field ? std::string(*domain_field) : file_domain;
    if (!is_rm_bench_domain(domain)) {
      return located(where, "domain '" + domain +
                                "' (from the 'domain' field or the file name) is not chat, code, math, "
                                "safety-refuse or safety-response");
    }
    // Released ids repeat across domain files (23 chat/code collisions): the key adds the domain.
    item.id = domain + ":" + id;
    item.subset = domain;
    SP_ASSIGN_OR_RETURN(item.context, read_context(obj, "prompt", where, kRmBench));
    SP_ASSIGN_OR_RETURN(std::vector<std::string> chosen, get_string_array(obj, "chosen", where, kRmBench));
    SP_ASSIGN_OR_RETURN(std::vector<std::string> rejected,
                        get_string_array(obj, "rejected", where, kRmBench));
    if (chosen.size() != 3 || rejected.size() != 3) {
      return located(where,
                     "chosen and rejected must each hold 3 responses (concise, detailed plain, detailed "
                     "markdown); found " +
                         std::to_string(chosen.size()) + " and " + std::to_string(rejected.size()));
    }
    SP_ASSIGN_OR_RETURN(auto source, get_optional_string(obj, "subset", where, kRmBench));
    if (source) item.tags.emplace_back("source", std::string(*source));
    item.n_chosen = 3;
    item.responses = std::move(chosen);
    for (auto& r : rejected) item.responses.push_back(std::move(r));
    return builder.add(std::move(item), where);
  });
}

// ---- JudgeBench (ScalerLab/JudgeBench, data/*.jsonl) ----------------------------------------

constexpr std::string_view kJudge =
    "JudgeBench record: pair_id, source, question, response_A, response_B, label";

Status load_judgebench_file(Builder& builder, const std::string& path) {
  return for_each_record(path, [&](simdjson::dom::object obj, const RecordWhere& where) -> Status {
    Item item;
    SP_ASSIGN_OR_RETURN(item.id, get_id(obj, "pair_id", where, kJudge));
    SP_ASSIGN_OR_RETURN(std::string_view source, get_string(obj, "source", where, kJudge));
    SP_ASSIGN_OR_RETURN(item.context, read_context(obj, "question", where, kJudge));
    SP_ASSIGN_OR_RETURN(std::string_view a, get_string(obj, "response_A", where, kJudge));
    SP_ASSIGN_OR_RETURN(std::string_view b, get_string(obj, "response_B", where, kJudge));
    SP_ASSIGN_OR_RETURN(std::string_view label, get_string(obj, "label", where, kJudge));
    if (label != "A>B" && label != "B>A") {
      return located(where, "field 'label' is '" + std::string(label) + "'; expected \"A>B\" or \"B>A\"");
    }
    item.label = label == "A>B" ? 0 : 1;
    item.responses = {std::string(a), std::string(b)};
    item.subset = std::string(source);
    SP_ASSIGN_OR_RETURN(auto response_model, get_optional_string(obj, "response_model", where, kJudge));
    if (response_model) item.tags.emplace_back("response_model", std::string(*response_model));
    return builder.add(std::move(item), where);
  });
}

}  // namespace

std::string_view Item::tag(std::string_view name) const {
  for (const auto& [key, value] : tags) {
    if (key == name) return value;
  }
  return {};
}

std::string_view benchmark_name(Benchmark benchmark) {
  for (const auto& info : kBenchmarks) {
    if (info.benchmark == benchmark) return info.name;
  }
  SP_CHECK(false);
  return {};
}

std::string_view benchmark_column(Benchmark benchmark) {
  for (const auto& info : kBenchmarks) {
    if (info.benchmark == benchmark) return info.column;
  }
  SP_CHECK(false);
  return {};
}

std::optional<Benchmark> parse_benchmark(std::string_view name) {
  for (const auto& info : kBenchmarks) {
    if (info.name == name) return info.benchmark;
  }
  return std::nullopt;
}

const std::vector<Benchmark>& all_benchmarks() {
  static const std::vector<Benchmark> all = [] {
    std::vector<Benchmark> v;
    for (const auto& info : kBenchmarks) v.push_back(info.benchmark);
    return v;
  }();
  return all;
}

Result<Dataset> load_benchmark(Benchmark benchmark, const std::string& path, const LoadOptions& options) {
  if (options.llmbar && benchmark != Benchmark::rewardbench) {
    return invalid_argument("--llmbar applies to --benchmark rewardbench only");
  }
  SP_ASSIGN_OR_RETURN(std::vector<std::string> files, list_data_files(path));
  Builder builder(benchmark);
  if (options.llmbar) {
    size_t n_sets = 0;
    for (const auto& file : files) {
      std::string subset = llmbar_subset(fs::path(file));
      if (subset.empty()) continue;  // Processed/ and anything else RewardBench does not use
      ++n_sets;
      SP_RETURN_IF_ERROR(builder.begin_file(file));
      SP_RETURN_IF_ERROR(load_llmbar_file(builder, file, subset));
    }
    if (n_sets == 0) {
      return not_found(path +
                       ": no LLMBar/Natural or LLMBar/Adversarial/{Neighbor,GPTInst,GPTOut,Manual} "
                       "dataset files below this path");
    }
    return builder.finish(path);
  }
  for (const auto& file : files) {
    SP_RETURN_IF_ERROR(builder.begin_file(file));
    switch (benchmark) {
      case Benchmark::rewardbench:
        SP_RETURN_IF_ERROR(load_rewardbench_file(builder, file));
        break;
      case Benchmark::rewardbench2:
        SP_RETURN_IF_ERROR(load_rewardbench2_file(builder, file));
        break;
      case Benchmark::ppe_preference:
        SP_RETURN_IF_ERROR(load_ppe_preference_file(builder, file));
        break;
      case Benchmark::ppe_correctness:
        SP_RETURN_IF_ERROR(load_ppe_correctness_file(builder, file));
        break;
      case Benchmark::rmb:
        SP_RETURN_IF_ERROR(load_rmb_file(builder, file));
        break;
      case Benchmark::rm_bench:
        SP_RETURN_IF_ERROR(load_rm_bench_file(builder, file));
        break;
      case Benchmark::judgebench:
        SP_RETURN_IF_ERROR(load_judgebench_file(builder, file));
        break;
    }
  }
  return builder.finish(path);
}

}  // namespace synpref::eval
