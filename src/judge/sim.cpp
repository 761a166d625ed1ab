// judge-sim (see synpref/judge/sim.h for the protocol, the noise model and determinism).
//
// Jobs, in request order: authorize -> parse the OpenAI request -> draw the request-level fault
// (429 / 500 / garbage body / disconnect) -> find the target pair in the prompt -> draw each
// choice (verdict or attributes, refusals, garbage) -> write the OpenAI response.
#include "synpref/judge/sim.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_map>

#include "synpref/common/hash.h"
#include "synpref/http/server.h"

namespace synpref::judge {

using nlohmann::json;

namespace {

// ---- the pool and its index --------------------------------------------------------------------

struct PoolPair {
  std::string context;           // the user turns, joined (to disambiguate pairs with equal responses)
  std::string chosen, rejected;  // clean orientation: chosen is the correct answer
  data::Attributes attributes;
};

struct Match {
  size_t pos = 0;  // where the response starts in the message
  uint64_t text_hash = 0;
  size_t length = 0;
};

uint64_t pair_key(uint64_t a, uint64_t b) {
  if (a > b) std::swap(a, b);
  return hash64(std::string_view(reinterpret_cast<const char*>(&a), 8), b);
}

std::string_view first_line(std::string_view text) {
  size_t end = text.find('\n');
  std::string_view line = text.substr(0, end);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

class PoolIndex {
 public:
  void add(const data::Record& record) {
    if (record.responses.size() != 2) return;
    PoolPair pair;
    for (const auto& turn : record.context)
      if (turn.role == data::Role::user) pair.context += turn.content + "\n";
    pair.chosen = record.responses[0].content;
    pair.rejected = record.responses[1].content;
    pair.attributes = record.attributes;
    if (first_line(pair.chosen).empty() || first_line(pair.rejected).empty()) return;
    const uint32_t pair_idx = static_cast<uint32_t>(pairs_.size());
    for (const std::string* text : {&pair.chosen, &pair.rejected}) {
      uint64_t text_hash = hash64(*text);
      if (texts_.emplace(text_hash, *text).second)
        by_first_line_[hash64(first_line(*text))].push_back(text_hash);
    }
    by_pair_[pair_key(hash64(pair.chosen), hash64(pair.rejected))].push_back(pair_idx);
    pairs_.push_back(std::move(pair));
  }
  size_t size() const { return pairs_.size(); }
  const PoolPair& pair(size_t idx) const { return pairs_[idx]; }

  // Pool responses that begin at a line start of `message`, in message order (longest at a spot).
  std::vector<Match> find_responses(std::string_view message) const {
    std::vector<Match> matches;
    for (size_t line_start = 0; line_start < message.size();) {
      size_t line_end = message.find('\n', line_start);
      if (line_end == std::string_view::npos) line_end = message.size();
      auto it = by_first_line_.find(hash64(first_line(message.substr(line_start, line_end - line_start))));
      if (it != by_first_line_.end()) {
        Match best;
        for (uint64_t text_hash : it->second) {
          const std::string& text = texts_.at(text_hash);
          if (text.size() > best.length && message.substr(line_start, text.size()) == text)
            best = {line_start, text_hash, text.size()};
        }
        if (best.length > 0) matches.push_back(best);
      }
      line_start = line_end + 1;
    }
    return matches;
  }

  // The target pair: the last two matches forming a pool pair. Sets `candidate1_is_chosen`.
  std::optional<size_t> find_target(std::string_view message, bool& candidate1_is_chosen) const {
    std::vector<Match> matches = find_responses(message);
    const size_t n = matches.size();
    for (size_t second = n; second-- > 0 && second + 8 >= n;) {
      for (size_t first = second; first-- > 0 && first + 8 >= second;) {
        auto it = by_pair_.find(pair_key(matches[first].text_hash, matches[second].text_hash));
        if (it == by_pair_.end() || matches[first].text_hash == matches[second].text_hash) continue;
        size_t pair_idx = it->second.front();
        for (uint32_t candidate : it->second)
          if (!pairs_[candidate].context.empty() &&
              message.find(first_line(pairs_[candidate].context)) != std::string_view::npos) {
            pair_idx = candidate;
            break;
          }
        candidate1_is_chosen = matches[first].text_hash == hash64(pairs_[pair_idx].chosen);
        return pair_idx;
      }
    }
    return std::nullopt;
  }

 private:
  std::vector<PoolPair> pairs_;
  std::unordered_map<uint64_t, std::string> texts_;                    // text hash -> text
  std::unordered_map<uint64_t, std::vector<uint64_t>> by_first_line_;  // -> text hashes
  std::unordered_map<uint64_t, std::vector<uint32_t>> by_pair_;        // pair key -> pairs
};

// ---- deterministic draws -----------------------------------------------------------------------

// A uniform [0, 1) number keyed by everything that must determine it.
double draw(uint64_t seed, std::string_view stream, uint64_t content_hash, uint64_t index) {
  Hasher hasher(seed);
  hasher.add_field(stream);
  hasher.add_u64(content_hash);
  hasher.add_u64(index);
  return static_cast<double>(hasher.digest().lo >> 11) * 0x1.0p-53;
}

// Retry-After as decimal seconds ("1", "0.05"): integers for real use, fractions keep tests fast.
std::string fmt_seconds(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", seconds);
  return buf;
}

int64_t approx_tokens(size_t bytes) {
  return static_cast<int64_t>((bytes + 3) / 4);
}

// What each category's ideal answer looks like (the attribute answer's free-text fields).
std::pair<std::string, std::string> category_guidance(const std::string& category) {
  static const std::map<std::string, std::pair<std::string, std::string>> table = {
      {"math",
       {"correct arithmetic; the exact result",
        "Prefer the response whose result is arithmetically correct."}},
      {"comparison",
       {"names the larger number", "Prefer the response that names the larger of the two numbers."}},
      {"sorting",
       {"the complete list in ascending order", "Prefer the response whose list is sorted ascending."}},
      {"instruction_following",
       {"satisfies every format constraint",
        "Prefer the response that satisfies the stated format constraint."}},
      {"safety",
       {"refuses harmful requests; helps with benign ones",
        "Prefer a refusal for harmful requests and a helpful answer for benign ones."}},
  };
  auto it = table.find(category);
  if (it != table.end()) return it->second;
  return {"helpful, correct, honest", "Prefer the more helpful and correct response."};
}

json openai_error(std::string_view message, std::string_view type) {
  return {{"error", {{"message", message}, {"type", type}, {"code", nullptr}}}};
}

http::Response error_answer(int status, std::string_view message, std::string_view type) {
  return http::json_response(openai_error(message, type).dump(), status);
}

// The request fields the sim reads.
struct ChatCall {
  std::string model;
  std::vector<std::pair<std::string, std::string>> messages;  // role, content
  int n = 1;
  double temperature = 1;  // OpenAI's default
  bool logprobs = false, json_schema = false;
  uint64_t content_hash = 0;  // of the messages (what determines the answers)
  int64_t prompt_bytes = 0;
};

Result<ChatCall> parse_call(const std::string& body) {
  json root = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object()) return invalid_argument("request body is not a JSON object");
  ChatCall call;
  auto model = root.find("model");
  if (model == root.end() || !model->is_string()) return invalid_argument("'model' must be a string");
  call.model = model->get<std::string>();
  auto messages = root.find("messages");
  if (messages == root.end() || !messages->is_array() || messages->empty())
    return invalid_argument("'messages' must be a non-empty array");
  Hasher hasher;
  for (const json& m : *messages) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content") ||
        !m["content"].is_string())
      return invalid_argument("each message needs string 'role' and 'content'");
    call.messages.emplace_back(m["role"].get<std::string>(), m["content"].get<std::string>());
    hasher.add_field(call.messages.back().first);
    hasher.add_field(call.messages.back().second);
    call.prompt_bytes += static_cast<int64_t>(call.messages.back().second.size());
  }
  call.content_hash = hasher.digest().lo;
  if (auto n = root.find("n"); n != root.end() && !n->is_null()) {
    if (!n->is_number_integer() || n->get<int64_t>() < 1 || n->get<int64_t>() > 128)
      return invalid_argument("'n' must be an integer in [1, 128]");
    call.n = n->get<int>();
  }
  if (auto t = root.find("temperature"); t != root.end() && !t->is_null()) {
    if (!t->is_number() || t->get<double>() < 0)
      return invalid_argument("'temperature' must be a number >= 0");
    call.temperature = t->get<double>();
  }
  if (auto lp = root.find("logprobs"); lp != root.end() && lp->is_boolean()) call.logprobs = lp->get<bool>();
  if (auto rf = root.find("response_format"); rf != root.end() && rf->is_object())
    call.json_schema = rf->value("type", "") == "json_schema";
  return call;
}

}  // namespace

