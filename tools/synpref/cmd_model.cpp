// Model commands:
//   synpref init-model --arch qwen3|llama --preset NAME --tokenizer DIR --seed N --out DIR
//   synpref convert llama2c FILE --out DIR
//   synpref model-info DIR
//   synpref score --model DIR --input FILE --output FILE
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "command.h"
#include "synpref/chat/rm_input.h"
#include "synpref/common/io.h"
#include "synpref/data/reader.h"
#include "synpref/model/init.h"
#include "synpref/model/model.h"
#include "synpref/model/safetensors.h"
#include "synpref/tokenizer/tokenizer.h"

namespace {

using synpref::Status;
namespace model = synpref::model;

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

Status run_info(const std::string& dir, int threads) {
  SP_ASSIGN_OR_RETURN(auto m, model::Model::load(dir, {.n_threads = threads}));
  const model::ModelConfig& c = m->config();
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
      {"score_head", m->has_score_head()},
      {"lm_head", m->has_lm_head()},
      {"kernels", m->kernel_name()},
      {"threads", m->n_threads()},
      {"packed_weight_bytes", m->packed_weight_bytes()}};
  std::printf("%s\n", j.dump(synpref::cli::global_options().json ? -1 : 2).c_str());
  return Status::ok();
}

struct ScoreArgs {
  std::string model_dir, input, output, format = "auto", truncation = "error", date;
  int threads = 0;
  int64_t max_tokens = 4096;
  uint64_t max_length = 16384;
  int64_t chunk_records = 256;
};

