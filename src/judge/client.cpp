// The judge client (see synpref/judge/client.h; policies in docs/judge.md).
//
// How a run proceeds:
//  1. plan: each request is checked, hashed, and looked up in the cache; the samples it still
//     lacks become one Job (wholly cached requests are done here, with no HTTP call);
//  2. one thread per endpoint drives http::perform_stream with the endpoint's concurrency: its
//     `next` callback releases jobs whose backoff has passed, within the rate limit and the
//     budget; its `done` callback classifies each answer (success, retryable, final failure);
//  3. the calling thread waits, reporting progress, and assembles results in request order.
// Samples are written to the cache the moment an answer arrives, and the result takes the
// samples back from the cache (first stored wins), so a result never disagrees with a rerun.
#include "synpref/judge/client.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "cache.h"
#include "openai.h"
#include "synpref/common/check.h"
#include "synpref/common/hash.h"
#include "synpref/http/client.h"

namespace synpref::judge {

using Clock = std::chrono::steady_clock;

std::string prompt_hash(const std::string& model, const ChatRequest& request) {
  Hasher hasher;
  hasher.add_field("synpref-judge-v1");
  hasher.add_field(model);
  hasher.add_u64(request.messages.size());
  for (const Message& m : request.messages) {
    hasher.add_field(m.role);
    hasher.add_field(m.content);
  }
  uint64_t temperature_bits = 0;
  static_assert(sizeof(temperature_bits) == sizeof(request.temperature));
  std::memcpy(&temperature_bits, &request.temperature, sizeof(temperature_bits));
  hasher.add_u64(temperature_bits);
  hasher.add_u64(static_cast<uint64_t>(static_cast<int64_t>(request.max_tokens)));
  hasher.add_field(request.json_schema);
  return hasher.digest().hex();
}

namespace {

// The samples one request still needs, and how asking for them has gone so far.
struct Job {
  size_t request_idx = 0;
  const Endpoint* endpoint = nullptr;
  std::vector<int> missing;  // sample indices still without an answer, ascending
  int failed_attempts = 0;   // attempts that count against max_retries
  Clock::time_point not_before{};
  std::string last_error;
};

// Why a finished attempt did not deliver, and whether asking again may help.
struct AttemptFailure {
  std::string reason;
  bool retryable = false;
  double retry_after_seconds = 0;
};

bool is_retryable_status(int status) {
  return status == 408 || status == 429 || status >= 500;
}

// Retry-After in seconds (the HTTP-date form is not used by inference servers; it is ignored).
double parse_retry_after(const std::string& value) {
  if (value.empty()) return 0;
  char* end = nullptr;
  double seconds = std::strtod(value.c_str(), &end);
  if (end == value.c_str() || !std::isfinite(seconds) || seconds < 0) return 0;
  return std::min(seconds, 600.0);
}

}  // namespace

struct Client::Impl {
  Config config;
  std::map<std::string, const Endpoint*> endpoints;  // by name
  std::map<std::string, std::string> keys;           // endpoint name -> API key (never logged)
  std::unique_ptr<Cache> cache;

  mutable std::mutex mutex;  // guards usage, spent, and the per-run state below
  Usage usage;

  // Replaces every API key in `text`: servers sometimes echo the key in their error message.
  std::string redact(std::string text) const {
    for (const auto& [name, key] : keys) {
      if (key.empty()) continue;
      for (size_t at = text.find(key); at != std::string::npos; at = text.find(key, at))
        text.replace(at, key.size(), "[redacted]");
    }
    return text;
  }
  bool budget_spent() const { return config.budget_usd > 0 && usage.cost_usd >= config.budget_usd; }
  double backoff_seconds(int failed_attempts, std::mt19937_64& rng) const {
    double base = config.backoff_initial_seconds * std::pow(2.0, failed_attempts - 1);
    base = std::min(base, config.backoff_max_seconds);
    return base * std::uniform_real_distribution<double>(0.5, 1.0)(rng);
  }
};

namespace {

// The state one run() shares between its endpoint threads and the calling thread.
struct RunState {
  std::vector<ChatResult>* results = nullptr;
  std::vector<std::vector<std::optional<Sample>>> samples;  // per request, per sample index
  std::vector<std::string> models;                          // per request
  size_t n_done = 0;
  std::condition_variable progressed;
};

}  // namespace

// Drives one endpoint's jobs to completion on the calling (endpoint) thread.
class EndpointRunner {
 public:
  EndpointRunner(Client::Impl& client, RunState& run, const Endpoint& endpoint, std::vector<Job> jobs)
      : client_(client),
        run_(run),
        endpoint_(endpoint),
        jobs_(std::move(jobs)),
        rng_(std::random_device{}()) {
    for (size_t job_idx = 0; job_idx < jobs_.size(); ++job_idx) waiting_.push_back(job_idx);
  }

