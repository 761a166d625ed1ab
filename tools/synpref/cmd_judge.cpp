// `synpref judge-sim`: serve simulated LLM judges for a `data synth` pool (synpref/judge/sim.h);
// `synpref judge check CONFIG`: validate a judge config and ask each endpoint for its models.
// Flags map to SimOptions / judge::Config fields; the work is in the judge library.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "command.h"
#include "synpref/http/client.h"
#include "synpref/judge/client.h"
#include "synpref/judge/sim.h"

namespace synpref::cli {
namespace {

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) items.push_back(item);
  return items;
}

struct SimFlags {
  judge::SimOptions options;
  std::vector<std::string> judge_specs;
  std::string categories, api_key_env;
};

// Field names in library errors -> the flags that set them.
Status with_flag_names(Status status) {
  static const std::pair<const char*, const char*> kFlags[] = {
      {"rate_429", "--rate-429"},
      {"rate_500", "--rate-500"},
      {"rate_garbage_body", "--rate-garbage-body"},
      {"rate_disconnect", "--rate-disconnect"},
      {"latency_ms", "--latency-ms"},
      {"retry_after_seconds", "--retry-after"},
      {"judges[", "--judge"},
  };
  if (status.is_ok()) return status;
  for (const auto& [field, flag] : kFlags)
    if (status.message().find(field) != std::string::npos)
      return Status(status.code(), status.message() + " (set with " + flag + ")");
  return status;
}

Status run_sim(SimFlags& f) {
  // SIGINT/SIGTERM are taken by sigwait below: block them before any thread exists so that every
  // thread inherits the mask and the signal reaches the waiting main thread.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  judge::SimOptions options = f.options;
  options.synth.categories = split_commas(f.categories);
  for (const std::string& spec : f.judge_specs) {
    SP_ASSIGN_OR_RETURN(judge::SimJudge judge, judge::parse_sim_judge(spec));
    options.judges.push_back(judge);
  }
  if (!f.api_key_env.empty()) {
    const char* key = std::getenv(f.api_key_env.c_str());
    if (key == nullptr || *key == 0)
      return not_found("environment variable " + f.api_key_env + " (--api-key-env) is not set");
    options.api_key = key;
  }
  auto created = judge::Sim::create(options);
  if (!created.is_ok()) return with_flag_names(created.status());
  std::unique_ptr<judge::Sim> sim = std::move(created).value();

  // First line of stdout: where to connect (tests and scripts read it).
  std::printf("listening on http://%s:%d\n", options.host.c_str(), sim->port());
  std::fflush(stdout);
  if (!global_options().quiet) {
    std::fprintf(stderr, "judge-sim: %lld pool pairs; judges:", static_cast<long long>(sim->pool_pairs()));
    for (const judge::SimJudge& j : sim->judges())
      std::fprintf(stderr, " %s (accuracy %.2f, position bias %.2f)", j.model.c_str(), j.accuracy,
                   j.position_bias);
    std::fprintf(stderr, "; base_url %s\n", sim->base_url().c_str());
  }

  Status served;
  const pthread_t main_thread = pthread_self();
  std::thread server([&] {
    served = sim->run();
    if (!served.is_ok()) pthread_kill(main_thread, SIGTERM);  // wake the waiting main thread
  });
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  sim->stop();
  server.join();
  SP_RETURN_IF_ERROR(served);

  judge::SimStats s = sim->stats();
  nlohmann::ordered_json j = {{"command", "judge-sim"},
                              {"requests", s.requests},
                              {"answered", s.answered},
                              {"choices", s.choices},
                              {"rate_limited", s.rate_limited},
                              {"server_errors", s.server_errors},
                              {"garbage_bodies", s.garbage_bodies},
                              {"disconnects", s.disconnects},
                              {"refusals", s.refusals},
                              {"garbage_choices", s.garbage_choices},
                              {"unrecognized", s.unrecognized},
                              {"unauthorized", s.unauthorized}};
  if (global_options().json)
    std::printf("%s\n", j.dump().c_str());
  else
    std::fprintf(stderr, "judge-sim: stopped after %lld requests (%lld answered, %lld choices)\n",
                 static_cast<long long>(s.requests), static_cast<long long>(s.answered),
                 static_cast<long long>(s.choices));
  return Status::ok();
}

