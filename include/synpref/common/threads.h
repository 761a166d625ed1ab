// synpref/common/threads.h: the one rule for thread-count options (every library option named
// n_threads or threads follows it): 0 means all hardware threads, 1..kMaxThreads that many.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <thread>

#include "synpref/common/status.h"

namespace synpref {

inline constexpr int kMaxThreads = 1024;

// Ok for 0 and 1..kMaxThreads; otherwise an invalid_argument naming `field` (a library option name,
// e.g. "n_threads"; tools map it to their flag).
inline Status check_threads(int n, std::string_view field) {
  if (n >= 0 && n <= kMaxThreads) return Status::ok();
  return invalid_argument(std::string(field) + " must be 0 (all hardware threads) or 1.." +
                          std::to_string(kMaxThreads) + ", got " + std::to_string(n));
}

// The thread count to start. Precondition: check_threads(n) is ok.
inline int resolve_threads(int n) {
  return n > 0 ? n : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace synpref