  void run() {
    http::StreamCallbacks callbacks;
    callbacks.next = [this](http::ClientRequest& request, uint64_t& tag) { return next(request, tag); };
    callbacks.done = [this](uint64_t tag, http::ClientResponse response) { done(tag, std::move(response)); };
    callbacks.finished = [this] { return waiting_.empty() && n_in_flight_ == 0; };
    http::perform_stream({.max_concurrency = endpoint_.max_concurrency}, callbacks);
  }

 private:
  // Offers the next job whose backoff has passed, if the rate limit and the budget allow.
  bool next(http::ClientRequest& request, uint64_t& tag) {
    const Clock::time_point now = Clock::now();
    {
      std::lock_guard lock(client_.mutex);
      if (client_.budget_spent()) {
        fail_all_waiting_locked();
        return false;
      }
    }
    if (endpoint_.requests_per_second > 0 && now < next_start_) return false;
    auto ready = std::find_if(waiting_.begin(), waiting_.end(),
                              [&](size_t job_idx) { return jobs_[job_idx].not_before <= now; });
    if (ready == waiting_.end()) return false;
    size_t job_idx = *ready;
    waiting_.erase(ready);
    Job& job = jobs_[job_idx];
    const ChatRequest& chat = (*requests_)[job.request_idx];
    auto body = chat_request_body(endpoint_, chat, static_cast<int>(job.missing.size()));
    if (!body.is_ok()) {
      {
        std::lock_guard lock(client_.mutex);
        finish_locked(job, body.status().with_context("requests[" + std::to_string(job.request_idx) + "]"));
      }
      return next(request, tag);
    }
    request.method = "POST";
    request.url = endpoint_.base_url + "/chat/completions";
    request.body = std::move(body).value();
    request.timeout_seconds = endpoint_.timeout_seconds;
    request.headers = {{"Content-Type", "application/json"}};
    if (auto key = client_.keys.find(endpoint_.name); key != client_.keys.end())
      request.headers.emplace_back("Authorization", "Bearer " + key->second);
    tag = job_idx;
    ++n_in_flight_;
    if (endpoint_.requests_per_second > 0)
      next_start_ = std::max(next_start_, now) +
                    std::chrono::duration_cast<Clock::duration>(
                        std::chrono::duration<double>(1.0 / endpoint_.requests_per_second));
    std::lock_guard lock(client_.mutex);
    ++client_.usage.requests;
    if (job.failed_attempts > 0) ++client_.usage.retries;
    ++(*run_.results)[job.request_idx].http_calls;
    return true;
  }

  void done(uint64_t tag, http::ClientResponse response) {
    --n_in_flight_;
    Job& job = jobs_[tag];
    AttemptFailure failure = absorb(job, response);
    std::lock_guard lock(client_.mutex);
    if (failure.reason.empty()) {
      if (job.missing.empty()) {
        finish_locked(job, Status::ok());
      } else {
        waiting_.push_back(tag);  // fewer choices than asked: ask for the rest, no backoff
      }
      return;
    }
    job.last_error = client_.redact(failure.reason);
    ++job.failed_attempts;
    if (!failure.retryable || job.failed_attempts > endpoint_.max_retries) {
      std::string message = "endpoint '" + endpoint_.name + "': " + job.last_error;
      if (failure.retryable)
        message += " (gave up after " + std::to_string(job.failed_attempts) + " attempts)";
      finish_locked(job, Status(StatusCode::io_error, message));
      return;
    }
    double wait = std::max(client_.backoff_seconds(job.failed_attempts, rng_), failure.retry_after_seconds);
    job.not_before =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(wait));
    waiting_.push_back(tag);
  }