void add_sim(CLI::App& app) {
  auto f = std::make_shared<SimFlags>();
  judge::SimOptions& o = f->options;
  auto* cmd = app.add_subcommand(
      "judge-sim",
      "Serve simulated LLM judges (OpenAI-compatible /v1/chat/completions) that know the ground truth of a "
      "`data synth` pool; prints 'listening on http://HOST:PORT' first; stops on SIGINT/SIGTERM");
  cmd->add_option("--host", o.host, "Address to bind")->capture_default_str();
  cmd->add_option("--port", o.port, "Port (0 = any free port)")->capture_default_str();
  cmd->add_option("--threads", o.n_threads, "Connection threads (>= the clients' total concurrency)")
      ->capture_default_str();
  cmd->add_option(
      "--judge", f->judge_specs,
      "A judge: MODEL[:accuracy=0.85,position_bias=0.5,attribute_accuracy=0.9,refusal=0,garbage=0,"
      "category.<name>=<accuracy>] (repeat; default judge-a 0.9, judge-b 0.8, judge-c 0.7)");
  cmd->add_option("--train", o.synth.train_pairs, "Pool: training pairs (as `data synth --train`)")
      ->capture_default_str();
  cmd->add_option("--test", o.synth.test_pairs, "Pool: test pairs (as `data synth --test`)")
      ->capture_default_str();
  cmd->add_option("--seed", o.synth.seed, "Pool: seed (as `data synth --seed`)")->capture_default_str();
  cmd->add_option("--categories", f->categories, "Pool: categories (as `data synth --categories`)");
  cmd->add_option("--operand-max", o.synth.operand_max, "Pool: difficulty (as `data synth --operand-max`)")
      ->capture_default_str();
  cmd->add_option("--noise-seed", o.seed, "Seed of the judges' noise and the faults")->capture_default_str();
  cmd->add_option("--latency-ms", o.latency_ms, "Mean added latency per request (exponential)")
      ->capture_default_str();
  cmd->add_option("--rate-429", o.rate_429, "Fraction of requests answered 429")->capture_default_str();
  cmd->add_option("--retry-after", o.retry_after_seconds, "Retry-After seconds sent with a 429 (0 = none)")
      ->capture_default_str();
  cmd->add_option("--rate-500", o.rate_500, "Fraction of requests answered 500")->capture_default_str();
  cmd->add_option("--rate-garbage-body", o.rate_garbage_body, "Fraction answered 200 with a non-JSON body")
      ->capture_default_str();
  cmd->add_option("--rate-disconnect", o.rate_disconnect, "Fraction cut off mid-body")->capture_default_str();
  cmd->add_option("--api-key-env", f->api_key_env,
                  "Require 'Authorization: Bearer <key>' with the key from this environment variable");
  cmd->callback([f] { set_action([f] { return run_sim(*f); }); });
}

// `synpref judge check CONFIG`: the config parses, the keys are set, and every endpoint answers
// GET <base_url>/models listing its model.
Status run_check(const std::string& config_path) {
  SP_ASSIGN_OR_RETURN(judge::Config config, judge::load_config(config_path));
  SP_ASSIGN_OR_RETURN(auto client, judge::Client::create(config));  // checks the key variables
  std::vector<http::ClientRequest> requests;
  for (const judge::Endpoint& e : config.endpoints) {
    http::ClientRequest r;
    r.method = "GET";
    r.url = e.base_url + "/models";
    r.timeout_seconds = std::min(e.timeout_seconds, 30.0);
    if (!e.api_key_env.empty())
      r.headers.emplace_back("Authorization", std::string("Bearer ") + std::getenv(e.api_key_env.c_str()));
    requests.push_back(r);
  }
  auto responses = http::perform_all(requests, {.max_concurrency = 16});
  nlohmann::ordered_json report = nlohmann::ordered_json::array();
  int n_bad = 0;
  for (size_t idx = 0; idx < config.endpoints.size(); ++idx) {
    const judge::Endpoint& e = config.endpoints[idx];
    const http::ClientResponse& r = responses[idx];
    std::string state = "ok";
    if (r.status != 200) {
      state = r.status == 0 ? "unreachable: " + r.error : "HTTP " + std::to_string(r.status);
    } else {
      auto listed = nlohmann::json::parse(r.body, nullptr, false);
      bool found = false;
      if (listed.is_object() && listed.contains("data") && listed["data"].is_array())
        for (const auto& m : listed["data"])
          if (m.is_object() && m.value("id", "") == e.model) found = true;
      if (!found) state = "model '" + e.model + "' not listed by the server";
    }
    n_bad += state != "ok";
    report.push_back({{"endpoint", e.name}, {"base_url", e.base_url}, {"model", e.model}, {"state", state}});
    if (!global_options().json)
      std::printf("%-32s %-40s %s\n", e.name.c_str(), e.base_url.c_str(), state.c_str());
  }
  if (global_options().json) std::printf("%s\n", report.dump().c_str());
  if (n_bad > 0)
    return io_error(std::to_string(n_bad) + " of " + std::to_string(config.endpoints.size()) +
                    " judge endpoints are not usable (see above)");
  return Status::ok();
}

void add_judge(CLI::App& app) {
  auto* judge_cmd = app.add_subcommand("judge", "LLM judges over OpenAI-compatible HTTP endpoints");
  judge_cmd->require_subcommand(1);
  auto config_path = std::make_shared<std::string>();
  auto* check =
      judge_cmd->add_subcommand("check", "Validate a judge config and reach every endpoint's /models");
  check->add_option("config", *config_path, "Judge config file (JSON; see docs/judge.md)")->required();
  check->callback([config_path] { set_action([config_path] { return run_check(*config_path); }); });
}

SYNPREF_COMMAND(700, add_sim);
SYNPREF_COMMAND(701, add_judge);

}  // namespace
}  // namespace synpref::cli