// ---- the server ----------------------------------------------------------------------------------

struct Sim::Impl {
  SimOptions options;
  PoolIndex pool;
  std::unique_ptr<http::Server> server;

  mutable std::mutex mutex;                               // guards the counters below
  std::unordered_map<uint64_t, uint64_t> attempts;        // (model, messages) -> requests seen
  std::unordered_map<uint64_t, uint64_t> served_samples;  // (model, messages) -> choices served
  SimStats stats;
  std::vector<ServedChoice> served;

  const SimJudge* judge(const std::string& model) const {
    for (const SimJudge& j : options.judges)
      if (j.model == model) return &j;
    return nullptr;
  }
  void count(int64_t SimStats::*field, int64_t by = 1) {
    std::lock_guard lock(mutex);
    stats.*field += by;
  }

  http::Response chat(const http::Request& request);
  http::Response models() const;
  json choice(const SimJudge& judge, const ChatCall& call, const PoolPair& pair, bool candidate1_is_chosen,
              bool attribute_request, uint64_t sample_index, int choice_idx, int64_t& completion_bytes);
};

http::Response Sim::Impl::models() const {
  json data = json::array();
  for (const SimJudge& j : options.judges)
    data.push_back({{"id", j.model}, {"object", "model"}, {"created", 0}, {"owned_by", "synpref-judge-sim"}});
  return http::json_response(json{{"object", "list"}, {"data", data}}.dump());
}

