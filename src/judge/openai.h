// src/judge/openai.h: the OpenAI chat-completions wire format, both directions (internal; the
// judge client speaks it, judge-sim answers it, tests check both against each other).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "synpref/common/status.h"
#include "synpref/judge/client.h"

namespace synpref::judge {

// The POST body for `request` asking for `n` choices: model, messages, n, temperature,
// max_tokens, plus "logprobs": true when the endpoint offers them and response_format
// {"type": "json_schema", ...} when the request has a schema and the endpoint supports it.
// Errors: request.json_schema is not valid JSON.
Result<std::string> chat_request_body(const Endpoint& endpoint, const ChatRequest& request, int n);

struct ChatResponse {
  std::vector<Sample> choices;  // in choices[].index order
  int64_t prompt_tokens = 0, completion_tokens = 0;
};

// Parses a 200 answer. data_error naming what is wrong when the body is not JSON, has no
// choices array, or a choice has no string message.content (nothing is defaulted).
Result<ChatResponse> parse_chat_response(std::string_view body);

// The "message" of an OpenAI-style error body ({"error": {"message": ...}}), else the body's
// first 200 bytes.
std::string error_summary(std::string_view body);

}  // namespace synpref::judge
