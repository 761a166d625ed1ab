// `synpref demo`: the main job end to end on generated data, with checks a user can read.
//
// Until scoring and training land in the demo, it runs the preference-data pipeline the way a
// data team would on real data: generate pairs (with known duplicates, known malformed records
// and known benchmark leaks), convert -> dedup -> decontaminate -> split -> stats, and check
// every count against what was planted.
#include <cstdio>
#include <filesystem>
#include <random>

#include "command.h"
#include "synpref/common/io.h"
#include "synpref/common/text.h"
#include "synpref/data/pipeline.h"
#include "synpref/data/synthetic.h"

namespace synpref::cli {
namespace {

struct Checker {
  int failures = 0;
  void check(const std::string& what, uint64_t expected, uint64_t actual) {
    bool ok = expected == actual;
    failures += !ok;
    std::printf("  %s %-52s expected %8llu  got %8llu\n", ok ? "[ok]  " : "[FAIL]", what.c_str(),
                static_cast<unsigned long long>(expected), static_cast<unsigned long long>(actual));
  }
};

Status run_demo(const std::string& dir, uint64_t pairs, uint64_t seed) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return io_error(dir + ": cannot create folder: " + ec.message());
  std::printf("synpref demo: preference-data pipeline on %llu generated pairs (files in %s/)\n\n",
              static_cast<unsigned long long>(pairs), dir.c_str());

  // 1. Generate: chat-format pairs, 10% exact duplicates, one malformed record per 500 lines.
  data::SyntheticOptions gen;
  gen.records = pairs;
  gen.seed = seed;
  gen.duplicate_fraction = 0.10;
  const std::string raw = dir + "/raw.jsonl.gz";
  const char* bad_lines[] = {
      "{\"chosen\": [{\"role\": \"user\", \"content\": \"truncated\"}, \n",     // json
      "{\"prompt\": \"Same?\", \"chosen\": \"yes\", \"rejected\": \"yes\"}\n",  // identical
      "{\"prompt\": \"caf\xE9\", \"chosen\": \"a\", \"rejected\": \"b\"}\n",    // utf8
      "{\"chosen\": [{\"role\": \"user\", \"content\": \"Q\"}, {\"role\": \"assistant\", \"content\": "
      "\"A\"}]}\n",  // missing
  };
  uint64_t planted_bad = 0, planted_dups = 0;
  std::vector<std::string> leak_prompts;
  {
    SP_ASSIGN_OR_RETURN(auto writer, io::Writer::open(raw));
    std::string line;
    for (uint64_t i = 0; i < pairs; ++i) {
      line.clear();
      uint64_t src = data::append_synthetic_record(line, gen, i);
      if (src != i) ++planted_dups;
      writer->append(line);
      if (i % 500 == 499) writer->append(bad_lines[planted_bad++ % 4]);
    }
    SP_RETURN_IF_ERROR(writer->close());
  }
  std::printf("1. generated %s: %llu pairs (%llu exact duplicates) + %llu malformed records\n", raw.c_str(),
              static_cast<unsigned long long>(pairs), static_cast<unsigned long long>(planted_dups),
              static_cast<unsigned long long>(planted_bad));

  data::StreamOptions options;
  options.progress = !global_options().quiet;
  Checker c;

  // 2. Convert to canonical JSONL.
  options.rejects_path = dir + "/canonical.jsonl.rejects.jsonl";
  SP_ASSIGN_OR_RETURN(auto conv, data::convert_files({raw}, dir + "/canonical.jsonl", options));
  std::printf("2. data convert -> canonical.jsonl\n");
  c.check("pairs converted", pairs, conv.written);
  c.check("malformed records rejected (see rejects file)", planted_bad, conv.input.rejects);

  // 3. Global exact dedup.
  options.rejects_path = dir + "/unique.jsonl.rejects.jsonl";
  SP_ASSIGN_OR_RETURN(auto dedup, data::dedup_files({dir + "/canonical.jsonl"}, dir + "/unique.jsonl",
                                                    dir + "/unique.jsonl.duplicates.jsonl", pairs, options));
  std::printf("3. data dedup -> unique.jsonl\n");
  c.check("duplicates removed", planted_dups, dedup.removed);
  c.check("unique pairs kept", pairs - planted_dups, dedup.written);

