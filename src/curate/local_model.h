// Internal to the curate library: naming in-process reward models.
#pragma once

#include <string>

#include "synpref/common/status.h"

namespace synpref::curate {

// "<folder>@<12 hex of XXH3 over config.json and the weight files' names and sizes>" (the key of
// an in-process RM's scores in the project; step_stage2.cpp).
Result<std::string> local_model_name(const std::string& model_dir);

}  // namespace synpref::curate
