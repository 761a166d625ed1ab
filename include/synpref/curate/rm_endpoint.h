// synpref/curate/rm_endpoint.h: scoring pairs against a fleet of reward-model servers.
//
// The report scored tens of millions of pairs on GPU servers; this client does the same against
// sglang's native reward API: POST <url>/classify with {"model": M, "text": [t1, t2, ...]}, where
// each text is a full conversation already rendered with the RM's chat template (the server
// tokenizes it as is); the server answers a JSON array with one object per text whose
// "embedding" list holds the reward as its first element. (vLLM serves the same route.)
//
// Guarantees of score_pairs:
//  - Every pair is scored exactly once or reported failed with a reason; results come back in
//    input order. A pair's two texts always travel in the same request, so chosen and rejected
//    come from the same server (and model version).
//  - Requests are spread round-robin across the endpoints; a failed request (transport error,
//    timeout, 429, 5xx, a body that does not parse or holds the wrong number of scores) is retried
//    on the next endpoint, up to max_retries times, with exponential backoff between rounds. Other
//    4xx answers fail their pairs at once (retrying cannot fix a rejected request).
//  - A non-finite score is a failure of that pair, never a number passed on.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "synpref/common/status.h"

namespace synpref::curate {

struct RmEndpointOptions {
  std::vector<std::string> urls;  // server base URLs ("http://gpu-3:30000"); /classify is appended
  std::string model;              // "model" field sent ("" = omitted; sglang serves one model)
  int pairs_per_request = 16;     // >= 1: each request carries 2 * pairs_per_request texts
  int max_concurrency = 16;       // requests in flight across all endpoints
  int max_retries = 3;            // extra attempts per request after the first
  double timeout_seconds = 120;
  double backoff_initial_seconds = 0.2, backoff_max_seconds = 10;
};
Status validate(const RmEndpointOptions& options);  // errors name the field ("urls[1]", "pairs_per_request")

// One pair's two conversations, rendered with the RM's chat template.
struct PairTexts {
  std::string chosen, rejected;
};

struct RmScore {
  bool ok = false;
  double chosen = 0, rejected = 0;
  std::string endpoint;  // URL that answered (ok) or answered last (failed)
  int attempts = 0;      // requests that carried this pair
  std::string error;     // why it failed (last attempt's reason), empty when ok
};

struct RmFleetStats {
  int64_t requests = 0, retries = 0, failed_pairs = 0;
  std::vector<int64_t> requests_per_endpoint;  // by index in urls
};

// Scores every pair (see the guarantees above). Precondition: validate(options) is ok.
std::vector<RmScore> score_pairs(const std::vector<PairTexts>& pairs, const RmEndpointOptions& options,
                                 RmFleetStats* stats = nullptr);

// The request body for `texts` and the parser of an answer (exposed for tests and for servers
// that mimic sglang). parse_classify_response returns one score per text or a data_error saying
// what is wrong with the body.
std::string classify_request_body(const std::string& model, const std::vector<const std::string*>& texts);
Result<std::vector<double>> parse_classify_response(std::string_view body, size_t n_texts);

}  // namespace synpref::curate
