// Small Status helpers private to the model subsystem.
#pragma once

#include <string>

#include "synpref/common/status.h"

namespace synpref::model {

inline Status internal_error(std::string message) {
  return {StatusCode::internal, std::move(message)};
}

}  // namespace synpref::model
