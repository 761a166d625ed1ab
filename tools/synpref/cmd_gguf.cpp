// GGUF export, a subcommand of `synpref convert` (registered after cmd_model.cpp creates it):
//   synpref convert gguf --model DIR --out FILE.gguf [--type f32|f16|bf16] [--name NAME] [--no-tokenizer]
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "command.h"
#include "synpref/model/gguf.h"

namespace {

using synpref::Status;
namespace model = synpref::model;

struct GgufArgs {
  std::string model_dir, out, type = "f32", name, tokenizer;
  bool no_tokenizer = false;
};

Status run_gguf(const GgufArgs& a) {
  model::GgufExportOptions options;
  if (a.type == "f32")
    options.dtype = model::DType::F32;
  else if (a.type == "f16")
    options.dtype = model::DType::F16;
  else if (a.type == "bf16")
    options.dtype = model::DType::BF16;
  else
    return synpref::invalid_argument("--type must be f32, f16 or bf16, got '" + a.type + "'");
  options.name = a.name;
  options.tokenizer = !a.no_tokenizer;
  options.tokenizer_dir = a.tokenizer;
  SP_ASSIGN_OR_RETURN(model::GgufExportSummary s, model::export_gguf(a.model_dir, a.out, options));
  if (synpref::cli::global_options().json) {
    nlohmann::json j = {{"out", a.out},
                        {"architecture", s.architecture},
                        {"type", a.type},
                        {"tensors", s.n_tensors},
                        {"metadata_keys", s.n_kv},
                        {"bytes", s.file_bytes},
                        {"tokenizer_tokens", s.n_tokenizer_tokens},
                        {"padding_tokens", s.n_padding_tokens},
                        {"score_head_dropped", s.score_head_dropped},
                        {"lm_head_tied", s.lm_head_tied},
                        {"notes", s.notes}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::fprintf(stderr, "wrote %s: %s, %s, %llu tensors, %llu metadata keys, %.1f MiB\n", a.out.c_str(),
                 s.architecture.c_str(), a.type.c_str(), static_cast<unsigned long long>(s.n_tensors),
                 static_cast<unsigned long long>(s.n_kv), static_cast<double>(s.file_bytes) / 1048576.0);
    for (const auto& note : s.notes) std::fprintf(stderr, "note: %s\n", note.c_str());
  }
  return Status::ok();
}

void add(CLI::App& app) {
  // `convert` is created by cmd_model.cpp (order 400); this registrar runs after it.
  CLI::App* convert = nullptr;
  try {
    convert = app.get_subcommand("convert");
  } catch (const CLI::OptionNotFound&) {
  }
  SP_CHECK_MSG(convert != nullptr, "cmd_gguf.cpp: the `convert` command must be registered first");
  auto args = std::make_shared<GgufArgs>();
  auto* gguf = convert->add_subcommand(
      "gguf",
      "Hugging Face folder -> GGUF file for llama.cpp (Qwen3/Llama, f32, f16 or bf16). A reward model's "
      "score "
      "head (score.weight) is not exported: llama.cpp has no place for it, so the file holds the backbone "
      "and the LM head (tied embeddings)");
  gguf->add_option("--model", args->model_dir,
                   "Hugging Face model folder (config.json, safetensors, tokenizer)")
      ->required();
  gguf->add_option("--out", args->out, "Output .gguf file")->required();
  gguf->add_option("--type", args->type, "Matrix element type: f32 (default), f16 or bf16 (norms stay f32)");
  gguf->add_option("--name", args->name, "general.name (default: the folder's name)");
  gguf->add_option("--tokenizer", args->tokenizer,
                   "Folder with tokenizer.json (+ tokenizer_config.json) when the model folder has none");
  gguf->add_flag(
      "--no-tokenizer", args->no_tokenizer,
      "Write no vocabulary (tokenizer.ggml.model = none, token ids only). llama.cpp's loader takes "
      "it; node-llama-cpp needs a vocabulary and aborts on such files");
  gguf->callback([args] { synpref::cli::set_action([args] { return run_gguf(*args); }); });
}
SYNPREF_COMMAND(401, add);

}  // namespace
