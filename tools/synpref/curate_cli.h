// Shared by the `synpref curate` command files: judge spend as the project records it and as
// --json prints it.
#pragma once

#include <nlohmann/json.hpp>

#include "synpref/curate/project.h"
#include "synpref/judge/client.h"

namespace synpref::cli {

inline curate::JudgeUsage project_usage(const judge::Usage& u) {
  return {"", u.requests, u.cached, u.retries, u.failures, u.prompt_tokens, u.completion_tokens, u.cost_usd};
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
