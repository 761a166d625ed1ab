// src/curate/step_label.cpp: run_label_step, gold-guided silver labels from a panel of judges
// (appendix D.3), and silver_verdicts, the aggregate recomputed from the recorded samples.
#include <algorithm>
#include <set>
#include <unordered_map>

#include "synpref/curate/steps.h"

namespace synpref::curate {

namespace {

constexpr std::string_view kSampleKind = "silver";
constexpr std::string_view kAggregateKind = "silver_aggregate";

// Gold pairs usable as examples: member of the gold set, with attributes and a non-tie human
// verdict; a gold pair humans found reversed is shown with its responses swapped.
struct GoldPool {
  std::set<std::string> members;  // every gold pair (never a silver target)
  std::vector<GoldCandidate> candidates;
  std::unordered_map<std::string, GoldExample> examples;
};

Result<GoldPool> load_gold(const Project& project) {
  GoldPool gold;
  SP_ASSIGN_OR_RETURN(std::vector<std::string> ids, project.members("gold"));
  SP_ASSIGN_OR_RETURN(std::vector<Label> labels, project.labels_for("gold"));
  std::unordered_map<std::string, int> verdict;  // the last recorded gold verdict per pair
  for (const Label& label : labels) verdict[label.pair_id] = label.verdict;
  gold.members.insert(ids.begin(), ids.end());
  for (const std::string& id : ids) {
    auto it = verdict.find(id);
    int human = it == verdict.end() ? +1 : it->second;  // membership without a label: chosen verified
    if (human == 0) continue;
    SP_ASSIGN_OR_RETURN(std::optional<data::Attributes> attributes, project.attributes_of(id));
    if (!attributes || attributes->annotation_guideline.empty()) continue;
    SP_ASSIGN_OR_RETURN(data::Record pair, project.pair(id));
    if (human < 0) std::swap(pair.responses[0], pair.responses[1]);
    gold.candidates.push_back({id, attributes->task_category});
    gold.examples.emplace(id, GoldExample{std::move(pair), *attributes});
  }
  return gold;
}

Result<std::vector<std::string>> judge_names(const judge::Config& config,
                                             const std::vector<std::string>& wanted) {
  if (config.endpoints.empty()) return invalid_argument("the judge config has no endpoints");
  std::vector<std::string> names;
  for (const judge::Endpoint& endpoint : config.endpoints) {
    if (wanted.empty() || std::find(wanted.begin(), wanted.end(), endpoint.name) != wanted.end()) {
      names.push_back(endpoint.name);
    }
  }
  for (const std::string& name : wanted) {
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      return invalid_argument("judge '" + name + "' is not an endpoint of the judge config");
    }
  }
  return names;
}

struct Target {
  data::Record pair;
  data::Attributes attributes;
};

struct Panel {
  std::vector<const judge::Endpoint*> endpoints;
};

struct LabelContext {
  Project& project;
  judge::Client& client;
  const LabelStepOptions& options;
  const CompiledPrompt& prompt;
  const GoldPool& gold;
  const Panel& panel;
  LabelStepSummary& summary;
};

Result<judge::ChatRequest> make_request(const LabelContext& ctx, const Target& target,
                                        const judge::Endpoint& endpoint) {
  std::vector<size_t> picked =
      select_gold_examples(ctx.gold.candidates, target.pair.id, target.attributes.task_category,
                           ctx.options.seed, ctx.options.max_examples);
  std::vector<GoldExample> examples;
  for (size_t index : picked) examples.push_back(ctx.gold.examples.at(ctx.gold.candidates[index].pair_id));
  bool swapped = candidate_swapped(ctx.options.seed, target.pair.id);
  SP_ASSIGN_OR_RETURN(auto messages, ctx.prompt.render(silver_prompt_context(
                                         target.pair, target.attributes, swapped, examples, ctx.options.seed,
                                         endpoint.json_schema)));
  judge::ChatRequest request;
  request.endpoint = endpoint.name;
  for (auto& message : messages) request.messages.push_back({message.role, message.content});
  request.n = ctx.options.n;
  request.temperature = ctx.options.temperature;
  request.max_tokens = ctx.options.max_tokens;
  if (endpoint.json_schema) request.json_schema = silver_json_schema();
  return request;
}

// One batch: every judge asked about every target; samples and aggregates recorded.
Status label_batch(const LabelContext& ctx, const std::vector<Target>& targets) {
  const size_t n_judges = ctx.panel.endpoints.size();
  std::vector<judge::ChatRequest> requests;
  for (const Target& target : targets) {
    for (const judge::Endpoint* endpoint : ctx.panel.endpoints) {
      SP_ASSIGN_OR_RETURN(auto request, make_request(ctx, target, *endpoint));
      requests.push_back(std::move(request));
    }
  }
  std::vector<judge::ChatResult> results = ctx.client.run(requests);

  std::vector<Label> labels;
  std::vector<std::string> silver;
  for (size_t t = 0; t < targets.size(); ++t) {
    const std::string& id = targets[t].pair.id;
    const bool swapped = candidate_swapped(ctx.options.seed, id);
    std::vector<NamedVote> votes;
    bool complete = true;
    for (size_t j = 0; j < n_judges; ++j) {
      const judge::Endpoint& endpoint = *ctx.panel.endpoints[j];
      const judge::ChatResult& result = results[t * n_judges + j];
      JudgeLabelStats& stats = ctx.summary.judges[endpoint.name];
      ++stats.requests;
      if (!result.status.is_ok()) {
        ++stats.failed;
        complete = false;
        continue;
      }
      std::vector<int> verdicts;
      for (size_t s = 0; s < result.samples.size(); ++s) {
        Preference preference = parse_preference(result.samples[s].content, endpoint.json_schema);
        stats.bias.add(preference, swapped);
        ++stats.samples;
        int verdict = 0;
        if (preference == Preference::unparseable) {
          ++stats.unparseable;
        } else {
          verdict = verdict_of_candidate(static_cast<int>(preference), swapped);
        }
        verdicts.push_back(verdict);
        Label label;
        label.pair_id = id;
        label.source = "llm_judge";
        label.annotator = endpoint.name;
        label.sample_index = static_cast<int>(s);
        label.prompt_hash = result.prompt_hash;
        label.verdict = verdict;
        label.kind = std::string(kSampleKind);
        labels.push_back(std::move(label));
      }
      votes.push_back({endpoint.name, self_consistency(verdicts)});
    }
    // A judge without an answer leaves the pair unaggregated: a rerun asks it again rather
    // than deciding on part of the panel.
    if (!complete) continue;
    SilverLabel aggregate = aggregate_votes(votes, ctx.options.aggregate);
    Label label;
    label.pair_id = id;
    label.source = "llm_judge";
    label.annotator = "aggregate:" + std::string(aggregate_mode_name(ctx.options.aggregate.mode));
    label.verdict = aggregate.verdict;
    label.confidence = aggregate.confidence;
    label.kind = std::string(kAggregateKind);
    labels.push_back(std::move(label));
    ++ctx.summary.labeled;
    if (aggregate.verdict > 0) {
      ++ctx.summary.agree;
      silver.push_back(id);
    } else if (aggregate.verdict < 0) {
      ++ctx.summary.disagree;
    } else {
      ++ctx.summary.abstain;
    }
  }
  // Membership first: the aggregate label marks the pair done, so it is written last.
  SP_RETURN_IF_ERROR(ctx.project.set_membership(silver, "silver", true));
  return ctx.project.add_labels(labels);
}

Status validate_options(const LabelStepOptions& options) {
  if (options.n < 1) return invalid_argument("n must be >= 1");
  if (options.batch_pairs < 1) return invalid_argument("batch_pairs must be >= 1");
  if (options.max_examples < 0 || options.max_examples > kMaxGoldExamples) {
    return invalid_argument("max_examples must be in [0, " + std::to_string(kMaxGoldExamples) + "]");
  }
  return validate(options.aggregate);
}

}  // namespace