  // 4. Decontaminate against "benchmark" prompts: 25 prompts taken from the data itself.
  {
    SP_ASSIGN_OR_RETURN(auto stream, data::RecordStream::open({dir + "/unique.jsonl"}, {}));
    data::Record r;
    std::vector<uint64_t> words;
    std::string bench;
    uint64_t idx = 0;
    while (leak_prompts.size() < 25) {
      SP_ASSIGN_OR_RETURN(bool more, stream->next(r));
      if (!more) break;
      if (++idx % 97 != 0) continue;
      data::word_hashes(r.context.back().content, words);
      if (words.size() < 13) continue;
      leak_prompts.push_back(r.context.back().content);
      bench += "{\"prompt\":";
      text::append_json_string(bench, r.context.back().content);
      bench += "}\n";
    }
    SP_RETURN_IF_ERROR(stream->close());
    SP_ASSIGN_OR_RETURN(auto w, io::Writer::open(dir + "/benchmark_prompts.jsonl"));
    w->append(bench);
    SP_RETURN_IF_ERROR(w->close());
  }
  data::NgramIndex index(13);
  SP_ASSIGN_OR_RETURN(uint64_t n_prompts,
                      data::load_benchmark_prompts(dir + "/benchmark_prompts.jsonl", index));
  options.rejects_path = dir + "/clean.jsonl.rejects.jsonl";
  SP_ASSIGN_OR_RETURN(auto decon,
                      data::decontaminate_files({dir + "/unique.jsonl"}, dir + "/clean.jsonl",
                                                dir + "/clean.jsonl.removed.jsonl", index, false, options));
  std::printf("4. data decontaminate (13-grams vs %llu benchmark prompts) -> clean.jsonl\n",
              static_cast<unsigned long long>(n_prompts));
  c.check("contaminated pairs removed", leak_prompts.size(), decon.removed);

  // 5. Split.
  options.rejects_path = dir + "/split/rejects.jsonl";
  SP_ASSIGN_OR_RETURN(auto split, data::split_files({dir + "/clean.jsonl"}, dir + "/split",
                                                    {{"train", 0.9}, {"test", 0.1}}, seed, options));
  std::printf("5. data split -> split/train.jsonl (%llu), split/test.jsonl (%llu)\n",
              static_cast<unsigned long long>(split.splits[0].second),
              static_cast<unsigned long long>(split.splits[1].second));
  c.check("train + test = clean pairs", decon.written, split.splits[0].second + split.splits[1].second);

  // 6. Stats of the training split.
  {
    options.rejects_path = "";
    SP_ASSIGN_OR_RETURN(auto stream, data::RecordStream::open({dir + "/split/train.jsonl"}, options));
    data::Stats stats;
    data::Record r;
    for (;;) {
      SP_ASSIGN_OR_RETURN(bool more, stream->next(r));
      if (!more) break;
      stats.add(r);
    }
    std::printf("6. data stats split/train.jsonl:\n");
    // The counts line and the byte-length summaries (histogram bars omitted).
    std::string text = stats.to_text();
    size_t pos = 0;
    while (pos < text.size()) {
      size_t nl = text.find('\n', pos);
      std::string line = text.substr(pos, nl - pos);
      pos = nl + 1;
      if (line.rfind("records", 0) == 0 || line.find(" bytes ") != std::string::npos) {
        std::printf("   %s\n", line.c_str());
      }
    }
  }
  std::printf(
      "\n%s: %d check(s) failed. Inspect the files in %s/ (rejects, duplicates and removed lists "
      "name every record taken out).\n",
      c.failures == 0 ? "demo passed" : "DEMO FAILED", c.failures, dir.c_str());
  if (c.failures) return internal_error("demo checks failed");
  return Status::ok();
}

void add_demo(CLI::App& app) {
  auto dir = std::make_shared<std::string>("synpref-demo");
  auto pairs = std::make_shared<uint64_t>(20000);
  auto seed = std::make_shared<uint64_t>(1);
  auto* cmd =
      app.add_subcommand("demo", "Run the main job end to end on generated data and check the results");
  cmd->add_option("--out-dir", *dir, "Where the demo writes its files")->capture_default_str();
  cmd->add_option("--pairs", *pairs, "Generated pairs")
      ->capture_default_str()
      ->check(CLI::Range(1000, 100000000));
  cmd->add_option("--seed", *seed, "Seed")->capture_default_str();
  cmd->callback([=] { set_action([=] { return run_demo(*dir, *pairs, *seed); }); });
}

SYNPREF_COMMAND(10, add_demo);

}  // namespace
}  // namespace synpref::cli
