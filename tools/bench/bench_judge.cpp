// Judge-client workloads: throughput of judge::Client against an in-process judge-sim over
// loopback HTTP with 64 requests in flight, and the label check (none lost, duplicated or wrong).
//   judge.client         no faults (params: requests=4000, concurrency=64, n=2)
//   judge.client.faults  5% 429 (Retry-After 0.01 s), 5% 500, 5% mid-body disconnects, 2% garbage
//                        bodies (params: the same)
#include <chrono>
#include <memory>
#include <set>
#include <thread>

#include "bench.h"
#include "synpref/data/synthetic.h"
#include "synpref/judge/client.h"
#include "synpref/judge/sim.h"

namespace synpref::bench {
namespace {

using Clock = std::chrono::steady_clock;

// A judge-sim serving from its own thread for the life of the workload.
struct SimServer {
  std::unique_ptr<judge::Sim> sim;
  std::thread thread;
  ~SimServer() {
    if (sim) sim->stop();
    if (thread.joinable()) thread.join();
  }
};

struct Job {
  std::vector<judge::ChatRequest> requests;
  std::vector<int> truth;  // the candidate the ground truth prefers, per request
};

// One verdict request per pool pair, candidates in alternating order (judge-sim's protocol:
// each candidate starts on its own line, the verdict comes back as "Preferred: Candidate N").
Job make_requests(const data::SynthOptions& pool, size_t n_requests, int n_samples) {
  Job job;
  for (size_t idx = 0; idx < n_requests; ++idx) {
    data::Record record = data::synth_record(pool, "train", idx);
    const bool swap = idx % 2 == 1;
    std::string prompt =
        "Which candidate answers the user better? End with 'Preferred: Candidate N'.\n\n[User]\n";
    for (const auto& turn : record.context) prompt += turn.content + "\n";
    prompt += "\n[Candidate 1]\n" + record.responses[swap ? 1 : 0].content + "\n\n[Candidate 2]\n" +
              record.responses[swap ? 0 : 1].content + "\n";
    judge::ChatRequest request;
    request.endpoint = "oracle";
    request.messages = {{"system", "You are a careful judge."}, {"user", prompt}};
    request.n = n_samples;
    request.temperature = 0.7;
    job.requests.push_back(std::move(request));
    job.truth.push_back(swap ? 2 : 1);
  }
  return job;
}

int parse_verdict(const std::string& content) {
  const std::string tail = "Preferred: Candidate ";
  if (content.size() < tail.size() + 1 ||
      content.compare(content.size() - tail.size() - 1, tail.size(), tail) != 0)
    return 0;
  return content.back() - '0';
}

long sample_number(const std::string& content) {
  const std::string tag = "Reasoning (sample ";
  return content.starts_with(tag) ? std::strtol(content.c_str() + tag.size(), nullptr, 10) : -1;
}

Result<RunOnce> setup_client(Context& ctx, bool faults) {
  const size_t n_requests = static_cast<size_t>(ctx.param("requests", 4000));
  const int concurrency = static_cast<int>(ctx.param("concurrency", 64));
  const int n_samples = static_cast<int>(ctx.param("n", 2));
  judge::SimOptions options;
  options.synth.train_pairs = n_requests;
  options.synth.test_pairs = 1;
  options.judges = {{.model = "oracle", .accuracy = 1.0}};
  options.n_threads = concurrency + 16;
  if (faults) {
    options.rate_429 = 0.05;
    options.retry_after_seconds = 0.01;
    options.rate_500 = 0.05;
    options.rate_disconnect = 0.05;
    options.rate_garbage_body = 0.02;
  }
  auto server = std::make_shared<SimServer>();
  SP_ASSIGN_OR_RETURN(server->sim, judge::Sim::create(options));
  server->thread = std::thread([s = server.get()] { (void)s->sim->run(); });

  judge::Config config;
  judge::Endpoint endpoint;
  endpoint.name = endpoint.model = "oracle";
  endpoint.base_url = server->sim->base_url();
  endpoint.max_concurrency = concurrency;
  endpoint.max_retries = 10;
  config.endpoints.push_back(endpoint);
  config.backoff_initial_seconds = 0.005;
  config.backoff_max_seconds = 0.05;
  auto job = std::make_shared<Job>(make_requests(options.synth, n_requests, n_samples));

  return RunOnce([server, config, job, n_samples]() -> Result<std::vector<Metric>> {
    SP_ASSIGN_OR_RETURN(auto client, judge::Client::create(config));  // no cache: every label is fetched
    const auto start = Clock::now();
    std::vector<judge::ChatResult> results = client->run(job->requests);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    // The label check: each request must hold exactly n samples, all distinct draws, all right.
    int64_t lost = 0, duplicated = 0, wrong = 0;
    for (size_t idx = 0; idx < results.size(); ++idx) {
      if (!results[idx].status.is_ok() || results[idx].samples.size() != static_cast<size_t>(n_samples)) {
        lost += n_samples;
        continue;
      }
      std::set<long> numbers;
      for (const judge::Sample& sample : results[idx].samples) {
        if (!numbers.insert(sample_number(sample.content)).second) ++duplicated;
        if (parse_verdict(sample.content) != job->truth[idx]) ++wrong;
      }
    }
    judge::Usage usage = client->usage();
    const double n = static_cast<double>(results.size());
    return std::vector<Metric>{{"requests/s", n / seconds, "req/s"},
                               {"labels/s", n * n_samples / seconds, "labels/s"},
                               {"HTTP attempts", static_cast<double>(usage.requests), "", false},
                               {"retries", static_cast<double>(usage.retries), "", false},
                               {"lost labels", static_cast<double>(lost), "", false},
                               {"duplicated labels", static_cast<double>(duplicated), "", false},
                               {"wrong labels (oracle judge)", static_cast<double>(wrong), "", false}};
  });
}

SYNPREF_WORKLOAD(
    "judge.client",
    "judge client vs in-process judge-sim, 64 in flight; label check (params: requests=4000, "
    "concurrency=64, n=2)",
    [](Context& ctx) { return setup_client(ctx, false); }, 5);
SYNPREF_WORKLOAD(
    "judge.client.faults",
    "as judge.client with 5% 429, 5% 500, 5% disconnects, 2% garbage bodies (same params)",
    [](Context& ctx) { return setup_client(ctx, true); }, 5);

}  // namespace
}  // namespace synpref::bench
