// synpref/judge/sim.h: judge-sim, an OpenAI-compatible server that plays several noisy LLM judges
// on `synpref data synth` pools, knowing their ground truth (`synpref judge-sim`, the tests, the
// benchmark and the demo drive the real judge client against it over loopback HTTP).
//
//   judge::SimOptions options;             // pool = data::synth_record(options.synth, split, i)
//   options.judges = {{.model = "judge-a", .accuracy = 0.9}, {.model = "judge-b", .accuracy = 0.7}};
//   SP_ASSIGN_OR_RETURN(auto sim, judge::Sim::create(options));
//   std::thread t([&] { (void)sim->run(); });  ... sim->port() ...  sim->stop(); t.join();
//
// Routes: POST /v1/chat/completions (the OpenAI chat-completions protocol: choices[].message.content,
// finish_reason, logprobs when asked, usage), GET /v1/models. Each model name served is one judge.
//
// Recognizing the pair (docs/judge.md, "judge-sim protocol"): the sim regenerates the synth pool
// (train and test splits) and indexes every response by its first line. In the last user message
// it finds the pool responses that start at the beginning of a line; the LAST two of them that
// form a pool pair are the target (gold examples placed before the target are ignored), the
// earlier one being Candidate 1. A prompt without a recognizable pair gets HTTP 400 naming why.
//
// Answers:
//  - attribute requests (the last user message contains "task_category"): a JSON object with
//    task_category, objectivity, controversiality, desired_attributes, annotation_guideline;
//  - verdict requests (everything else): with a json_schema response_format, {"preferred": 1|2};
//    otherwise one reasoning line naming the sample ("Reasoning (sample 3): ...") then the final
//    line "Preferred: Candidate 1" (or 2). The sample number lets tests tell samples apart.
//
// Noise per judge: the judge is sure with probability `accuracy` (per-category overrides) and then
// answers correctly; unsure, it answers Candidate 1 with probability `position_bias`. So its
// agreement with the truth is accuracy + (1 - accuracy) * (position_bias or 1 - position_bias).
// Refusals and garbage replace the content of a choice; 429, 500, garbage bodies and mid-body
// disconnects replace the whole answer.
//
// Determinism: a choice's content is a pure function of (seed, model, the request's messages,
// sample index). At temperature 0 every choice is sample 0 (greedy); above 0 the sample index is
// the number of choices already served for the same (model, messages), so asking again for the
// missing samples yields new ones. Faults are drawn from (seed, model, messages, attempt number
// for that request body): a retry of a failed request draws afresh. Latency is drawn from the
// same fault stream (exponential with mean latency_ms).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "synpref/common/status.h"
#include "synpref/data/synthetic.h"

namespace synpref::judge {

struct SimJudge {
  std::string model;                                              // the "model" name it answers to
  double accuracy = 0.85;                                         // P(sure) on a verdict
  std::vector<std::pair<std::string, double>> category_accuracy;  // overrides by task category
  double position_bias = 0.5;                                     // P(answers Candidate 1 | unsure)
  double attribute_accuracy = 0.9;  // P(an attribute answer names the true task category)
  double refusal_rate = 0;          // P(a choice is a refusal instead of an answer)
  double garbage_rate = 0;          // P(a choice's content follows no protocol)
};

struct SimOptions {
  data::SynthOptions synth;           // the pool it knows: same fields as `synpref data synth`
  std::vector<SimJudge> judges;       // empty = judge-a (0.9), judge-b (0.8), judge-c (0.7)
  uint64_t seed = 1;                  // noise seed (independent of synth.seed)
  double latency_ms = 0;              // mean added latency per request
  double rate_429 = 0, rate_500 = 0;  // per request
  double rate_garbage_body = 0;       // a 200 whose body is not JSON
  double rate_disconnect = 0;         // a 200 cut off mid-body (connection dropped)
  double retry_after_seconds = 1;     // Retry-After sent with a 429 (0 = no header)
  std::string api_key;                // "" = no auth; else "Authorization: Bearer <api_key>" required
  std::string host = "127.0.0.1";
  int port = 0;
  int n_threads = 128;          // connection threads: at least the clients' total concurrency
  bool record_choices = false;  // keep every choice served (tests: served_choices())
};

// One choice the sim put in a response (recorded when SimOptions::record_choices).
struct ServedChoice {
  std::string model;
  uint64_t prompt_key = 0;  // hash64 (common/hash.h) of the request's last user message
  uint64_t sample_index = 0;
  std::string content;
  bool delivered = true;  // false: its response was cut off mid-body on purpose
};

// Counters since create(); `requests` counts POST /v1/chat/completions.
struct SimStats {
  int64_t requests = 0, answered = 0, choices = 0;
  int64_t rate_limited = 0, server_errors = 0, garbage_bodies = 0, disconnects = 0;
  int64_t refusals = 0, garbage_choices = 0, unrecognized = 0, unauthorized = 0;
};

class Sim {
 public:
  // Regenerates and indexes the pool, binds the socket (port() is known on return).
  // Errors name the SimOptions field ("judges[1].accuracy must be in [0, 1]").
  static Result<std::unique_ptr<Sim>> create(const SimOptions& options);
  ~Sim();
  Sim(const Sim&) = delete;
  Sim& operator=(const Sim&) = delete;

  int port() const;
  std::string base_url() const;  // "http://HOST:PORT/v1"
  Status run();                  // serves until stop()
  void stop();                   // thread-safe, idempotent
  SimStats stats() const;
  std::vector<ServedChoice> served_choices() const;
  const std::vector<SimJudge>& judges() const;
  int64_t pool_pairs() const;  // pairs indexed (train + test)

  struct Impl;

 private:
  explicit Sim(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Parses "key=value,..." judge specs as the CLI takes them: "judge-a:accuracy=0.9,position_bias=0.6,
// refusal=0.01,garbage=0.01,attribute_accuracy=0.9,category.math=0.5". Errors name the key.
Result<SimJudge> parse_sim_judge(const std::string& spec);

}  // namespace synpref::judge