  // Takes what a finished attempt delivered into the job (samples cached and recorded, tokens and
  // cost counted); returns why it did not deliver, if it did not.
  AttemptFailure absorb(Job& job, const http::ClientResponse& response) {
    if (response.status == 0) return {"transport error: " + response.error, true, 0};
    if (response.status != 200) {
      AttemptFailure failure{"HTTP " + std::to_string(response.status) + ": " + error_summary(response.body),
                             is_retryable_status(response.status), 0};
      failure.retry_after_seconds = parse_retry_after(response.header("Retry-After"));
      return failure;
    }
    auto parsed = parse_chat_response(response.body);
    if (!parsed.is_ok()) return {"unparseable answer: " + parsed.status().message(), true, 0};
    ChatResponse& answer = parsed.value();
    account(job, answer);
    if (answer.choices.empty()) return {"unparseable answer: choices is empty", true, 0};
    return store(job, answer);
  }

  void account(const Job& job, const ChatResponse& answer) {
    double cost = answer.prompt_tokens * endpoint_.usd_per_million_prompt_tokens / 1e6 +
                  answer.completion_tokens * endpoint_.usd_per_million_completion_tokens / 1e6;
    std::lock_guard lock(client_.mutex);
    ChatResult& result = (*run_.results)[job.request_idx];
    result.prompt_tokens += answer.prompt_tokens;
    result.completion_tokens += answer.completion_tokens;
    result.cost_usd += cost;
    client_.usage.prompt_tokens += answer.prompt_tokens;
    client_.usage.completion_tokens += answer.completion_tokens;
    client_.usage.cost_usd += cost;
  }

  // Assigns the returned choices to the missing sample indices in order (extra choices beyond
  // what was asked are dropped: they were not asked for), through the cache when there is one.
  AttemptFailure store(Job& job, ChatResponse& answer) {
    size_t n_take = std::min(answer.choices.size(), job.missing.size());
    std::vector<std::pair<int, Sample>> taken;
    for (size_t pos = 0; pos < n_take; ++pos)
      taken.emplace_back(job.missing[pos], std::move(answer.choices[pos]));
    const ChatResult& result = (*run_.results)[job.request_idx];
    const std::string& model = run_.models[job.request_idx];
    if (client_.cache != nullptr) {
      Status stored = client_.cache->store(model, result.prompt_hash, endpoint_.name, taken);
      if (!stored.is_ok()) return {stored.message(), false, 0};
      // First stored wins: read back, so this result equals what any rerun will see.
      std::vector<std::optional<Sample>> kept;
      Status read = client_.cache->lookup(model, result.prompt_hash, job.missing[n_take - 1] + 1, kept);
      if (!read.is_ok()) return {read.message(), false, 0};
      for (auto& [sample_index, sample] : taken)
        if (kept[sample_index]) sample = *kept[sample_index];
    }
    std::lock_guard lock(client_.mutex);
    for (auto& [sample_index, sample] : taken)
      run_.samples[job.request_idx][sample_index] = std::move(sample);
    job.missing.erase(job.missing.begin(), job.missing.begin() + static_cast<ptrdiff_t>(n_take));
    return {};
  }

  void fail_all_waiting_locked() {
    for (size_t job_idx : waiting_) {
      std::string message = "judge budget of $" + std::to_string(client_.config.budget_usd) +
                            " is spent (spent $" + std::to_string(client_.usage.cost_usd) +
                            "); raise budget_usd and rerun: answers so far are cached";
      finish_locked(jobs_[job_idx], Status(StatusCode::interrupted, message));
    }
    waiting_.clear();
  }

  void finish_locked(Job& job, Status status) {
    ChatResult& result = (*run_.results)[job.request_idx];
    result.status = std::move(status);
    if (!result.status.is_ok()) ++client_.usage.failures;
    ++run_.n_done;
    run_.progressed.notify_all();
  }

 public:
  const std::vector<ChatRequest>* requests_ = nullptr;

