// `synpref train` (Bradley-Terry reward-model training) and `synpref data synth` (verifiable
// synthetic preference pairs).
#include <signal.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "command.h"
#include "synpref/data/synthetic.h"
#include "synpref/report/pages.h"
#include "synpref/train/dist.h"
#include "synpref/train/trainer.h"

namespace synpref::cli {
namespace {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

// The library names TrainOptions fields in backticks ("`out_dir` is required"); the CLI speaks flags.
const std::map<std::string, std::string>& field_flags() {
  static const std::map<std::string, std::string> kFlags = {
      {"model_init", "--model-init"},
      {"tokenizer_dir", "--tokenizer"},
      {"data", "--data"},
      {"eval_data", "--eval-data"},
      {"out_dir", "--out"},
      {"lr", "--lr"},
      {"max_grad_norm", "--max-grad-norm"},
      {"schedule", "--schedule"},
      {"batch_pairs", "--batch-size"},
      {"micro_batch_tokens", "--micro-batch-tokens"},
      {"hidden_size", "--hidden-size"},
      {"n_head", "--heads"},
      {"n_head_kv", "--kv-heads"},
      {"best_metric", "--best-metric"},
      {"save_every", "--save-every"},
      {"save_every_seconds", "--save-every-seconds"},
      {"resume", "--resume"},
      {"overwrite", "--overwrite"},
  };
  return kFlags;
}

// Replaces every `field` of a library message with its flag (unknown names keep their backticks).
Status with_flag_names(const Status& status) {
  if (status.is_ok()) return status;
  const std::string& m = status.message();
  std::string out;
  size_t pos = 0;
  while (pos < m.size()) {
    const size_t open = m.find('`', pos), close = open == std::string::npos ? open : m.find('`', open + 1);
    if (close == std::string::npos) break;
    const auto flag = field_flags().find(m.substr(open + 1, close - open - 1));
    out += m.substr(pos, open - pos);
    out += flag != field_flags().end() ? flag->second : m.substr(open, close - open + 1);
    pos = close + 1;
  }
  out += m.substr(pos);
  return Status(status.code(), out);
}

// SIGINT/SIGTERM ask the trainer to save at the next step boundary and stop; the handler is
// one-shot (SA_RESETHAND), so a second signal ends the process at once.
std::atomic<bool> g_stop_requested{false};
extern "C" void on_stop_signal(int) {
  g_stop_requested.store(true);
}
void install_stop_handlers() {
  struct sigaction sa = {};
  sa.sa_handler = on_stop_signal;
  sa.sa_flags = SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

void print_finished(const train::TrainSummary& s, const std::string& out_dir) {
  if (global_options().json) {
    nlohmann::ordered_json j;
    j["command"] = "train";
    j["already_finished"] = true;
    j["steps"] = s.steps;
    j["final_dir"] = s.final_dir;
    j["metrics"] = s.metrics_path;
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::fprintf(stderr, "train: %s already finished (%llu steps); nothing to resume. Model: %s\n",
                 out_dir.c_str(), static_cast<unsigned long long>(s.steps), s.final_dir.c_str());
  }
}

Status run_train(train::TrainOptions options) {
  install_stop_handlers();
  options.stop_requested = [] { return g_stop_requested.load(); };
  auto result = train::run_training(options);
  if (!result.is_ok()) {
    // A run stopped by a signal saved a checkpoint: its page shows the curves so far (best effort;
    // the stop message is what matters here).
    if (result.status().code() == StatusCode::interrupted && train::Communicator::world().is_root())
      (void)report::write_train_report(options.out_dir);
    return with_flag_names(result.status());
  }
  const train::TrainSummary& s = *result;
  if (!train::Communicator::world().is_root()) return Status::ok();
  if (s.already_finished) {
    print_finished(s, options.out_dir);
    return Status::ok();
  }
  // The training report page (docs/reports.md), from the metrics.jsonl and summary.json just written.
  auto page = report::write_train_report(options.out_dir);
  if (!page.is_ok()) {
    const std::string retry = "synpref report train " + options.out_dir;
    return page.status().with_context("train: the run finished (model in " + s.final_dir +
                                      ") but its report page was not written; retry with `" + retry + "`");
  }
  nlohmann::ordered_json j;
  j["command"] = "train";
  j["steps"] = s.steps;
  j["resumed_from"] = s.resumed_from;
  j["world_size"] = s.world_size;
  j["pairs"] = s.pairs;
  j["params"] = s.n_params;
  j["trainable_params"] = s.n_trainable;
  j["tokens"] = s.tokens;
  j["seconds"] = s.seconds;
  j["tokens_per_s"] = s.tokens_per_s;
  j["first_loss"] = s.first_loss;
  j["last_loss"] = s.last_loss;
  if (s.eval_pairs > 0) {
    j["eval_pairs"] = s.eval_pairs;
    j["eval_loss"] = s.eval_loss;
    j["eval_accuracy"] = s.eval_accuracy;
    nlohmann::ordered_json cats = nlohmann::ordered_json::object();
    for (const auto& [name, a] : s.eval_accuracy_by_category) cats[name] = a;
    j["eval_accuracy_by_category"] = cats;
    j["best_step"] = s.best_step;
    j["best_dir"] = s.best_dir;
  }
  j["final_dir"] = s.final_dir;
  j["metrics"] = s.metrics_path;
  j["report"] = *page;
  if (global_options().json) {
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::fprintf(stderr, "train: %llu steps on %llu pairs (%d process%s), %.0f tokens/s; loss %.4f -> %.4f\n",
                 static_cast<unsigned long long>(s.steps), static_cast<unsigned long long>(s.pairs),
                 s.world_size, s.world_size == 1 ? "" : "es", s.tokens_per_s, s.first_loss, s.last_loss);
    if (s.eval_pairs > 0)
      std::fprintf(stderr, "train: held-out %llu pairs: accuracy %.4f, loss %.4f (best at step %llu -> %s)\n",
                   static_cast<unsigned long long>(s.eval_pairs), s.eval_accuracy, s.eval_loss,
                   static_cast<unsigned long long>(s.best_step), s.best_dir.c_str());
    std::fprintf(stderr, "train: model -> %s ; metrics -> %s ; report -> %s\n", s.final_dir.c_str(),
                 s.metrics_path.c_str(), page->c_str());
  }
  return Status::ok();
}

void add_train(CLI::App& app) {
  auto o = std::make_shared<train::TrainOptions>();
  auto* cmd = app.add_subcommand(
      "train", "Train a Bradley-Terry reward model (hand-written backward; MPI data parallel)");
  // A repeated option takes its last value (scripts append overrides); file lists take them all.
  cmd->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  cmd->add_option("--model-init", o->model_init,
                  "HF folder (reward model, causal LM or base model) or preset:<name> to train from scratch "
                  "(preset:qwen3-tiny, preset:llama-tiny, ...)")
      ->required();
  cmd->add_option("--tokenizer", o->tokenizer_dir, "Tokenizer folder (tokenizer.json + chat template)")
      ->required();
  cmd->add_option("--data", o->data,
                  "Training pairs: canonical JSONL (or any `synpref data` format) or tokenized shards")
      ->required()
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--eval-data", o->eval_data, "Held-out pairs for periodic evaluation")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("-o,--out", o->out_dir, "Output folder (checkpoints, metrics.jsonl, final/, best/)")
      ->required();
  cmd->add_option("--lr", o->lr, "Peak learning rate")->capture_default_str();
  cmd->add_option("--weight-decay", o->adam.weight_decay, "AdamW weight decay (matrices only)")
      ->capture_default_str();
  cmd->add_option("--beta1", o->adam.beta1, "AdamW beta1")->capture_default_str();
  cmd->add_option("--beta2", o->adam.beta2, "AdamW beta2")->capture_default_str();
  cmd->add_option("--adam-eps", o->adam.eps, "AdamW epsilon")->capture_default_str();
  cmd->add_option("--max-grad-norm", o->max_grad_norm, "Global gradient-norm clipping (0 = off)")
      ->capture_default_str();
  cmd->add_option("--schedule", o->schedule, "linear (warmup then linear decay), constant or cosine")
      ->capture_default_str();
  cmd->add_option("--warmup-steps", o->warmup_steps, "Warmup steps")->capture_default_str();
  cmd->add_option("--warmup-ratio", o->warmup_ratio,
                  "Warmup as a fraction of all steps (when --warmup-steps is 0)")
      ->capture_default_str();
  cmd->add_option("--batch-size", o->batch_pairs, "Pairs per optimizer step (global, over all MPI ranks)")
      ->capture_default_str();
  cmd->add_option("--micro-batch-tokens", o->micro_batch_tokens,
                  "Token budget of one forward/backward pass; a step's pairs are split into micro-batches "
                  "and their gradients accumulated")
      ->capture_default_str();
  cmd->add_option("--epochs", o->epochs, "Passes over the data")->capture_default_str();
  cmd->add_option("--max-steps", o->max_steps, "Stop after this many steps (0 = --epochs)")
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed of initialization and data order")->capture_default_str();
  cmd->add_flag("!--no-shuffle", o->shuffle, "Keep the data order");
  cmd->add_flag("!--no-prefix-sharing", o->share_prefix,
                "Run the prompt once per response instead of once per pair");
  cmd->add_option("--freeze-layers", o->freeze_layers, "Freeze the lowest K layers (and the embeddings)")
      ->capture_default_str();
  cmd->add_flag("--freeze-embeddings", o->freeze_embeddings, "Freeze the token embeddings");
  cmd->add_option("--max-length", o->max_length, "Max tokens of prompt + longer response")
      ->capture_default_str();
  cmd->add_option("--truncation", o->truncation, "Pairs over --max-length: skip, truncate-left or error")
      ->capture_default_str();
  cmd->add_option("--format", o->format, "Input format of text data (auto, canonical, chat, prompt, hh, rmb)")
      ->capture_default_str();
  cmd->add_option("--date", o->date, "Date the chat template sees (YYYY-MM-DD), for reproducible inputs");
  cmd->add_option("--log-every", o->log_every, "Steps per metrics line")->capture_default_str();
  cmd->add_option("--eval-every", o->eval_every, "Steps between evaluations (0 = at the end only)")
      ->capture_default_str();
  cmd->add_option("--save-every", o->save_every, "Steps between resumable checkpoints (0 = by time only)")
      ->capture_default_str();
  cmd->add_option("--save-every-seconds", o->save_every_seconds,
                  "Also save a resumable checkpoint when this many seconds have passed since the last one "
                  "(0 = off)")
      ->capture_default_str();
  cmd->add_option("--keep-checkpoints", o->keep_checkpoints, "Resumable checkpoints kept")
      ->capture_default_str();
  cmd->add_option("--best-metric", o->best_metric, "eval_accuracy or eval_loss: which evaluation picks best/")
      ->capture_default_str();
  cmd->add_flag("--resume", o->resume, "Continue from the newest checkpoint in --out (bit-identical)");
  cmd->add_flag("--overwrite", o->overwrite,
                "Start a new run in a non-empty --out, deleting the earlier run's files there");
  cmd->add_option("--threads", o->threads, "Worker threads (0 = all cores)")->capture_default_str();
  cmd->add_option("--kernels", o->kernels, "auto, avx512, avx2 or generic")->capture_default_str();
  cmd->add_option("--hidden-size", o->hidden_size, "From scratch: override the preset's hidden size");
  cmd->add_option("--intermediate-size", o->intermediate_size, "From scratch: override the MLP size");
  cmd->add_option("--layers", o->n_layer, "From scratch: override the number of layers");
  cmd->add_option("--heads", o->n_head, "From scratch: override the query heads");
  cmd->add_option("--kv-heads", o->n_head_kv, "From scratch: override the key/value heads");
  cmd->add_option("--head-dim", o->head_dim, "From scratch: override the head dimension");
  cmd->add_option("--init-std", o->init_std, "From scratch: std of the normal initialization")
      ->capture_default_str();
  cmd->callback([o] {
    o->progress = !global_options().quiet;
    set_action([o] { return run_train(*o); });
  });
}

struct SynthFlags {
  data::SynthOptions options;
  std::string out_dir, noise_categories, categories;
};

Status run_synth(const SynthFlags& f) {
  namespace fs = std::filesystem;
  data::SynthOptions o = f.options;
  o.noise_categories = split_list(f.noise_categories);
  o.categories = split_list(f.categories);
  std::error_code ec;
  fs::create_directories(f.out_dir, ec);
  if (ec) return io_error(f.out_dir + ": cannot create folder: " + ec.message());
  const std::string train_path = (fs::path(f.out_dir) / "train.jsonl").string();
  const std::string test_path = (fs::path(f.out_dir) / "test.jsonl").string();
  const std::string flipped_path = (fs::path(f.out_dir) / "flipped_ids.txt").string();
  SP_ASSIGN_OR_RETURN(auto r, data::write_synth(o, train_path, test_path, flipped_path));
  nlohmann::ordered_json j;
  j["command"] = "data synth";
  j["train"] = train_path;
  j["test"] = test_path;
  j["flipped_ids"] = flipped_path;
  j["train_pairs"] = r.train_pairs;
  j["test_pairs"] = r.test_pairs;
  j["noise"] = o.noise;
  j["flipped"] = r.flipped;
  nlohmann::ordered_json cats = nlohmann::ordered_json::object();
  for (size_t i = 0; i < r.per_category.size(); ++i)
    cats[r.per_category[i].first] = {{"train_pairs", r.per_category[i].second},
                                     {"flipped", r.flipped_per_category[i].second}};
  j["categories"] = cats;
  j["test_duplicates_redrawn"] = r.test_duplicates_redrawn;
  if (global_options().json) {
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::fprintf(stderr, "synth: %llu training pairs (%llu flipped) -> %s ; %llu clean test pairs -> %s\n",
                 static_cast<unsigned long long>(r.train_pairs), static_cast<unsigned long long>(r.flipped),
                 train_path.c_str(), static_cast<unsigned long long>(r.test_pairs), test_path.c_str());
  }
  return Status::ok();
}

void add_synth(CLI::App& app) {
  CLI::App* data = app.get_subcommand("data");
  auto f = std::make_shared<SynthFlags>();
  auto* cmd = data->add_subcommand(
      "synth",
      "Generate preference pairs whose label is known by construction (math, comparison, sorting, "
      "instruction following, safety), with optional label noise and a clean test split");
  cmd->add_option("-o,--out", f->out_dir, "Output folder (train.jsonl, test.jsonl, flipped_ids.txt)")
      ->required();
  cmd->add_option("--train", f->options.train_pairs, "Training pairs")->capture_default_str();
  cmd->add_option("--test", f->options.test_pairs, "Clean held-out pairs")->capture_default_str();
  cmd->add_option("--seed", f->options.seed, "Seed")->capture_default_str();
  cmd->add_option("--noise", f->options.noise,
                  "Expected fraction of training pairs with chosen/rejected swapped")
      ->capture_default_str();
  cmd->add_option("--noise-categories", f->noise_categories,
                  "Concentrate the noise in these categories (comma-separated); default uniform");
  cmd->add_option("--categories", f->categories, "Generate only these categories (comma-separated)");
  cmd->add_option("--operand-max", f->options.operand_max,
                  "Difficulty: math operands and sorted values below this, compared numbers below 10x this")
      ->capture_default_str();
  cmd->callback([f] { set_action([f] { return run_synth(*f); }); });
}

SYNPREF_COMMAND(500, add_train);
SYNPREF_COMMAND(120, add_synth);

}  // namespace
}  // namespace synpref::cli