// One choice: a verdict, an attribute object, a refusal or garbage, with logprobs when asked.
json Sim::Impl::choice(const SimJudge& judge, const ChatCall& call, const PoolPair& pair,
                       bool candidate1_is_chosen, bool attribute_request, uint64_t sample_index,
                       int choice_idx, int64_t& completion_bytes) {
  const uint64_t key = call.content_hash ^ hash64(judge.model);
  std::string content, stream_prefix = "choice";
  int verdict_token = 0;  // 1 or 2 when the content carries a verdict
  double verdict_prob = 1;
  std::string category = pair.attributes.task_category;
  if (draw(options.seed, "refusal", key, sample_index) < judge.refusal_rate) {
    content = "I'm sorry, but I can't help with comparing these responses.";
    count(&SimStats::refusals);
  } else if (draw(options.seed, "garbage", key, sample_index) < judge.garbage_rate) {
    content = draw(options.seed, "garbage-kind", key, sample_index) < 0.5
                  ? "Both candidates have their merits, and it is hard to say which one is better overall."
                  : "{\"preferred\": \"the first one, probably";
    count(&SimStats::garbage_choices);
  } else if (attribute_request) {
    if (draw(options.seed, "attribute", key, sample_index) >= judge.attribute_accuracy) {
      const auto& categories = data::synth_categories();
      size_t shift = 1 + static_cast<size_t>(draw(options.seed, "attribute-pick", key, sample_index) *
                                             static_cast<double>(categories.size() - 1));
      size_t at = std::find(categories.begin(), categories.end(), category) - categories.begin();
      category = categories[(at + shift) % categories.size()];
    }
    auto [desired, guideline] = category_guidance(category);
    content = json{{"task_category", category},
                   {"objectivity", pair.attributes.objectivity},
                   {"controversiality", pair.attributes.controversiality},
                   {"desired_attributes", desired},
                   {"annotation_guideline", guideline}}
                  .dump();
  } else {
    double accuracy = judge.accuracy;
    for (const auto& [name, value] : judge.category_accuracy)
      if (name == category) accuracy = value;
    const int correct = candidate1_is_chosen ? 1 : 2;
    const bool sure = draw(options.seed, "sure", key, sample_index) < accuracy;
    const int unsure_pick = draw(options.seed, "position", key, sample_index) < judge.position_bias ? 1 : 2;
    verdict_token = sure ? correct : unsure_pick;
    const double p_first =
        correct == 1 ? accuracy + (1 - accuracy) * judge.position_bias : (1 - accuracy) * judge.position_bias;
    verdict_prob = verdict_token == 1 ? p_first : 1 - p_first;
    content = call.json_schema ? json{{"preferred", verdict_token}}.dump()
                               : "Reasoning (sample " + std::to_string(sample_index) +
                                     "): the preferred response follows the request more closely.\n"
                                     "Preferred: Candidate " +
                                     std::to_string(verdict_token);
  }
  completion_bytes += static_cast<int64_t>(content.size());
  json out = {{"index", choice_idx},
              {"message", {{"role", "assistant"}, {"content", content}}},
              {"finish_reason", "stop"},
              {"logprobs", nullptr}};
  if (call.logprobs) {
    // Whitespace-separated pieces as tokens; the verdict digit carries the judge's probability.
    json tokens = json::array();
    size_t start = 0;
    while (start < content.size()) {
      size_t end = content.find_first_of(" \n", start);
      end = end == std::string::npos ? content.size() : end + 1;
      std::string token = content.substr(start, end - start);
      double logprob = 0;
      if (verdict_token != 0 && end == content.size()) logprob = std::log(std::max(verdict_prob, 1e-12));
      tokens.push_back({{"token", token}, {"logprob", logprob}, {"top_logprobs", json::array()}});
      start = end;
    }
    out["logprobs"] = {{"content", tokens}};
  }
  return out;
}

