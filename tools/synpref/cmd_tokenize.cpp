// `synpref tokenize`: text -> ids (one JSON array on stdout) and ids -> text (--decode).
//
//   synpref tokenize --tokenizer DIR --text STR [--no-special]
//   synpref tokenize --tokenizer DIR --file F [--no-special]      (the whole file is one text)
//   synpref tokenize --tokenizer DIR --decode '[9707, 1879]' [--skip-special]
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
#include "synpref/tokenizer/tokenizer.h"

namespace {

struct TokenizeOptions {
  std::string tokenizer_dir;
  std::string text;
  std::string file;
  std::string decode_ids;
  bool no_special = false;
  bool skip_special = false;
};

synpref::Status run_tokenize(const TokenizeOptions& opt, bool has_text) {
  using namespace synpref;
  SP_ASSIGN_OR_RETURN(tokenizer::Tokenizer tok, tokenizer::load_tokenizer(opt.tokenizer_dir));
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
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(ids[i]);
  }
  out += "]\n";
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
  // Chat input (`--chat FILE.json`, `--render`) is added here by the chat-template subsystem
  // (src/chat) when it lands; until then those flags are deliberately not registered.
  cmd->callback([opt, text_opt] {
    const bool has_text = text_opt->count() > 0;
    synpref::cli::set_action([opt, has_text] { return run_tokenize(*opt, has_text); });
  });
}

SYNPREF_COMMAND(300, add_tokenize);

}  // namespace
