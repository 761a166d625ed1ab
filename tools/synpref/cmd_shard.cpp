// `synpref data tokenize` (records -> tokenized shard) and `synpref data shard-info`.
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "command.h"
#include "synpref/common/threads.h"
#include "synpref/data/stream.h"
#include "synpref/encode/ordered_build.h"
#include "synpref/encode/rm_input.h"
#include "synpref/encode/shard.h"
#include "synpref/tokenizer/tokenizer.h"

namespace synpref::cli {
namespace {

struct TokenizeFlags {
  std::vector<std::string> inputs;
  std::string tokenizer_dir, output, rejects, truncation = "error", date, chat_template_file, format = "auto";
  uint64_t max_length = 16384;
  int threads = 0;
  bool strict = false;
};

// Labels as the shard stores them: one per response (NaN = none), or none at all.
std::vector<float> shard_labels(const data::Record& record) {
  std::vector<float> labels;
  bool any_label = false;
  for (const auto& r : record.responses) {
    labels.push_back(r.label ? static_cast<float>(*r.label) : NAN);
    any_label |= r.label.has_value();
  }
  if (!any_label) labels.clear();
  return labels;
}

Status run_tokenize(const TokenizeFlags& f) {
  SP_RETURN_IF_ERROR(check_threads(f.threads, "--threads"));
  encode::RmInputSettings settings{f.tokenizer_dir, f.max_length, f.truncation, f.date, f.chat_template_file};
  SP_ASSIGN_OR_RETURN(auto builder, encode::open_builder(settings));
  const tokenizer::Tokenizer& tok = builder.tokenizer();

  data::StreamOptions stream_options;
  SP_ASSIGN_OR_RETURN(stream_options.read.format, data::parse_format(f.format));
  stream_options.strict = f.strict;
  stream_options.rejects_path = f.rejects.empty() ? data::default_rejects_path(f.output) : f.rejects;
  stream_options.progress = !global_options().quiet;
  stream_options.label = "tokenize";
  SP_ASSIGN_OR_RETURN(auto stream, data::RecordStream::open(f.inputs, stream_options));
  SP_ASSIGN_OR_RETURN(auto writer, encode::ShardWriter::open(f.output, tok.fingerprint(), f.max_length));
  // Records that cannot be tokenized within max_length (truncation=skip) are logged like other
  // rejects, in a rejects file of their own.
  const std::string skipped_path = f.output + ".too_long.jsonl";
  SP_ASSIGN_OR_RETURN(auto skipped_log, data::RejectLog::open(skipped_path));

  uint64_t tokens = 0, truncated_records = 0, truncated_tokens = 0, written = 0;
  encode::OrderedBuilder ordered(builder, {.n_threads = f.threads, .batch_records = 1024});
  auto next = [&](data::Record& record, encode::Origin& origin) -> Result<bool> {
    SP_ASSIGN_OR_RETURN(bool more, stream->next(record));
    if (more) origin.file = stream->current_file();
    return more;
  };
  auto write = [&](encode::BuiltRecord& built) -> Status {
    const encode::RmInput& input = *built.input;
    if (input.skipped) {
      skipped_log->add({built.origin.file, 0, "too_long_tokens", input.skip_reason,
                        built.record.id});  // line unknown: the id names the record
      return Status::ok();
    }
    const std::vector<float> labels = shard_labels(built.record);
    writer->add(built.record.id, built.record.kind, input, labels,
                built.record.margin ? static_cast<float>(*built.record.margin) : NAN,
                built.record.attributes.task_category);
    tokens += input.prefix.size();
    for (const auto& s : input.suffixes) tokens += s.size();
    truncated_records += input.truncated_tokens > 0;
    truncated_tokens += input.truncated_tokens;
    ++written;
    return Status::ok();
  };
  SP_RETURN_IF_ERROR(ordered.run(next, write));
  SP_RETURN_IF_ERROR(stream->close());
  SP_RETURN_IF_ERROR(skipped_log->close());
  // Nothing usable read, or nothing left to write: fail before the shard replaces anything.
  SP_RETURN_IF_ERROR(stream->check_usable());
  if (written == 0) {
    return data_error(f.output + ": nothing to write: all " + std::to_string(skipped_log->total()) +
                      " records were longer than --max-length (listed in " + skipped_path + ")");
  }
  SP_RETURN_IF_ERROR(writer->close());
  const auto& c = stream->counters();
  nlohmann::json s = {{"command", "tokenize"},
                      {"records", c.records},
                      {"written", written},
                      {"rejects", c.rejects},
                      {"rejects_file", stream_options.rejects_path},
                      {"skipped_too_long", skipped_log->total()},
                      {"skipped_file", skipped_path},
                      {"truncated_records", truncated_records},
                      {"truncated_tokens", truncated_tokens},
                      {"tokens", tokens},
                      {"output", f.output},
                      {"tokenizer_fingerprint", tok.fingerprint().hex()}};
  if (global_options().json) {
    std::printf("%s\n", s.dump().c_str());
  } else {
    std::fprintf(
        stderr,
        "tokenize: %llu records -> %s (%llu tokens; %llu truncated, %llu skipped as too long -> %s); "
        "rejects %llu -> %s\n",
        (unsigned long long)written, f.output.c_str(), (unsigned long long)tokens,
        (unsigned long long)truncated_records, (unsigned long long)skipped_log->total(), skipped_path.c_str(),
        (unsigned long long)c.rejects, stream_options.rejects_path.c_str());
  }
  return Status::ok();
}

Status run_shard_info(const std::string& path, const std::string& tokenizer_dir) {
  std::optional<Hash128> expected;
  if (!tokenizer_dir.empty()) {
    SP_ASSIGN_OR_RETURN(auto tok, tokenizer::load_tokenizer(tokenizer_dir));
    expected = tok.fingerprint();
  }
  SP_ASSIGN_OR_RETURN(auto reader, encode::ShardReader::open(path, expected ? &*expected : nullptr));
  encode::ShardRecord rec;
  uint64_t pairs = 0, sets = 0, prefix_tokens = 0, suffix_tokens = 0;
  while (reader->next(rec)) {
    (rec.kind == data::RecordKind::pair ? pairs : sets) += 1;
    prefix_tokens += rec.prefix.size();
    for (auto s : rec.suffixes) suffix_tokens += s.size();
  }
  nlohmann::json problems = reader->problems();
  nlohmann::json s = {{"shard", path},
                      {"tokenizer_fingerprint", reader->fingerprint().hex()},
                      {"max_length", reader->max_length()},
                      {"records", reader->records_read()},
                      {"records_expected", reader->records_expected()},
                      {"pairs", pairs},
                      {"response_sets", sets},
                      {"prefix_tokens", prefix_tokens},
                      {"suffix_tokens", suffix_tokens},
                      {"problems", problems}};
  if (global_options().json) {
    std::printf("%s\n", s.dump().c_str());
  } else {
    std::printf("%s\n", s.dump(2).c_str());
  }
  if (!reader->problems().empty()) {
    return data_error(path + ": " + std::to_string(reader->problems().size()) +
                      " problem(s) found (listed above)");
  }
  return Status::ok();
}

void add_shard_commands(CLI::App& app) {
  CLI::App* data = app.get_subcommand("data");
  auto f = std::make_shared<TokenizeFlags>();
  auto* cmd =
      data->add_subcommand("tokenize", "Records -> tokenized shard (shared prefix + per-response ids)");
  cmd->add_option("inputs", f->inputs, "Input files (any supported format)")->required();
  cmd->add_option("--tokenizer", f->tokenizer_dir,
                  "Folder with tokenizer.json or tokenizer.model (+ chat template)")
      ->required();
  cmd->add_option("-o,--output", f->output, "Output shard file")->required();
  cmd->add_option("--max-length", f->max_length, "Maximum tokens of prefix + longest response")
      ->capture_default_str();
  cmd->add_option("--truncation", f->truncation, "error, skip or truncate-left")->capture_default_str();
  cmd->add_option("--date", f->date, "Date the chat template sees (YYYY-MM-DD), for reproducible inputs");
  cmd->add_option("--chat-template", f->chat_template_file, "Jinja template file overriding the tokenizer's");
  cmd->add_option("--format", f->format, "Input format (auto, canonical, chat, prompt, hh, rmb)")
      ->capture_default_str();
  cmd->add_option("--rejects", f->rejects, "Where bad records go (default: <output>.rejects.jsonl)");
  cmd->add_flag("--strict", f->strict, "Stop at the first bad record");
  cmd->add_option("--threads", f->threads, "Threads (0 = all cores)")->capture_default_str();
  cmd->callback([f] { set_action([f] { return run_tokenize(*f); }); });

  auto path = std::make_shared<std::string>();
  auto tok_dir = std::make_shared<std::string>();
  auto* info = data->add_subcommand("shard-info", "Check a tokenized shard: header, counts, damaged records");
  info->add_option("shard", *path, "Shard file")->required();
  info->add_option("--tokenizer", *tok_dir, "Also check the shard was made with this tokenizer");
  info->callback(
      [path, tok_dir] { set_action([path, tok_dir] { return run_shard_info(*path, *tok_dir); }); });
}

SYNPREF_COMMAND(110, add_shard_commands);

}  // namespace
}  // namespace synpref::cli