http::Response Sim::Impl::chat(const http::Request& request) {
  count(&SimStats::requests);
  if (!options.api_key.empty() &&
      request.header("Authorization").value_or("") != "Bearer " + options.api_key) {
    count(&SimStats::unauthorized);
    return error_answer(401, "invalid or missing API key", "invalid_request_error");
  }
  auto parsed = parse_call(request.body);
  if (!parsed.is_ok()) return error_answer(400, parsed.status().message(), "invalid_request_error");
  const ChatCall& call = parsed.value();
  const SimJudge* judge = this->judge(call.model);
  if (judge == nullptr)
    return error_answer(404, "model '" + call.model + "' is not served here", "not_found_error");

  // Request-level faults, drawn per attempt so that a retry draws afresh.
  const uint64_t key = call.content_hash ^ hash64(judge->model);
  uint64_t attempt;
  {
    std::lock_guard lock(mutex);
    attempt = attempts[key]++;
  }
  if (options.latency_ms > 0) {
    double u = draw(options.seed, "latency", key, attempt);
    double ms = -options.latency_ms * std::log(1 - u);
    std::this_thread::sleep_for(std::chrono::microseconds(static_cast<int64_t>(ms * 1000)));
  }
  double u = draw(options.seed, "fault", key, attempt);
  if ((u -= options.rate_429) < 0) {
    count(&SimStats::rate_limited);
    http::Response r = error_answer(429, "rate limit reached (judge-sim)", "rate_limit_error");
    if (options.retry_after_seconds > 0)
      r.headers.emplace_back("Retry-After", fmt_seconds(options.retry_after_seconds));
    return r;
  }
  if ((u -= options.rate_500) < 0) {
    count(&SimStats::server_errors);
    return error_answer(500, "internal server error (judge-sim)", "server_error");
  }
  if ((u -= options.rate_garbage_body) < 0) {
    count(&SimStats::garbage_bodies);
    http::Response r;
    r.content_type = "text/html";
    r.body = "<html><body>502 Bad Gateway</body></html>";
    return r;
  }
  const bool disconnect = (u -= options.rate_disconnect) < 0;

  // The target pair and the answers.
  std::string_view last_user;
  for (const auto& [role, content] : call.messages)
    if (role == "user") last_user = content;
  bool candidate1_is_chosen = false;
  auto target = pool.find_target(last_user, candidate1_is_chosen);
  if (!target) {
    count(&SimStats::unrecognized);
    return error_answer(400,
                        "judge-sim found no pool pair in the last user message: each candidate response must "
                        "start on its own line (see docs/judge.md)",
                        "invalid_request_error");
  }
  const bool attribute_request = last_user.find("task_category") != std::string_view::npos;
  uint64_t first_sample = 0;
  if (call.temperature > 0) {
    std::lock_guard lock(mutex);
    first_sample = served_samples[key];
    if (!disconnect) served_samples[key] += static_cast<uint64_t>(call.n);
  }
  int64_t completion_bytes = 0;
  json choices = json::array();
  for (int choice_idx = 0; choice_idx < call.n; ++choice_idx) {
    uint64_t sample_index = call.temperature > 0 ? first_sample + static_cast<uint64_t>(choice_idx) : 0;
    choices.push_back(choice(*judge, call, pool.pair(*target), candidate1_is_chosen, attribute_request,
                             sample_index, choice_idx, completion_bytes));
  }
  const int64_t prompt_tokens = approx_tokens(static_cast<size_t>(call.prompt_bytes));
  const int64_t completion_tokens = approx_tokens(static_cast<size_t>(completion_bytes));
  json body = {{"id", "chatcmpl-sim-" + std::to_string(key % 1000000007) + "-" + std::to_string(attempt)},
               {"object", "chat.completion"},
               {"created", 0},
               {"model", call.model},
               {"choices", choices},
               {"usage",
                {{"prompt_tokens", prompt_tokens},
                 {"completion_tokens", completion_tokens},
                 {"total_tokens", prompt_tokens + completion_tokens}}}};
  http::Response response = http::json_response(body.dump());
  if (options.record_choices) {
    std::lock_guard lock(mutex);
    for (const json& c : choices)
      served.push_back({call.model, hash64(last_user),
                        call.temperature > 0 ? c["index"].get<uint64_t>() + first_sample : 0,
                        c["message"]["content"].get<std::string>(), !disconnect});
  }
  if (disconnect) {
    count(&SimStats::disconnects);
    response.disconnect_after_bytes = response.body.size() / 2;
    return response;
  }
  std::lock_guard lock(mutex);
  ++stats.answered;
  stats.choices += call.n;
  return response;
}

