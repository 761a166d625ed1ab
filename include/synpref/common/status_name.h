// synpref/common/status_name.h: the stable name of a StatusCode.
#pragma once

#include <string_view>

#include "synpref/common/status.h"

namespace synpref {

// The code's stable lower-case name ("invalid_argument", ...): the `code` field of HTTP error
// bodies and the Python exceptions' `code` attribute.
inline std::string_view status_code_name(StatusCode code) {
  switch (code) {
    case StatusCode::ok:
      return "ok";
    case StatusCode::invalid_argument:
      return "invalid_argument";
    case StatusCode::not_found:
      return "not_found";
    case StatusCode::io_error:
      return "io_error";
    case StatusCode::data_error:
      return "data_error";
    case StatusCode::unsupported:
      return "unsupported";
    case StatusCode::internal:
      return "internal";
    case StatusCode::interrupted:
      return "interrupted";
  }
  return "internal";
}

}  // namespace synpref
