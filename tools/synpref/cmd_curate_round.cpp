// `synpref curate round`: stage-1 rounds of the human-in-the-loop loop (synpref/curate/round.h):
// train an RM on silver, score gold, retrieve the neighbours of its errors, label them, record.
// This file parses flags, opens the project and the judge client, calls the library and prints.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "command.h"
#include "curate_cli.h"
#include "synpref/curate/round.h"

namespace synpref::cli {
namespace {

using nlohmann::json;

void print_round(const curate::RoundSummary& s) {
  std::printf("round %d: RM %s (step %llu), gold accuracy %.3f (%lld/%lld)\n", s.round, s.rm_name.c_str(),
              (unsigned long long)s.rm_step, s.gold_accuracy, (long long)s.gold_correct,
              (long long)s.gold_pairs);
  std::string field;
  for (const auto& w : s.weaknesses) {
    if (w.field != field) {
      field = w.field;
      std::printf("  %s:", field.c_str());
    }
    std::printf(" %s %.2f (%lld)", w.value.empty() ? "(none)" : w.value.c_str(), w.accuracy,
                (long long)w.gold);
    if (&w == &s.weaknesses.back() || (&w + 1)->field != field) std::printf("\n");
  }
  std::printf(
      "  retrieved %lld pairs for %lld gold errors (index %s of %lld), labeled %lld; silver %lld -> %lld\n",
      (long long)s.retrieved, (long long)s.queries_wrong, s.index_kind.c_str(), (long long)s.index_size,
      (long long)s.label.labeled, (long long)s.silver_before, (long long)s.silver_after);
  std::printf("  summary: %s\n", s.summary_path.c_str());
}

void add_round(CLI::App* curate_cmd) {
  struct Flags {
    std::string dir, judges, embedding = "rm", embed_url, embed_model, embed_key_env, index = "hnsw",
                             stage = "stage1";
    std::vector<std::string> judge;
    int rounds = 1, k_max = 8, n = 3;
    int64_t seed_pairs = 0, exact_threshold = 50000;
    uint64_t seed = 0;
    train::TrainOptions train;
  };
  auto flags = std::make_shared<Flags>();
  flags->train.lr = 3e-3;
  flags->train.batch_pairs = 16;
  flags->train.max_steps = 300;
  flags->train.epochs = 100;
  flags->train.micro_batch_tokens = 2048;
  auto* cmd = curate_cmd->add_subcommand(
      "round",
      "Stage-1 rounds: train an RM on silver, pick the checkpoint by gold accuracy, retrieve the "
      "neighbours of gold pairs it gets wrong, label them with the judges; resumable");
  cmd->add_option("dir", flags->dir, "Project folder")->required();
  cmd->add_option("--judges", flags->judges, "Judge config (JSON, docs/judge.md)")->required();
  cmd->add_option("--judge", flags->judge, "Endpoint names of the panel (default: every endpoint)");
  cmd->add_option("--n", flags->n, "Samples per judge")->capture_default_str();
  cmd->add_option("--rounds", flags->rounds, "Rounds to run (each resumes the next unfinished one)")
      ->capture_default_str();
  cmd->add_option("--k-max", flags->k_max, "Neighbours of a gold pair the RM gets wrong")
      ->capture_default_str();
  cmd->add_option("--seed-pairs", flags->seed_pairs, "Pairs to label first when the silver set is empty")
      ->capture_default_str();
  cmd->add_option("--stage", flags->stage, "Name of the rounds' stage")->capture_default_str();
  cmd->add_option("--seed", flags->seed, "Seed (seed pairs, judge prompts)")->capture_default_str();
  // The RM recipe (as `synpref train`).
  cmd->add_option("--model-init", flags->train.model_init, "HF folder or preset:<name>")->required();
  cmd->add_option("--tokenizer", flags->train.tokenizer_dir, "Tokenizer folder")->required();
  cmd->add_option("--hidden-size", flags->train.hidden_size, "From-scratch shape override");
  cmd->add_option("--intermediate-size", flags->train.intermediate_size, "From-scratch shape override");
  cmd->add_option("--layers", flags->train.n_layer, "From-scratch shape override");
  cmd->add_option("--heads", flags->train.n_head, "From-scratch shape override");
  cmd->add_option("--kv-heads", flags->train.n_head_kv, "From-scratch shape override");
  cmd->add_option("--head-dim", flags->train.head_dim, "From-scratch shape override");
  cmd->add_option("--steps", flags->train.max_steps, "Training steps per round")->capture_default_str();
  cmd->add_option("--lr", flags->train.lr, "Peak learning rate")->capture_default_str();
  cmd->add_option("--batch-size", flags->train.batch_pairs, "Pairs per step")->capture_default_str();
  cmd->add_option("--micro-batch-tokens", flags->train.micro_batch_tokens, "Token budget per pass")
      ->capture_default_str();
  cmd->add_option("--eval-every", flags->train.eval_every, "Steps between gold evaluations (0 = steps/10)")
      ->capture_default_str();
  cmd->add_option("--date", flags->train.date, "Chat-template date (YYYY-MM-DD)");
  cmd->add_option("--threads", flags->train.threads, "Threads (0 = all cores)")->capture_default_str();
  // Retrieval.
  cmd->add_option("--embedding", flags->embedding, "rm (the round's RM pooled hidden state) or endpoint")
      ->capture_default_str();
  cmd->add_option("--embed-url", flags->embed_url,
                  "OpenAI-compatible base URL (.../v1) for --embedding endpoint");
  cmd->add_option("--embed-model", flags->embed_model, "Embedding model name (e.g. jina-embeddings-v3)");
  cmd->add_option("--embed-key-env", flags->embed_key_env, "Environment variable holding the API key");
  cmd->add_option("--exact-threshold", flags->exact_threshold, "Exact search below this many pairs")
      ->capture_default_str();
  cmd->add_option("--index", flags->index, "Approximate index above the threshold: hnsw or ivf")
      ->capture_default_str();
  cmd->callback([flags] {
    set_action([flags]() -> Status {
      curate::RoundOptions o;
      o.train = flags->train;
      o.train.progress = false;
      o.label.judges = flags->judge;
      o.label.n = flags->n;
      o.label.seed = flags->seed;
      o.embedding = flags->embedding;
      o.endpoint.base_url = flags->embed_url;
      o.endpoint.model = flags->embed_model;
      o.endpoint.api_key_env = flags->embed_key_env;
      o.index.exact_threshold = flags->exact_threshold;
      o.index.approximate = flags->index;
      o.k_max = flags->k_max;
      o.stage = flags->stage;
      o.seed_pairs = flags->seed_pairs;
      o.seed = flags->seed;
      if (flags->rounds < 1) return invalid_argument("--rounds must be >= 1");
      SP_ASSIGN_OR_RETURN(auto project, curate::Project::open(flags->dir));
      SP_ASSIGN_OR_RETURN(auto client, open_judges(*project, flags->judges));
      json rounds = json::array();
      for (int r = 0; r < flags->rounds; ++r) {
        auto summary =
            curate::run_round(*project, *client, o, [](const std::string& phase, size_t done, size_t total) {
              if (global_options().quiet) return;
              std::fprintf(stderr, "\r%-12s %zu/%zu   ", phase.c_str(), done, total);
              std::fflush(stderr);
            });
        if (!global_options().quiet) std::fprintf(stderr, "\n");
        if (!summary.is_ok()) return summary.status();
        if (global_options().json) {
          rounds.push_back(json::parse(curate::round_summary_json(*summary)));
        } else {
          print_round(*summary);
        }
      }
      if (global_options().json)
        std::printf("%s\n", json{{"command", "curate round"}, {"rounds", rounds}}.dump().c_str());
      return Status::ok();
    });
  });
}

void add_curate_round(CLI::App& app) {
  add_round(app.get_subcommand("curate"));
}

}  // namespace
SYNPREF_COMMAND(720, add_curate_round);
}  // namespace synpref::cli