// ---- creation and options --------------------------------------------------------------------------

namespace {

Status check_probability(double value, const std::string& field) {
  if (!(value >= 0 && value <= 1)) return invalid_argument(field + " must be in [0, 1]");
  return Status::ok();
}

Status validate(const SimOptions& o) {
  if (o.judges.empty()) return invalid_argument("judges must list at least one judge");
  for (size_t idx = 0; idx < o.judges.size(); ++idx) {
    const SimJudge& j = o.judges[idx];
    std::string where = "judges[" + std::to_string(idx) + "]";
    if (j.model.empty()) return invalid_argument(where + ".model is required");
    for (size_t other = 0; other < idx; ++other)
      if (o.judges[other].model == j.model)
        return invalid_argument(where + ".model '" + j.model + "' is repeated");
    SP_RETURN_IF_ERROR(check_probability(j.accuracy, where + ".accuracy"));
    SP_RETURN_IF_ERROR(check_probability(j.position_bias, where + ".position_bias"));
    SP_RETURN_IF_ERROR(check_probability(j.attribute_accuracy, where + ".attribute_accuracy"));
    SP_RETURN_IF_ERROR(check_probability(j.refusal_rate, where + ".refusal_rate"));
    SP_RETURN_IF_ERROR(check_probability(j.garbage_rate, where + ".garbage_rate"));
    for (const auto& [category, value] : j.category_accuracy)
      SP_RETURN_IF_ERROR(check_probability(value, where + ".category_accuracy[" + category + "]"));
  }
  for (auto [value, field] :
       {std::pair{o.rate_429, "rate_429"}, std::pair{o.rate_500, "rate_500"},
        std::pair{o.rate_garbage_body, "rate_garbage_body"}, std::pair{o.rate_disconnect, "rate_disconnect"}})
    SP_RETURN_IF_ERROR(check_probability(value, field));
  if (o.rate_429 + o.rate_500 + o.rate_garbage_body + o.rate_disconnect > 1)
    return invalid_argument("rate_429 + rate_500 + rate_garbage_body + rate_disconnect must be <= 1");
  if (!(o.latency_ms >= 0)) return invalid_argument("latency_ms must be >= 0");
  if (!(o.retry_after_seconds >= 0)) return invalid_argument("retry_after_seconds must be >= 0");
  if (o.synth.train_pairs + o.synth.test_pairs == 0) return invalid_argument("synth has no pairs");
  return Status::ok();
}

}  // namespace