 private:
  Client::Impl& client_;
  RunState& run_;
  const Endpoint& endpoint_;
  std::vector<Job> jobs_;
  std::vector<size_t> waiting_;  // jobs not in flight and not finished
  int n_in_flight_ = 0;
  Clock::time_point next_start_{};
  std::mt19937_64 rng_;
};

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::create(const Config& config) {
  SP_RETURN_IF_ERROR(validate_config(config));
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  for (size_t idx = 0; idx < impl->config.endpoints.size(); ++idx) {
    const Endpoint& endpoint = impl->config.endpoints[idx];
    impl->endpoints[endpoint.name] = &endpoint;
    if (endpoint.api_key_env.empty()) continue;
    const char* key = std::getenv(endpoint.api_key_env.c_str());
    if (key == nullptr || *key == 0)
      return not_found("endpoints[" + std::to_string(idx) + "].api_key_env: environment variable " +
                       endpoint.api_key_env + " is not set (or empty)");
    impl->keys[endpoint.name] = key;
  }
  if (!config.cache_path.empty()) {
    SP_ASSIGN_OR_RETURN(impl->cache, Cache::open(config.cache_path));
  }
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

namespace {

// Checks one request; the Status names the request and the field.
Status check_request(const ChatRequest& request, size_t idx,
                     const std::map<std::string, const Endpoint*>& endpoints) {
  std::string where = "requests[" + std::to_string(idx) + "]";
  if (!endpoints.count(request.endpoint))
    return invalid_argument(where + ".endpoint '" + request.endpoint + "' is not in the judge config");
  if (request.messages.empty()) return invalid_argument(where + ".messages is empty");
  if (request.n < 1 || request.n > 128) return invalid_argument(where + ".n must be in [1, 128]");
  if (request.max_tokens < 1) return invalid_argument(where + ".max_tokens must be >= 1");
  if (!(request.temperature >= 0)) return invalid_argument(where + ".temperature must be >= 0");
  return Status::ok();
}

}  // namespace

std::vector<ChatResult> Client::run(const std::vector<ChatRequest>& requests,
                                    const std::function<void(size_t, size_t)>& progress) {
  Impl& impl = *impl_;
  std::vector<ChatResult> results(requests.size());
  RunState state;
  state.results = &results;
  state.samples.resize(requests.size());
  state.models.resize(requests.size());
  std::map<std::string, std::vector<Job>> jobs_by_endpoint;

  // 1. plan
  for (size_t idx = 0; idx < requests.size(); ++idx) {
    const ChatRequest& request = requests[idx];
    ChatResult& result = results[idx];
    Status checked = check_request(request, idx, impl.endpoints);
    std::lock_guard lock(impl.mutex);
    if (!checked.is_ok()) {
      result.status = checked;
      ++impl.usage.failures;
      ++state.n_done;
      continue;
    }
    const Endpoint* endpoint = impl.endpoints.at(request.endpoint);
    state.models[idx] = endpoint->model;
    result.prompt_hash = prompt_hash(endpoint->model, request);
    auto& samples = state.samples[idx];
    samples.assign(static_cast<size_t>(request.n), std::nullopt);
    if (impl.cache != nullptr) {
      Status looked = impl.cache->lookup(endpoint->model, result.prompt_hash, request.n, samples);
      if (!looked.is_ok()) {
        result.status = looked;
        ++impl.usage.failures;
        ++state.n_done;
        continue;
      }
    }
    Job job;
    job.request_idx = idx;
    job.endpoint = endpoint;
    for (int sample_idx = 0; sample_idx < request.n; ++sample_idx)
      if (!samples[sample_idx]) job.missing.push_back(sample_idx);
    if (job.missing.empty()) {
      result.cached = true;
      ++impl.usage.cached;
      ++state.n_done;
      continue;
    }
    jobs_by_endpoint[endpoint->name].push_back(std::move(job));
  }

  // 2. one thread per endpoint with work
  std::vector<std::unique_ptr<EndpointRunner>> runners;
  std::vector<std::thread> threads;
  for (auto& [name, jobs] : jobs_by_endpoint) {
    runners.push_back(
        std::make_unique<EndpointRunner>(impl, state, *impl.endpoints.at(name), std::move(jobs)));
    runners.back()->requests_ = &requests;
  }
  for (auto& runner : runners) threads.emplace_back([r = runner.get()] { r->run(); });

  // 3. wait, report progress, assemble
  {
    std::unique_lock lock(impl.mutex);
    size_t reported = static_cast<size_t>(-1);
    while (true) {
      size_t n_done = state.n_done;
      if (progress && n_done != reported) {
        lock.unlock();
        progress(n_done, requests.size());
        lock.lock();
        reported = n_done;
      }
      if (state.n_done == requests.size()) break;
      state.progressed.wait(lock);
    }
  }
  for (auto& thread : threads) thread.join();
  for (size_t idx = 0; idx < requests.size(); ++idx) {
    ChatResult& result = results[idx];
    if (!result.status.is_ok()) continue;
    for (auto& sample : state.samples[idx]) {
      SP_CHECK_MSG(sample.has_value(), "an ok judge result lacks a sample");
      result.samples.push_back(std::move(*sample));
    }
  }
  return results;
}

Usage Client::usage() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->usage;
}

const Config& Client::config() const {
  return impl_->config;
}

}  // namespace synpref::judge
