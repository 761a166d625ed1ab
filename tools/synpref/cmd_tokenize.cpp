// `synpref tokenize`: text -> ids (one JSON array on stdout) and ids -> text (--decode).
//
//   synpref tokenize --tokenizer DIR --text STR [--no-special]
//   synpref tokenize --tokenizer DIR --file F [--no-special]      (the whole file is one text)
//   synpref tokenize --tokenizer DIR --decode '[9707, 1879]' [--skip-special]
//   synpref tokenize --tokenizer DIR --chat FILE.json [--render] [--date YYYY-MM-DD]
//                    [--chat-template F] [--max-length N] [--truncation error|skip|truncate-left]
//
// --chat reads a JSON list of messages (the full conversation, ending with the scored assistant
// turn) and prints the ids of the reward-model input built from it (encode/rm_input.h: rendered
// with the chat template, exactly one BOS where the model uses one); --render prints the rendered
// text instead, byte for byte, without a trailing newline.
//
// DIR holds tokenizer.json (+ tokenizer_config.json) or tokenizer.model. By default the
// post-processor's special tokens are added (HF encode(add_special_tokens=True): Llama 3 BOS);
// --no-special leaves them out. Unlike the library, which replaces invalid UTF-8 with U+FFFD,
// the command refuses it and names the byte offset. --decode prints the token bytes exactly,
// without a trailing newline.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <memory>

#include "command.h"
#include "synpref/common/io.h"
#include "synpref/common/text.h"
#include "synpref/encode/rm_input.h"
#include "synpref/tokenizer/tokenizer.h"

namespace {

struct TokenizeOptions {
  std::string tokenizer_dir;
  std::string text;
  std::string file;
  std::string decode_ids;
  bool no_special = false;
  bool skip_special = false;
  // Chat input.
  std::string chat_file;
  bool render = false;
  std::string date;
  std::string chat_template_file;
  uint64_t max_length = 16384;
  std::string truncation = "error";
};

std::string ids_json(const std::vector<int32_t>& ids) {
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(ids[i]);
  }
  out += "]\n";
  return out;
}

synpref::Status run_chat(const TokenizeOptions& opt, synpref::tokenizer::Tokenizer tok) {
  using namespace synpref;
  SP_ASSIGN_OR_RETURN(std::string raw, io::read_file(opt.chat_file, 256 << 20));
  const size_t bad = text::first_invalid_utf8(raw);
  if (bad != std::string_view::npos)
    return data_error(opt.chat_file + ": invalid UTF-8 at byte offset " + std::to_string(bad));
  auto turns = encode::turns_from_json(raw);
  if (!turns.is_ok()) return turns.status().with_context(opt.chat_file);
  encode::RmInputSettings settings{"", opt.max_length, opt.truncation, opt.date, opt.chat_template_file};
  SP_ASSIGN_OR_RETURN(auto builder, encode::open_builder(std::move(tok), settings));
  if (opt.render) {
    SP_ASSIGN_OR_RETURN(std::string text, builder.render(*turns));
    std::fwrite(text.data(), 1, text.size(), stdout);
    return Status::ok();
  }
  if (turns->back().role != data::Role::assistant) {
    return data_error(opt.chat_file + ": the last message must be the assistant's (the scored response)");
  }
  // The conversation as one response to its context, so truncation applies exactly as in scoring.
  const std::span<const data::Turn> context(turns->data(), turns->size() - 1);
  const std::vector<std::string> response = {turns->back().content};
  SP_ASSIGN_OR_RETURN(encode::RmInput input, builder.build(context, response, opt.chat_file));
  if (input.skipped) return data_error(input.skip_reason);
  std::vector<int32_t> ids = input.prefix;
  ids.insert(ids.end(), input.suffixes[0].begin(), input.suffixes[0].end());
  std::string out = ids_json(ids);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return Status::ok();
}

