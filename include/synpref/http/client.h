// synpref/http/client.h: a batch HTTP client on one libcurl multi handle (the judge client and the
// curation engine's reward-server fleet both call it).
//
//   std::vector<http::ClientRequest> requests = ...;
//   auto responses = http::perform_all(requests, {.max_concurrency = 64});
//   // responses[i] answers requests[i]
//
// Guarantees:
//  - Results come back in request order, one per request, whatever order the transfers finish in.
//  - At most max_concurrency transfers are open at any moment (one libcurl multi handle, driven by
//    the calling thread; perform_all returns when every transfer has finished).
//  - Never throws. A failure of one request (timeout, refused connection, connection reset in the
//    middle of the body, malformed HTTP) is reported in that request's ClientResponse::error with
//    status 0 and never affects another request.
//  - Any HTTP status (2xx, 4xx, 5xx) is a response, not an error: status > 0, body and headers set,
//    error empty. Interpreting it (and retrying) is the caller's policy; nothing is retried here.
//  - Request headers are sent as given; their values (e.g. API keys) never appear in `error`.
// The implementation sits on libcurl (Debian libcurl4-openssl-dev); no libcurl type appears here.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace synpref::http {

struct ClientRequest {
  std::string method = "POST", url, body;
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. {"Authorization","Bearer ..."}
  double timeout_seconds = 60;                               // whole transfer, connect included
};

struct ClientResponse {
  int status = 0;  // HTTP status; 0 when no response (see error)
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // response headers, names as sent
  std::string error;   // transport error (timeout, refused, reset mid-body); empty when status > 0
  double seconds = 0;  // wall time of this transfer

  // First response header with this name (case-insensitive), or "" when absent.
  std::string header(const std::string& name) const;
};

struct ClientOptions {
  int max_concurrency = 16;  // >= 1; values below 1 are treated as 1
};

// Runs every request, at most max_concurrency at once, on one libcurl multi handle; results in
// request order; never throws, one failure never affects another. No retries here (policy is the
// caller's).
std::vector<ClientResponse> perform_all(const std::vector<ClientRequest>& requests,
                                        const ClientOptions& options);

// The streaming form behind perform_all, for callers that schedule requests over time (rate
// limits, retry backoff) and want connections reused across them. All callbacks run on the
// calling thread:
//  - `next` is asked whenever fewer than max_concurrency transfers run (and again every few
//    milliseconds while it declines); it fills `request` and `tag` and returns true to start one.
//  - `done` receives each finished transfer's response with its tag (any order).
//  - `finished` says that no request will be offered any more; perform_stream returns once it
//    is true and every started transfer is done.
struct StreamCallbacks {
  std::function<bool(ClientRequest& request, uint64_t& tag)> next;
  std::function<void(uint64_t tag, ClientResponse response)> done;
  std::function<bool()> finished;
};
void perform_stream(const ClientOptions& options, const StreamCallbacks& callbacks);

}  // namespace synpref::http
