// Model commands:
//   synpref init-model --arch qwen3|llama --preset NAME --tokenizer DIR --seed N --out DIR
//   synpref convert llama2c FILE --out DIR
//   synpref model-info DIR
//   synpref score --model DIR --input FILE --output FILE [--resume]
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>

#include "command.h"
#include "synpref/model/init.h"
#include "synpref/model/model.h"
#include "synpref/model/safetensors.h"
#include "synpref/score/scorer.h"
#include "synpref/tokenizer/tokenizer.h"

namespace {

using synpref::Status;
namespace model = synpref::model;
namespace score = synpref::score;

struct InitArgs {
  std::string arch, preset, tokenizer, out, head = "score", dtype = "f32";
  uint64_t seed = 0;
  double init_std = 0.02;
};

Status run_init(const InitArgs& a) {
  SP_ASSIGN_OR_RETURN(model::Family family, model::parse_family(a.arch));
  model::HeadKind head;
  if (a.head == "score")
    head = model::HeadKind::score;
  else if (a.head == "lm")
    head = model::HeadKind::lm;
  else if (a.head == "none")
    head = model::HeadKind::none;
  else
    return synpref::invalid_argument("--head must be score, lm or none, got '" + a.head + "'");
  model::InitOptions options;
  options.seed = a.seed;
  options.init_std = a.init_std;
  if (a.dtype == "f32")
    options.dtype = model::DType::F32;
  else if (a.dtype == "bf16")
    options.dtype = model::DType::BF16;
  else if (a.dtype == "f16")
    options.dtype = model::DType::F16;
  else
    return synpref::invalid_argument("--dtype must be f32, bf16 or f16, got '" + a.dtype + "'");
  SP_ASSIGN_OR_RETURN(model::TokenizerFacts facts, model::inspect_tokenizer_dir(a.tokenizer));
  SP_ASSIGN_OR_RETURN(model::ModelConfig config,
                      model::preset_config(family, a.preset, head, facts.vocab_size));
  if (facts.pad_token_id) config.pad_token_id = facts.pad_token_id;
  if (facts.bos_token_id) config.bos_token_id = facts.bos_token_id;
  if (facts.eos_token_id) config.eos_token_id = facts.eos_token_id;
  SP_RETURN_IF_ERROR(model::write_random_model(config, options, a.out));
  SP_RETURN_IF_ERROR(model::copy_tokenizer_files(a.tokenizer, facts, a.out));
  if (synpref::cli::global_options().json) {
    nlohmann::json j = {{"out", a.out},
                        {"architecture", config.architecture},
                        {"vocab_size", config.vocab_size},
                        {"parameters", config.n_matmul_params() + config.vocab_size * config.hidden_size},
                        {"tokenizer_files", facts.files}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::fprintf(stderr, "wrote %s: %s, %lld layers, hidden %lld, vocab %lld, %s\n", a.out.c_str(),
                 config.architecture.c_str(), static_cast<long long>(config.n_layer),
                 static_cast<long long>(config.hidden_size), static_cast<long long>(config.vocab_size),
                 a.dtype.c_str());
  }
  return Status::ok();
}

// Library errors name option fields; this front end names its flags.
Status with_flags(Status status) {
  static const std::pair<const char*, const char*> kFlags[] = {{"max_tokens_per_batch", "--max-tokens"},
                                                               {"chunk_records", "--chunk-records"},
                                                               {"n_threads", "--threads"},
                                                               {"max_length", "--max-length"},
                                                               {"truncation", "--truncation"},
                                                               {"date", "--date"},
                                                               {"model_dir", "--model"},
                                                               {"tokenizer_dir", "--model"},
                                                               {"output", "--output"},
                                                               {"input", "--input"},
                                                               {"resume", "--resume"}};
  if (status.is_ok()) return status;
  for (const auto& [field, flag] : kFlags) {
    const std::string_view message = status.message();
    if (message.starts_with(field) && message.size() > std::strlen(field) &&
        (message[std::strlen(field)] == ' ' || message[std::strlen(field)] == ':'))
      return Status(status.code(), std::string(flag) + " (" + status.message() + ")");
  }
  return status;
}

// model-info: the configuration, after checking everything `score` needs (tokenizer, chat template
// rendering a probe conversation to ids in the vocabulary, score head): score::Scorer::open.
Status run_info(const std::string& dir, int threads) {
  score::ScorerOptions options;
  options.model_dir = dir;
  options.n_threads = threads;
  auto scorer = score::Scorer::open(options);
  if (!scorer.is_ok()) return scorer.status().with_context("model-info " + dir + ": not ready to score");
  const model::Model& m = (*scorer)->model();
  const model::ModelConfig& c = m.config();
  nlohmann::json j = {
      {"architecture", c.architecture},
      {"model_type", model::family_spec(c.family).model_type},
      {"vocab_size", c.vocab_size},
      {"hidden_size", c.hidden_size},
      {"intermediate_size", c.intermediate_size},
      {"num_hidden_layers", c.n_layer},
      {"num_attention_heads", c.n_head},
      {"num_key_value_heads", c.n_head_kv},
      {"head_dim", c.head_dim},
      {"qk_norm", c.qk_norm},
      {"tie_word_embeddings", c.tie_word_embeddings},
      {"rope_theta", c.rope_theta},
      {"rope_scaling", c.rope_scaling.type == model::RopeScaling::Type::llama3   ? "llama3"
                       : c.rope_scaling.type == model::RopeScaling::Type::linear ? "linear"
                                                                                 : "none"},
      {"pad_token_id", c.pad_token_id ? nlohmann::json(*c.pad_token_id) : nlohmann::json(nullptr)},
      {"score_head", m.has_score_head()},
      {"lm_head", m.has_lm_head()},
      {"tokenizer_vocab_size", (*scorer)->builder().tokenizer().vocab_size()},
      {"chat_template", true},
      {"kernels", m.kernel_name()},
      {"threads", m.n_threads()},
      {"packed_weight_bytes", m.packed_weight_bytes()}};
  std::printf("%s\n", j.dump(synpref::cli::global_options().json ? -1 : 2).c_str());
  return Status::ok();
}

struct ScoreArgs {
  score::ScorerOptions scorer;
  score::ScoreFileOptions file;
};

void print_summary(const score::ScoreStats& s, const std::string& output) {
  nlohmann::json summary = {{"records", s.records},
                            {"scored", s.scored},
                            {"resumed", s.resumed},
                            {"skipped_over_max_length", s.skipped_too_long},
                            {"truncated", s.truncated},
                            {"rejected", s.rejected},
                            {"rejects_file", s.rejects_path},
                            {"pairs", s.pairs},
                            {"pair_accuracy", s.pair_accuracy()},
                            {"pair_ties", s.pair_ties},
                            {"tokens", s.tokens},
                            {"tokens_per_second", s.tokens_per_second()}};
  if (synpref::cli::global_options().json) {
    std::printf("%s\n", summary.dump().c_str());
    return;
  }
  std::fprintf(stderr,
               "scored %llu records (%llu resumed, %llu skipped, %llu rejected -> %s) -> %s; %llu pairs, "
               "accuracy %.4f; %.0f tokens/s\n",
               (unsigned long long)s.scored, (unsigned long long)s.resumed,
               (unsigned long long)s.skipped_too_long, (unsigned long long)s.rejected, s.rejects_path.c_str(),
               output.c_str(), (unsigned long long)s.pairs, s.pair_accuracy(), s.tokens_per_second());
}

Status run_score(const ScoreArgs& a) {
  score::ScorerOptions options = a.scorer;
  options.progress = !synpref::cli::global_options().quiet;
  auto scorer = score::Scorer::open(options);
  if (!scorer.is_ok()) return with_flags(scorer.status());
  auto stats = score::score_file(**scorer, a.file);
  if (!stats.is_ok()) return with_flags(stats.status());
  print_summary(*stats, a.file.output);
  return Status::ok();
}

void add(CLI::App& app) {
  auto init_args = std::make_shared<InitArgs>();
  auto* init = app.add_subcommand("init-model",
                                  "Write a random model in Hugging Face format (tests, demos, benchmarks)");
  init->add_option("--arch", init_args->arch, "qwen3 or llama")->required();
  std::string presets;
  for (const auto& p : model::model_presets()) presets += "\n  " + p.name + ": " + p.description;
  init->add_option("--preset", init_args->preset, "Shape preset:" + presets)->required();
  init->add_option("--tokenizer", init_args->tokenizer,
                   "Tokenizer folder (vocabulary size, special ids; files copied)")
      ->required();
  init->add_option("--seed", init_args->seed, "Random seed");
  init->add_option("--out", init_args->out, "Output folder")->required();
  init->add_option("--head", init_args->head,
                   "score (ForSequenceClassification, default), lm (ForCausalLM), none");
  init->add_option("--dtype", init_args->dtype, "Weight dtype: f32 (default), bf16, f16");
  init->add_option("--init-std", init_args->init_std,
                   "Std of the normal init of matrices (transformers: 0.02)");
  init->callback([init_args] { synpref::cli::set_action([init_args] { return run_init(*init_args); }); });

  auto* convert =
      app.add_subcommand("convert", "Convert checkpoints from other formats to Hugging Face folders");
  convert->require_subcommand(1);
  auto l2c = std::make_shared<std::pair<std::string, std::string>>();
  auto* llama2c = convert->add_subcommand("llama2c", "llama2.c .bin checkpoint -> LlamaForCausalLM folder");
  llama2c->add_option("file", l2c->first, "llama2.c checkpoint (.bin)")->required();
  llama2c->add_option("--out", l2c->second, "Output folder")->required();
  llama2c->callback([l2c] {
    synpref::cli::set_action([l2c]() -> Status {
      SP_RETURN_IF_ERROR(model::convert_llama2c(l2c->first, l2c->second));
      if (!synpref::cli::global_options().quiet) std::fprintf(stderr, "wrote %s\n", l2c->second.c_str());
      return Status::ok();
    });
  });

  auto info_args = std::make_shared<std::pair<std::string, int>>("", 1);
  auto* info = app.add_subcommand("model-info",
                                  "Check a model folder can score (weights, tokenizer, chat template, score "
                                  "head) and print its configuration");
  info->add_option("dir", info_args->first, "Hugging Face model folder")->required();
  info->add_option("--threads", info_args->second, "Threads for packing (default 1)");
  info->callback([info_args] {
    synpref::cli::set_action([info_args] { return run_info(info_args->first, info_args->second); });
  });

  auto score_args = std::make_shared<ScoreArgs>();
  score::ScorerOptions& so = score_args->scorer;
  score::ScoreFileOptions& fo = score_args->file;
  auto* score =
      app.add_subcommand("score", "Score pairs and response sets with a reward model (JSON lines out)");
  score->add_option("--model", so.model_dir, "Hugging Face reward-model folder (weights + tokenizer)")
      ->required();
  score->add_option("--input", fo.input, "Records in any supported format (plain, .gz, .zst; - = stdin)")
      ->required();
  score
      ->add_option("--output", fo.output,
                   "JSON lines {\"id\", \"scores\"}, written as records are scored (.gz/.zst compress, "
                   "written whole; - = stdout)")
      ->required();
  score->add_flag("--resume", fo.resume,
                  "Continue a killed run: keep the scores already in --output (checked against the "
                  "input, in order) and append the rest");
  score->add_option(
      "--rejects", fo.rejects_path,
      "Malformed and over-length records, one JSON line each (default: <output>.rejects.jsonl)");
  score->add_option("--format", fo.format, "Input format: auto, canonical, chat, prompt, hh, rmb");
  score->add_option("--threads", so.n_threads, "Worker threads (default: all)");
  score->add_option("--max-tokens", so.max_tokens_per_batch, "Token rows per forward batch (default 4096)");
  score->add_option("--max-length", so.input.max_length,
                    "Longest prefix + response in tokens (default 16384)");
  score->add_option("--truncation", so.input.truncation,
                    "Over max-length: error (default), skip, truncate-left");
  score->add_option("--date", so.input.date, "Date seen by chat templates (YYYY-MM-DD), for reproducibility");
  score->add_option("--chunk-records", so.chunk_records,
                    "Records scored per engine call and written at once (default 256)");
  score->callback(
      [score_args] { synpref::cli::set_action([score_args] { return run_score(*score_args); }); });
}
SYNPREF_COMMAND(400, add);

}  // namespace