synpref::Status run_tokenize(const TokenizeOptions& opt, bool has_text) {
  using namespace synpref;
  SP_ASSIGN_OR_RETURN(tokenizer::Tokenizer tok, tokenizer::load_tokenizer(opt.tokenizer_dir));
  if (!opt.chat_file.empty()) return run_chat(opt, std::move(tok));
  if (opt.render) return invalid_argument("--render needs --chat FILE.json");
  if (!opt.decode_ids.empty()) {
    nlohmann::json parsed = nlohmann::json::parse(opt.decode_ids, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_array())
      return invalid_argument("--decode expects a JSON array of token ids, e.g. '[9707, 1879]'");
    std::vector<int32_t> ids;
    for (size_t i = 0; i < parsed.size(); ++i) {
      const auto& v = parsed[i];
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX)
        return invalid_argument("--decode: element " + std::to_string(i) +
                                " is not a non-negative integer id");
      ids.push_back(static_cast<int32_t>(v.get<int64_t>()));
    }
    SP_ASSIGN_OR_RETURN(std::string text, tok.decode(ids, opt.skip_special));
    std::fwrite(text.data(), 1, text.size(), stdout);
    return Status::ok();
  }
  std::string text;
  std::string source = "--text";
  if (!opt.file.empty()) {
    SP_ASSIGN_OR_RETURN(text, io::read_file(opt.file));
    source = opt.file;
  } else if (has_text) {
    text = opt.text;
  } else {
    return invalid_argument("tokenize: give --text STR, --file F or --decode IDS");
  }
  const size_t bad = text::first_invalid_utf8(text);
  if (bad != std::string_view::npos)
    return data_error(source + ": invalid UTF-8 at byte offset " + std::to_string(bad) +
                      "; fix the encoding of the input");
  const std::vector<int32_t> ids = tok.encode(text, !opt.no_special);
  const std::string out = ids_json(ids);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return Status::ok();
}

void add_tokenize(CLI::App& app) {
  auto opt = std::make_shared<TokenizeOptions>();
  auto* cmd = app.add_subcommand("tokenize", "Encode text to token ids (JSON array) or decode ids to text");
  cmd->add_option("--tokenizer", opt->tokenizer_dir, "Folder with tokenizer.json or tokenizer.model")
      ->required();
  auto* text_opt = cmd->add_option("--text", opt->text, "Text to encode");
  auto* file_opt = cmd->add_option("--file", opt->file, "File whose whole content is encoded as one text");
  auto* decode_opt =
      cmd->add_option("--decode", opt->decode_ids, "JSON array of ids to decode; prints the text");
  text_opt->excludes(file_opt)->excludes(decode_opt);
  file_opt->excludes(decode_opt);
  cmd->add_flag("--no-special", opt->no_special,
                "Do not add the post-processor's special tokens (e.g. Llama 3 BOS)");
  cmd->add_flag("--skip-special", opt->skip_special, "With --decode: leave special tokens out of the text");
  auto* chat_opt =
      cmd->add_option("--chat", opt->chat_file,
                      "JSON list of messages; prints the ids of the reward-model input built from it");
  chat_opt->excludes(text_opt)->excludes(file_opt)->excludes(decode_opt);
  cmd->add_flag("--render", opt->render, "With --chat: print the rendered chat-template text instead of ids");
  cmd->add_option("--date", opt->date,
                  "With --chat: the date the template sees (YYYY-MM-DD), for reproducibility");
  cmd->add_option("--chat-template", opt->chat_template_file,
                  "With --chat: Jinja template file overriding the tokenizer's");
  cmd->add_option("--max-length", opt->max_length, "With --chat: maximum tokens")->capture_default_str();
  cmd->add_option("--truncation", opt->truncation, "With --chat: error, skip or truncate-left")
      ->capture_default_str();
  cmd->callback([opt, text_opt] {
    const bool has_text = text_opt->count() > 0;
    synpref::cli::set_action([opt, has_text] { return run_tokenize(*opt, has_text); });
  });
}

SYNPREF_COMMAND(300, add_tokenize);

}  // namespace
