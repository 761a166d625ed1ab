// Shared by the `synpref curate` command files: the project's judge client, judge spend as the
// project records it and as --json prints it.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "synpref/curate/project.h"
#include "synpref/judge/client.h"

namespace synpref::cli {

inline curate::JudgeUsage project_usage(const judge::Usage& u) {
  return {"", u.requests, u.cached, u.retries, u.failures, u.prompt_tokens, u.completion_tokens, u.cost_usd};
}

// The judge client for a project: the config's cache, or DIR/judge-cache.sqlite when it names
// none (reruns must hit a cache to be free).
inline Result<std::unique_ptr<judge::Client>> open_judges(const curate::Project& project,
                                                          const std::string& config_path) {
  SP_ASSIGN_OR_RETURN(judge::Config config, judge::load_config(config_path));
  if (config.cache_path.empty()) config.cache_path = project.dir() + "/judge-cache.sqlite";
  return judge::Client::create(config);
}

inline nlohmann::json usage_json(const curate::JudgeUsage& u) {
  return {{"requests", u.requests},
          {"cached", u.cached},
          {"retries", u.retries},
          {"failures", u.failures},
          {"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"cost_usd", u.cost_usd}};
}

}  // namespace synpref::cli
