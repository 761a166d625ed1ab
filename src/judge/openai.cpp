// The OpenAI chat-completions wire format (see openai.h).
#include "openai.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace synpref::judge {

using nlohmann::json;

Result<std::string> chat_request_body(const Endpoint& endpoint, const ChatRequest& request, int n) {
  json body;
  body["model"] = endpoint.model;
  json messages = json::array();
  for (const Message& m : request.messages) messages.push_back({{"role", m.role}, {"content", m.content}});
  body["messages"] = std::move(messages);
  body["n"] = n;
  body["temperature"] = request.temperature;
  body["max_tokens"] = request.max_tokens;
  if (endpoint.logprobs) body["logprobs"] = true;
  if (!request.json_schema.empty() && endpoint.json_schema) {
    json schema = json::parse(request.json_schema, nullptr, /*allow_exceptions=*/false);
    if (schema.is_discarded() || !schema.is_object())
      return invalid_argument("json_schema is not a JSON object");
    body["response_format"] = {{"type", "json_schema"},
                               {"json_schema", {{"name", "answer"}, {"strict", true}, {"schema", schema}}}};
  }
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

namespace {

// Sum of the token logprobs of one choice ({"content": [{"token", "logprob"}, ...]}), when given.
std::optional<double> sum_logprobs(const json& choice) {
  auto it = choice.find("logprobs");
  if (it == choice.end() || !it->is_object()) return std::nullopt;
  auto content = it->find("content");
  if (content == it->end() || !content->is_array()) return std::nullopt;
  double sum = 0;
  for (const json& token : *content) {
    auto lp = token.find("logprob");
    if (!token.is_object() || lp == token.end() || !lp->is_number()) return std::nullopt;
    sum += lp->get<double>();
  }
  return sum;
}

int64_t token_count(const json& usage, const char* key) {
  auto it = usage.find(key);
  if (it == usage.end() || !it->is_number_integer()) return 0;
  return std::max<int64_t>(0, it->get<int64_t>());
}

}  // namespace

Result<ChatResponse> parse_chat_response(std::string_view body) {
  json root = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return data_error("response is not JSON");
  if (!root.is_object()) return data_error("response is not a JSON object");
  auto choices = root.find("choices");
  if (choices == root.end() || !choices->is_array()) return data_error("response has no choices array");
  std::vector<std::pair<int64_t, Sample>> indexed;
  for (size_t pos = 0; pos < choices->size(); ++pos) {
    const json& choice = (*choices)[pos];
    std::string where = "choices[" + std::to_string(pos) + "]";
    if (!choice.is_object()) return data_error(where + " is not an object");
    auto message = choice.find("message");
    if (message == choice.end() || !message->is_object()) return data_error(where + ".message is missing");
    auto content = message->find("content");
    if (content == message->end() || !content->is_string())
      return data_error(where + ".message.content is not a string");
    Sample sample;
    sample.content = content->get<std::string>();
    sample.logprob = sum_logprobs(choice);
    auto finish = choice.find("finish_reason");
    if (finish != choice.end() && finish->is_string()) sample.finish_reason = finish->get<std::string>();
    auto index = choice.find("index");
    int64_t order = index != choice.end() && index->is_number_integer() ? index->get<int64_t>()
                                                                        : static_cast<int64_t>(pos);
    indexed.emplace_back(order, std::move(sample));
  }
  std::stable_sort(indexed.begin(), indexed.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  ChatResponse response;
  for (auto& [order, sample] : indexed) response.choices.push_back(std::move(sample));
  auto usage = root.find("usage");
  if (usage != root.end() && usage->is_object()) {
    response.prompt_tokens = token_count(*usage, "prompt_tokens");
    response.completion_tokens = token_count(*usage, "completion_tokens");
  }
  return response;
}

std::string error_summary(std::string_view body) {
  json root = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (root.is_object()) {
    auto error = root.find("error");
    if (error != root.end()) {
      if (error->is_string()) return error->get<std::string>();
      if (error->is_object()) {
        auto message = error->find("message");
        if (message != error->end() && message->is_string()) return message->get<std::string>();
      }
    }
  }
  std::string head(body.substr(0, 200));
  return body.size() > 200 ? head + "..." : head;
}

}  // namespace synpref::judge