Result<LabelStepSummary> run_label_step(Project& project, judge::Client& client,
                                        const LabelStepOptions& options, const StepProgress& progress) {
  SP_RETURN_IF_ERROR(validate_options(options));
  SP_ASSIGN_OR_RETURN(std::vector<std::string> names, judge_names(client.config(), options.judges));
  Panel panel;
  for (const std::string& name : names) {
    for (const judge::Endpoint& endpoint : client.config().endpoints) {
      if (endpoint.name == name) panel.endpoints.push_back(&endpoint);
    }
  }
  SP_ASSIGN_OR_RETURN(CompiledPrompt prompt, CompiledPrompt::compile(options.prompt));
  SP_ASSIGN_OR_RETURN(GoldPool gold, load_gold(project));

  LabelStepSummary summary;
  summary.gold_examples = static_cast<int64_t>(gold.candidates.size());
  std::set<std::string> labeled;
  SP_ASSIGN_OR_RETURN(auto aggregates, project.labels_for(kAggregateKind));
  for (const Label& label : aggregates) labeled.insert(label.pair_id);
  std::set<std::string> wanted;
  if (options.targets) wanted.insert(options.targets->begin(), options.targets->end());
  SP_ASSIGN_OR_RETURN(auto all_attributes, project.attributes());
  std::unordered_map<std::string, const data::Attributes*> attributes;
  for (const auto& [id, attrs] : all_attributes) attributes[id] = &attrs;

  const LabelContext ctx{project, client, options, prompt, gold, panel, summary};
  const judge::Usage before = client.usage();
  std::vector<Target> batch;
  size_t finished = 0;
  auto flush = [&]() -> Status {
    if (batch.empty()) return Status::ok();
    SP_RETURN_IF_ERROR(label_batch(ctx, batch));
    finished += batch.size();
    batch.clear();
    if (progress) progress(finished, 0);
    return Status::ok();
  };
  SP_RETURN_IF_ERROR(project.for_each_pair([&](int64_t, const data::Record& record) -> Status {
    bool selected = options.targets ? wanted.count(record.id) > 0 : !gold.members.count(record.id);
    if (!selected) return Status::ok();
    ++summary.targets;
    if (labeled.count(record.id)) {
      ++summary.already_labeled;
      return Status::ok();
    }
    auto it = attributes.find(record.id);
    if (it == attributes.end() || it->second->annotation_guideline.empty()) {
      ++summary.no_attributes;
      return Status::ok();
    }
    batch.push_back({record, *it->second});
    if (static_cast<int64_t>(batch.size()) >= options.batch_pairs) return flush();
    return Status::ok();
  }));
  SP_RETURN_IF_ERROR(flush());
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

Result<std::map<std::string, int>> silver_verdicts(const Project& project, const AggregateOptions& options) {
  SP_RETURN_IF_ERROR(validate(options));
  // Only pairs whose whole panel answered (they carry an aggregate label) have a verdict.
  SP_ASSIGN_OR_RETURN(std::vector<Label> aggregates, project.labels_for(kAggregateKind));
  std::set<std::string> complete;
  for (const Label& label : aggregates) complete.insert(label.pair_id);
  SP_ASSIGN_OR_RETURN(std::vector<Label> samples, project.labels_for(kSampleKind));
  // pair -> judge -> sample verdicts (all recorded samples of that judge, whatever the prompt).
  std::map<std::string, std::map<std::string, std::vector<int>>> by_pair;
  for (const Label& label : samples) {
    if (complete.count(label.pair_id)) by_pair[label.pair_id][label.annotator].push_back(label.verdict);
  }
  std::map<std::string, int> verdicts;
  for (const auto& [pair_id, judges] : by_pair) {
    std::vector<NamedVote> votes;
    for (const auto& [judge, sample_verdicts] : judges)
      votes.push_back({judge, self_consistency(sample_verdicts)});
    verdicts[pair_id] = aggregate_votes(votes, options).verdict;
  }
  return verdicts;
}

}  // namespace synpref::curate