// Reads records (any format of synpref/data/reader.h), builds each record's RM input (chat template
// + tokenizer, shared prefix kept apart: synpref/chat/rm_input.h), scores chunks of records with
// prefix sharing and packing, and writes {"id": ..., "scores": [...]} per record in input order.
Status run_score(const ScoreArgs& a) {
  using namespace synpref;
  SP_ASSIGN_OR_RETURN(tokenizer::Tokenizer tok, tokenizer::load_tokenizer(a.model_dir));
  chat::RmInputOptions input_options;
  input_options.max_length = a.max_length;
  SP_ASSIGN_OR_RETURN(input_options.truncation, chat::parse_truncation(a.truncation));
  if (!a.date.empty()) {
    SP_ASSIGN_OR_RETURN(chat::LocalDateTime date, chat::LocalDateTime::parse(a.date));
    input_options.date = date;
  }
  SP_ASSIGN_OR_RETURN(chat::RmInputBuilder builder,
                      chat::RmInputBuilder::create(std::move(tok), input_options));
  SP_ASSIGN_OR_RETURN(auto engine, model::Model::load(a.model_dir, {.n_threads = a.threads}));
  data::ReadOptions read_options;
  SP_ASSIGN_OR_RETURN(read_options.format, data::parse_format(a.format));
  SP_ASSIGN_OR_RETURN(auto reader, data::RecordReader::open(a.input, read_options));
  SP_ASSIGN_OR_RETURN(auto out, io::Writer::open(a.output));

  struct Pending {
    std::string id;
    bool pair;
    chat::RmInput input;
  };
  std::vector<Pending> chunk;
  int64_t n_records = 0, n_pairs = 0, n_correct = 0, n_ties = 0, n_skipped = 0, n_rejected = 0,
          n_truncated = 0;
  int64_t n_tokens = 0;
  double seconds = 0;
  auto flush = [&]() -> Status {
    if (chunk.empty()) return Status::ok();
    std::vector<model::ScoreGroup> groups;
    for (const auto& p : chunk) {
      model::ScoreGroup g{p.input.prefix, {}};
      for (const auto& s : p.input.suffixes) g.responses.push_back(s);
      groups.push_back(std::move(g));
      n_tokens += static_cast<int64_t>(p.input.prefix.size());
      for (const auto& s : p.input.suffixes) n_tokens += static_cast<int64_t>(s.size());
    }
    const auto t0 = std::chrono::steady_clock::now();
    SP_ASSIGN_OR_RETURN(auto scores, engine->score_groups(groups, {.max_tokens_per_batch = a.max_tokens}));
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (size_t i = 0; i < chunk.size(); ++i) {
      nlohmann::json line = {{"id", chunk[i].id}, {"scores", scores[i]}};
      out->append(line.dump());
      out->append("\n");
      if (chunk[i].pair) {
        ++n_pairs;
        if (scores[i][0] > scores[i][1]) ++n_correct;
        if (scores[i][0] == scores[i][1]) ++n_ties;
      }
    }
    chunk.clear();
    return Status::ok();
  };
  data::Record record;
  data::Reject reject;
  for (;;) {
    SP_ASSIGN_OR_RETURN(auto outcome, reader->next(record, reject));
    if (outcome == data::RecordReader::Outcome::end) break;
    if (outcome == data::RecordReader::Outcome::reject) {
      ++n_rejected;
      std::fprintf(stderr, "synpref score: %s:%llu: skipped bad record (%s): %s\n", reject.file.c_str(),
                   static_cast<unsigned long long>(reject.line), reject.code.c_str(), reject.reason.c_str());
      continue;
    }
    ++n_records;
    SP_ASSIGN_OR_RETURN(chat::RmInput input, builder.build(record));
    if (input.skipped) {
      ++n_skipped;
      continue;
    }
    if (input.truncated_tokens > 0) ++n_truncated;
    chunk.push_back({record.id, record.kind == data::RecordKind::pair, std::move(input)});
    if (static_cast<int64_t>(chunk.size()) >= a.chunk_records) SP_RETURN_IF_ERROR(flush());
  }
  SP_RETURN_IF_ERROR(flush());
  SP_RETURN_IF_ERROR(out->close());
  nlohmann::json summary = {{"records", n_records},
                            {"scored", n_records - n_skipped},
                            {"skipped_over_max_length", n_skipped},
                            {"truncated", n_truncated},
                            {"rejected", n_rejected},
                            {"pairs", n_pairs},
                            {"pair_accuracy", n_pairs ? static_cast<double>(n_correct) / n_pairs : 0.0},
                            {"pair_ties", n_ties},
                            {"tokens", n_tokens},
                            {"tokens_per_second", seconds > 0 ? n_tokens / seconds : 0.0}};
  if (cli::global_options().json) {
    std::printf("%s\n", summary.dump().c_str());
  } else {
    std::fprintf(stderr,
                 "scored %lld records (%lld skipped, %lld rejected) -> %s; %lld pairs, accuracy %.4f\n",
                 static_cast<long long>(n_records - n_skipped), static_cast<long long>(n_skipped),
                 static_cast<long long>(n_rejected), a.output.c_str(), static_cast<long long>(n_pairs),
                 n_pairs ? static_cast<double>(n_correct) / n_pairs : 0.0);
  }
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
  auto* info =
      app.add_subcommand("model-info", "Load a model folder (validating it) and print its configuration");
  info->add_option("dir", info_args->first, "Hugging Face model folder")->required();
  info->add_option("--threads", info_args->second, "Threads for packing (default 1)");
  info->callback([info_args] {
    synpref::cli::set_action([info_args] { return run_info(info_args->first, info_args->second); });
  });

  auto score_args = std::make_shared<ScoreArgs>();
  auto* score =
      app.add_subcommand("score", "Score pairs and response sets with a reward model (JSON lines out)");
  score
      ->add_option("--model", score_args->model_dir, "Hugging Face reward-model folder (weights + tokenizer)")
      ->required();
  score
      ->add_option("--input", score_args->input,
                   "Records in any supported format (plain, .gz, .zst; - = stdin)")
      ->required();
  score
      ->add_option("--output", score_args->output,
                   "JSON lines {\"id\", \"scores\"} (.gz/.zst compress; - = stdout)")
      ->required();
  score->add_option("--format", score_args->format, "Input format: auto, canonical, chat, prompt, hh, rmb");
  score->add_option("--threads", score_args->threads, "Worker threads (default: all)");
  score->add_option("--max-tokens", score_args->max_tokens, "Token rows per forward batch (default 4096)");
  score->add_option("--max-length", score_args->max_length,
                    "Longest prefix + response in tokens (default 16384)");
  score->add_option("--truncation", score_args->truncation,
                    "Over max-length: error (default), skip, truncate-left");
  score->add_option("--date", score_args->date,
                    "Date seen by chat templates (YYYY-MM-DD), for reproducibility");
  score->add_option("--chunk-records", score_args->chunk_records,
                    "Records scored per engine call (default 256)");
  score->callback(
      [score_args] { synpref::cli::set_action([score_args] { return run_score(*score_args); }); });
}
SYNPREF_COMMAND(400, add);

}  // namespace