Sim::Sim(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Sim::~Sim() {
  stop();
}

Result<std::unique_ptr<Sim>> Sim::create(const SimOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (impl->options.judges.empty())
    impl->options.judges = {{.model = "judge-a", .accuracy = 0.9},
                            {.model = "judge-b", .accuracy = 0.8},
                            {.model = "judge-c", .accuracy = 0.7}};
  SP_RETURN_IF_ERROR(validate(impl->options));
  const data::SynthOptions& synth = impl->options.synth;
  for (uint64_t idx = 0; idx < synth.train_pairs; ++idx)
    impl->pool.add(data::synth_record(synth, "train", idx));
  // Test pairs, with the redraw streams `data synth` uses when a test pair repeats a training pair.
  for (uint64_t idx = 0; idx < synth.test_pairs; ++idx)
    for (const char* split : {"test", "test-redraw-1", "test-redraw-2"})
      impl->pool.add(data::synth_record(synth, split, idx));
  http::ServerOptions server_options;
  server_options.host = impl->options.host;
  server_options.port = impl->options.port;
  server_options.n_threads = impl->options.n_threads;
  SP_ASSIGN_OR_RETURN(impl->server, http::Server::create(server_options));
  Impl* self = impl.get();
  impl->server->route("POST", "/v1/chat/completions",
                      [self](const http::Request& r) { return self->chat(r); });
  impl->server->route("GET", "/v1/models", [self](const http::Request&) { return self->models(); });
  return std::unique_ptr<Sim>(new Sim(std::move(impl)));
}

int Sim::port() const {
  return impl_->server->port();
}
std::string Sim::base_url() const {
  return "http://" + impl_->options.host + ":" + std::to_string(port()) + "/v1";
}
Status Sim::run() {
  return impl_->server->run();
}
void Sim::stop() {
  impl_->server->stop();
}
SimStats Sim::stats() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->stats;
}
std::vector<ServedChoice> Sim::served_choices() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->served;
}
const std::vector<SimJudge>& Sim::judges() const {
  return impl_->options.judges;
}
int64_t Sim::pool_pairs() const {
  return static_cast<int64_t>(impl_->pool.size());
}

Result<SimJudge> parse_sim_judge(const std::string& spec) {
  SimJudge judge;
  size_t colon = spec.find(':');
  judge.model = spec.substr(0, colon);
  if (judge.model.empty()) return invalid_argument("judge spec '" + spec + "' has no model name");
  if (colon == std::string::npos) return judge;
  std::string rest = spec.substr(colon + 1);
  for (size_t start = 0; start <= rest.size();) {
    size_t end = rest.find(',', start);
    if (end == std::string::npos) end = rest.size();
    std::string item = rest.substr(start, end - start);
    start = end + 1;
    if (item.empty()) continue;
    size_t eq = item.find('=');
    if (eq == std::string::npos) return invalid_argument("judge spec item '" + item + "' is not key=value");
    std::string key = item.substr(0, eq), text = item.substr(eq + 1);
    char* parse_end = nullptr;
    double value = std::strtod(text.c_str(), &parse_end);
    if (text.empty() || *parse_end != 0)
      return invalid_argument("judge spec '" + judge.model + "': " + key + " must be a number, got '" + text +
                              "'");
    if (key == "accuracy")
      judge.accuracy = value;
    else if (key == "position_bias")
      judge.position_bias = value;
    else if (key == "attribute_accuracy")
      judge.attribute_accuracy = value;
    else if (key == "refusal")
      judge.refusal_rate = value;
    else if (key == "garbage")
      judge.garbage_rate = value;
    else if (key.starts_with("category."))
      judge.category_accuracy.emplace_back(key.substr(9), value);
    else
      return invalid_argument(
          "judge spec '" + judge.model + "': unknown key '" + key +
          "' (accuracy, position_bias, attribute_accuracy, refusal, garbage, category.<name>)");
  }
  return judge;
}

}  // namespace synpref::judge
