// src/curate/step_attributes.cpp: run_attributes_step, a judge describes every pair without
// attributes, batch by batch; each batch's valid answers are one transaction.
#include <filesystem>
#include <set>

#include "synpref/common/io.h"
#include "synpref/common/text.h"
#include "synpref/curate/steps.h"

namespace synpref::curate {

namespace {

Result<const judge::Endpoint*> find_endpoint(const judge::Config& config, const std::string& name) {
  if (config.endpoints.empty()) return invalid_argument("the judge config has no endpoints");
  if (name.empty()) return &config.endpoints.front();
  for (const judge::Endpoint& endpoint : config.endpoints) {
    if (endpoint.name == name) return &endpoint;
  }
  return invalid_argument("judge '" + name + "' is not an endpoint of the judge config");
}

void append_reject(std::string& out, const std::string& pair_id, const std::string& judge,
                   const std::string& error, const std::string& answer) {
  out += "{\"id\":";
  text::append_json_string_lossy(out, pair_id);
  out += ",\"judge\":";
  text::append_json_string_lossy(out, judge);
  out += ",\"error\":";
  text::append_json_string_lossy(out, error);
  out += ",\"answer\":";
  text::append_json_string_lossy(out, answer.substr(0, 2000));
  out += "}\n";
}

struct AttributesBatch {
  std::vector<data::Record> pairs;
};

// Asks the judge about one batch and records the valid answers.
Status run_batch(Project& project, judge::Client& client, const judge::Endpoint& endpoint,
                 const CompiledPrompt& prompt, const AttributesStepOptions& options,
                 const AttributesBatch& batch, io::Writer& rejects, AttributesStepSummary& summary) {
  const std::string schema = endpoint.json_schema ? attributes_json_schema(options.taxonomy) : "";
  std::vector<judge::ChatRequest> requests;
  for (const data::Record& pair : batch.pairs) {
    bool swapped = candidate_swapped(options.seed, pair.id);
    SP_ASSIGN_OR_RETURN(auto messages, prompt.render(attributes_prompt_context(
                                           pair, swapped, options.taxonomy, endpoint.json_schema)));
    judge::ChatRequest request;
    request.endpoint = endpoint.name;
    for (auto& message : messages) request.messages.push_back({message.role, message.content});
    request.n = 1;
    request.temperature = 0;
    request.max_tokens = options.max_tokens;
    request.json_schema = schema;
    requests.push_back(std::move(request));
  }
  std::vector<judge::ChatResult> results = client.run(requests);
  std::vector<std::pair<std::string, data::Attributes>> valid;
  std::vector<Label> provenance;
  for (size_t i = 0; i < results.size(); ++i) {
    const std::string& id = batch.pairs[i].id;
    const judge::ChatResult& result = results[i];
    ++summary.requested;
    if (result.cached) ++summary.cached;
    if (!result.status.is_ok() || result.samples.empty()) {
      ++summary.failed;
      append_reject(rejects.buffer(), id, endpoint.name, "no answer: " + result.status.message(), "");
      continue;
    }
    auto attributes = parse_attributes(result.samples[0].content, options.taxonomy);
    if (!attributes.is_ok()) {
      ++summary.invalid;
      append_reject(rejects.buffer(), id, endpoint.name, attributes.status().message(),
                    result.samples[0].content);
      continue;
    }
    ++summary.valid;
    valid.emplace_back(id, std::move(attributes).value());
    Label label;
    label.pair_id = id;
    label.source = "llm_judge";
    label.annotator = endpoint.name;
    label.prompt_hash = result.prompt_hash;
    label.kind = "attribute";
    provenance.push_back(std::move(label));
  }
  rejects.maybe_flush();
  // Labels first: a kill between the two leaves the pair without attributes, so a rerun asks
  // again (from the cache) and re-adding the same label is a no-op.
  SP_RETURN_IF_ERROR(project.add_labels(provenance));
  return project.set_attributes(valid);
}

}  // namespace

Result<AttributesStepSummary> run_attributes_step(Project& project, judge::Client& client,
                                                  const AttributesStepOptions& options,
                                                  const StepProgress& progress) {
  if (options.batch_pairs < 1) return invalid_argument("batch_pairs must be >= 1");
  if (options.limit < 0) return invalid_argument("limit must be >= 0");
  SP_ASSIGN_OR_RETURN(const judge::Endpoint* endpoint, find_endpoint(client.config(), options.judge));
  SP_ASSIGN_OR_RETURN(CompiledPrompt prompt, CompiledPrompt::compile(options.prompt));

  AttributesStepSummary summary;
  summary.pairs = project.n_pairs();
  summary.rejects_path =
      options.rejects_path.empty() ? project.dir() + "/rejects-attributes.jsonl" : options.rejects_path;
  SP_ASSIGN_OR_RETURN(auto existing, project.attributes());
  std::set<std::string> done;
  for (const auto& [id, attributes] : existing) {
    if (!attributes.annotation_guideline.empty()) done.insert(id);
  }
  summary.already_done = static_cast<int64_t>(done.size());
  SP_ASSIGN_OR_RETURN(auto rejects, io::Writer::open(summary.rejects_path));

  const judge::Usage before = client.usage();
  AttributesBatch batch;
  int64_t selected = 0;
  const size_t total = static_cast<size_t>(summary.pairs - summary.already_done);
  size_t finished = 0;
  auto flush = [&]() -> Status {
    if (batch.pairs.empty()) return Status::ok();
    SP_RETURN_IF_ERROR(run_batch(project, client, *endpoint, prompt, options, batch, *rejects, summary));
    finished += batch.pairs.size();
    batch.pairs.clear();
    if (progress) progress(finished, total);
    return Status::ok();
  };
  SP_RETURN_IF_ERROR(project.for_each_pair([&](int64_t, const data::Record& record) -> Status {
    if (done.count(record.id)) return Status::ok();
    if (options.limit && selected >= options.limit) return Status::ok();
    ++selected;
    batch.pairs.push_back(record);
    if (static_cast<int64_t>(batch.pairs.size()) >= options.batch_pairs) return flush();
    return Status::ok();
  }));
  SP_RETURN_IF_ERROR(flush());
  SP_RETURN_IF_ERROR(rejects->close());
  if (summary.invalid + summary.failed == 0) {
    std::error_code ec;
    std::filesystem::remove(summary.rejects_path, ec);
    summary.rejects_path.clear();
  }
  judge::Usage after = client.usage();
  summary.usage = {after.requests - before.requests,
                   after.cached - before.cached,
                   after.retries - before.retries,
                   after.failures - before.failures,
                   after.prompt_tokens - before.prompt_tokens,
                   after.completion_tokens - before.completion_tokens,
                   after.cost_usd - before.cost_usd};
  return summary;
}

}  // namespace synpref::curate
