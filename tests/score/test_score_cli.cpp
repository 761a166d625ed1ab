// Black-box tests of `synpref score` and `synpref model-info` (the real binary): scores equal the
// library's on the same ids; output streamed chunk by chunk; --resume after an interruption gives
// the uninterrupted bytes; non-finite scores, all-rejected inputs and an output that is the input
// are errors; progress on a terminal; model-info checks what score needs.
#include <gtest/gtest.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "synpref/encode/rm_input.h"
#include "synpref/model/model.h"
#include "synpref/tokenizer/tokenizer.h"
#include "test_util.h"

using namespace synpref::testing;
namespace fs = std::filesystem;

namespace {

const std::string kShared = std::string(SYNPREF_SOURCE_DIR) + "/../shared/data";

// A tiny random Qwen3 reward model with the real Qwen3 tokenizer, made once per test binary.
const std::string& model_dir() {
  static const std::string dir = [] {
    const std::string d = temp_dir("score_cli_model") + "/rm";
    auto r = run_synpref("init-model --arch qwen3 --preset qwen3-tiny --tokenizer " + kShared +
                         "/tokenizers/qwen3 --seed 9 --init-std 0.2 --out " + d);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return d;
  }();
  return dir;
}

// n pairs, one per line; `long_at` gets a context of ~400 tokens.
std::string pairs_jsonl(int n, int long_at = -1) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    std::string question = "Question " + std::to_string(i) + ": what is " + std::to_string(i) + " + 1?";
    if (i == long_at)
      for (int w = 0; w < 400; ++w) question += " filler" + std::to_string(w);
    nlohmann::json j = {{"id", "r" + std::to_string(i)},
                        {"prompt", question},
                        {"chosen", "It is " + std::to_string(i + 1) + "."},
                        {"rejected", std::string(i % 3 + 1, '?')}};
    out += j.dump() + "\n";
  }
  return out;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    lines.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return lines;
}

std::string score_cmd(const std::string& input, const std::string& output, const std::string& extra = "") {
  return "score --model " + model_dir() + " --input " + input + " --output " + output + " --threads 2 " +
         extra;
}

}  // namespace

TEST(ScoreCli, ScoreMatchesTheLibraryOnTheSameIds) {
  const std::string tmp = temp_dir("score_cli_library");
  const std::string input = tmp + "/in.jsonl";
  spit(
      input,
      R"({"prompt": "What is 2+2?", "chosen": "4", "rejected": "5"})"
      "\n"
      R"({"prompt": "Name a colour.", "chosen": "Blue, like the sky.", "rejected": "I will not answer that."})"
      "\n"
      R"({"prompt": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Bye"}], "chosen": "Goodbye, take care.", "rejected": "..."})"
      "\n"
      "{not json\n");
  const std::string output = tmp + "/out.jsonl";
  auto r = run_synpref("--json " + score_cmd(input, output, "--date 2025-01-01"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json summary = nlohmann::json::parse(r.out);
  EXPECT_EQ(summary["pairs"], 3);
  EXPECT_EQ(summary["rejected"], 1);
  std::vector<nlohmann::json> got;
  for (const auto& line : lines_of(slurp(output))) got.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(got.size(), 3u);

  // The library on the same ids: full conversation = prompt turns + assistant response, scored alone.
  auto tok = synpref::tokenizer::load_tokenizer(model_dir());
  ASSERT_TRUE(tok.is_ok()) << tok.status().message();
  synpref::encode::RmInputOptions opts;
  auto date = synpref::chat::LocalDateTime::parse("2025-01-01");
  ASSERT_TRUE(date.is_ok());
  opts.date = *date;
  auto builder = synpref::encode::RmInputBuilder::create(std::move(tok).value(), opts);
  ASSERT_TRUE(builder.is_ok()) << builder.status().message();
  auto model = synpref::model::Model::load(model_dir());
  ASSERT_TRUE(model.is_ok());
  using synpref::data::Role;
  const std::vector<std::vector<synpref::data::Turn>> prompts = {
      {{Role::user, "What is 2+2?"}},
      {{Role::user, "Name a colour."}},
      {{Role::user, "Hi"}, {Role::assistant, "Hello!"}, {Role::user, "Bye"}}};
  const std::vector<std::pair<std::string, std::string>> answers = {
      {"4", "5"}, {"Blue, like the sky.", "I will not answer that."}, {"Goodbye, take care.", "..."}};
  for (size_t i = 0; i < 3; ++i) {
    for (int k = 0; k < 2; ++k) {
      auto conv = prompts[i];
      conv.push_back({Role::assistant, k == 0 ? answers[i].first : answers[i].second});
      auto ids = builder->encode(conv);
      ASSERT_TRUE(ids.is_ok()) << ids.status().message();
      auto s = (*model)->score_sequences({*ids});
      ASSERT_TRUE(s.is_ok());
      const float cli = got[i]["scores"][static_cast<size_t>(k)].get<float>();
      EXPECT_EQ(cli, (*s)[0]) << "record " << i << " response " << k;
    }
  }
}

TEST(ScoreCli, OutputIsWrittenChunkByChunkSoAFailedRunKeepsWhatWasScored) {
  const std::string tmp = temp_dir("score_cli_stream");
  spit(tmp + "/in.jsonl", pairs_jsonl(12, /*long_at=*/9));
  // Record r9 (line 10) is over --max-length with --truncation error: the run stops there.
  auto r =
      run_synpref(score_cmd(tmp + "/in.jsonl", tmp + "/out.jsonl", "--max-length 200 --chunk-records 4"));
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_NE(r.err.find("in.jsonl:10: record r9: "), std::string::npos) << r.err;
  // The two chunks scored before it are in the output, complete, and equal to a full run's.
  ASSERT_TRUE(fs::exists(tmp + "/out.jsonl")) << "the output is written in place as chunks finish";
  auto partial = lines_of(slurp(tmp + "/out.jsonl"));
  ASSERT_EQ(partial.size(), 8u);
  r = run_synpref(score_cmd(tmp + "/in.jsonl", tmp + "/full.jsonl", "--max-length 200 --truncation skip"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto full = lines_of(slurp(tmp + "/full.jsonl"));
  ASSERT_EQ(full.size(), 11u);
  for (size_t i = 0; i < 8; ++i) EXPECT_EQ(partial[i], full[i]);
  // The skipped record is listed in the rejects file with its line.
  auto rejects = lines_of(slurp(tmp + "/full.jsonl.rejects.jsonl"));
  ASSERT_EQ(rejects.size(), 1u);
  auto reject = nlohmann::json::parse(rejects[0]);
  EXPECT_EQ(reject["line"], 10);
  EXPECT_EQ(reject["code"], "too_long_tokens");
}

TEST(ScoreCli, ResumeAfterAnInterruptionGivesTheUninterruptedBytes) {
  const std::string tmp = temp_dir("score_cli_resume");
  auto input_lines = lines_of(pairs_jsonl(30, /*long_at=*/17));
  input_lines.insert(input_lines.begin() + 5, "{broken line");  // a reject early on
  std::string input;
  for (const auto& line : input_lines) input += line + "\n";
  spit(tmp + "/in.jsonl", input);
  const std::string opts = "--max-length 200 --truncation skip --chunk-records 4";
  auto full_run = run_synpref("--json " + score_cmd(tmp + "/in.jsonl", tmp + "/full.jsonl", opts));
  ASSERT_EQ(full_run.exit_code, 0) << full_run.err;
  const std::string full = slurp(tmp + "/full.jsonl");
  ASSERT_EQ(lines_of(full).size(), 29u);
  const auto full_summary = nlohmann::json::parse(full_run.out);

  // What a killed run leaves: whole chunks and a torn last line.
  for (size_t cut : {size_t{0}, full.size() / 3, full.size() / 2 + 7, full.size() - 1, full.size()}) {
    SCOPED_TRACE("cut at byte " + std::to_string(cut));
    spit(tmp + "/out.jsonl", full.substr(0, cut));
    auto r = run_synpref("--json " + score_cmd(tmp + "/in.jsonl", tmp + "/out.jsonl", opts + " --resume"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(slurp(tmp + "/out.jsonl"), full);
    const auto summary = nlohmann::json::parse(r.out);
    for (const char* key : {"records", "scored", "rejected", "skipped_over_max_length", "pairs",
                            "pair_accuracy", "pair_ties", "tokens"})
      EXPECT_EQ(summary[key], full_summary[key]) << key;
    const auto whole_lines = std::count(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(cut), '\n');
    EXPECT_EQ(summary["resumed"], whole_lines) << r.out;
  }
  // Resume without an output yet is a fresh run.
  auto fresh = run_synpref(score_cmd(tmp + "/in.jsonl", tmp + "/fresh.jsonl", opts + " --resume"));
  ASSERT_EQ(fresh.exit_code, 0) << fresh.err;
  EXPECT_EQ(slurp(tmp + "/fresh.jsonl"), full);

  // An output that is not from this input is refused, naming the line.
  auto lines = lines_of(full);
  spit(tmp + "/other.jsonl", lines[0] + "\n" + "{\"id\":\"zzz\",\"scores\":[1.0,2.0]}\n");
  auto wrong = run_synpref(score_cmd(tmp + "/in.jsonl", tmp + "/other.jsonl", opts + " --resume"));
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_NE(wrong.err.find("other.jsonl:2: id 'zzz'"), std::string::npos) << wrong.err;
  // Compressed outputs are written whole and cannot be resumed.
  auto gz = run_synpref(score_cmd(tmp + "/in.jsonl", tmp + "/out.jsonl.gz", opts + " --resume"));
  EXPECT_EQ(gz.exit_code, 2) << gz.err;
  EXPECT_NE(gz.err.find("--resume"), std::string::npos) << gz.err;
}

TEST(ScoreCli, NonFiniteScoresAreAnErrorNamingTheFirstRecord) {
  const std::string tmp = temp_dir("score_cli_nan");
  const std::string broken = tmp + "/broken";
  fs::copy(model_dir(), broken, fs::copy_options::recursive);
  // Put a NaN into score.weight (f32): read its offsets from the safetensors header.
  {
    std::string bytes = slurp(broken + "/model.safetensors");
    uint64_t header_len = 0;
    std::memcpy(&header_len, bytes.data(), 8);
    auto header = nlohmann::json::parse(bytes.substr(8, header_len));
    ASSERT_TRUE(header.contains("score.weight")) << header.dump();
    ASSERT_EQ(header["score.weight"]["dtype"], "F32");
    const uint64_t begin = header["score.weight"]["data_offsets"][0].get<uint64_t>();
    const float nan = std::nanf("");
    std::memcpy(bytes.data() + 8 + header_len + begin + 4 * 5, &nan, 4);
    spit(broken + "/model.safetensors", bytes);
  }
  spit(tmp + "/in.jsonl", pairs_jsonl(5));
  auto r =
      run_synpref("score --model " + broken + " --input " + tmp + "/in.jsonl --output " + tmp + "/out.jsonl");
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_NE(r.err.find("in.jsonl:1: record r0: the model scored response 0 as NaN"), std::string::npos)
      << r.err;
  EXPECT_EQ(slurp(tmp + "/out.jsonl").find("null"), std::string::npos);
  EXPECT_EQ(slurp(tmp + "/out.jsonl"), "") << "nothing of the failing chunk is written";
}

TEST(ScoreCli, EveryRecordRejectedIsAnErrorNamingTheRejectsFile) {
  const std::string tmp = temp_dir("score_cli_rejected");
  // RM-Bench's released JSON: chosen/rejected are lists of three responses, not a format score reads.
  const std::string rm_bench = kShared + "/rm-bench/data/chat_filtered.json";
  auto r = run_synpref(score_cmd(rm_bench, tmp + "/out.jsonl"));
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_NE(r.err.find("nothing could be scored"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(tmp + "/out.jsonl.rejects.jsonl"), std::string::npos) << r.err;
  const auto rejects = lines_of(slurp(tmp + "/out.jsonl.rejects.jsonl"));
  ASSERT_GT(rejects.size(), 0u);
  EXPECT_NE(r.err.find(std::to_string(rejects.size()) + " record(s) rejected"), std::string::npos) << r.err;

  spit(tmp + "/bad.jsonl", "{\"foo\": 1}\n{\"foo\": 2}\nnot json\n");
  r = run_synpref(score_cmd(tmp + "/bad.jsonl", tmp + "/bad.out.jsonl", "--rejects " + tmp + "/why.jsonl"));
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_NE(r.err.find("3 record(s) rejected"), std::string::npos) << r.err;
  EXPECT_EQ(lines_of(slurp(tmp + "/why.jsonl")).size(), 3u);

  spit(tmp + "/empty.jsonl", "");
  r = run_synpref(score_cmd(tmp + "/empty.jsonl", tmp + "/empty.out.jsonl"));
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_NE(r.err.find("no records to score"), std::string::npos) << r.err;
}

TEST(ScoreCli, AnOutputThatIsTheInputIsRefusedBeforeWriting) {
  const std::string tmp = temp_dir("score_cli_same");
  const std::string data = pairs_jsonl(3);
  spit(tmp + "/in.jsonl", data);
  fs::create_symlink(tmp + "/in.jsonl", tmp + "/link.jsonl");
  fs::create_hard_link(tmp + "/in.jsonl", tmp + "/hard.jsonl");
  for (const std::string& out : {tmp + "/in.jsonl", tmp + "/link.jsonl", tmp + "/hard.jsonl",
                                 tmp + "/../" + fs::path(tmp).filename().string() + "/in.jsonl"}) {
    for (const char* extra : {"", "--resume"}) {
      auto r = run_synpref(score_cmd(tmp + "/in.jsonl", out, extra));
      EXPECT_EQ(r.exit_code, 2) << out << " " << extra << ": " << r.err;
      EXPECT_NE(r.err.find("is the input file"), std::string::npos) << r.err;
      EXPECT_EQ(slurp(tmp + "/in.jsonl"), data) << "the data was changed through " << out;
    }
  }
  auto r = run_synpref(score_cmd(tmp + "/link.jsonl", tmp + "/in.jsonl"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(slurp(tmp + "/in.jsonl"), data);
}

namespace {

// Runs the binary with stderr (and stdout) on a pseudo-terminal, CI unset; returns what it drew.
std::string run_on_terminal(const std::string& args) {
  int master = -1;
  const pid_t pid = forkpty(&master, nullptr, nullptr, nullptr);
  if (pid == 0) {
    ::unsetenv("CI");
    execl("/bin/sh", "sh", "-c", (std::string(SYNPREF_BINARY) + " " + args).c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  std::string seen;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(master, buf, sizeof buf);
    if (n <= 0) break;  // EIO once the child has exited
    seen.append(buf, static_cast<size_t>(n));
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(master);
  return seen;
}

}  // namespace

TEST(ScoreCli, ProgressWithRateAndEtaOnATerminalOnly) {
  const std::string tmp = temp_dir("score_cli_progress");
  spit(tmp + "/in.jsonl", pairs_jsonl(40));
  const std::string drawn =
      run_on_terminal(score_cmd(tmp + "/in.jsonl", tmp + "/out.jsonl", "--chunk-records 2"));
  EXPECT_NE(drawn.find("score ["), std::string::npos) << drawn;
  EXPECT_NE(drawn.find("rec/s"), std::string::npos) << drawn;
  EXPECT_NE(drawn.find("ETA"), std::string::npos) << drawn;
  EXPECT_NE(drawn.find("100%"), std::string::npos) << drawn;
  // Not a terminal (run_synpref redirects to files, CI=1): no bar.
  auto r = run_synpref(score_cmd(tmp + "/in.jsonl", tmp + "/out2.jsonl"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("ETA"), std::string::npos) << r.err;
  EXPECT_EQ(slurp(tmp + "/out.jsonl"), slurp(tmp + "/out2.jsonl"));
}

TEST(ScoreCli, ModelInfoChecksEverythingScoreNeeds) {
  const std::string tmp = temp_dir("score_cli_info");
  auto ok = run_synpref("--json model-info " + model_dir());
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(nlohmann::json::parse(ok.out)["score_head"], true);

  const std::string no_tok = tmp + "/no_tokenizer";
  fs::copy(model_dir(), no_tok, fs::copy_options::recursive);
  fs::remove(no_tok + "/tokenizer.json");
  auto r = run_synpref("model-info " + no_tok);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("tokenizer"), std::string::npos) << r.err;

  const std::string bad_template = tmp + "/bad_template";
  fs::copy(model_dir(), bad_template, fs::copy_options::recursive);
  {
    auto config = nlohmann::json::parse(slurp(bad_template + "/tokenizer_config.json"));
    config["chat_template"] = "{{ raise_exception('this template cannot render') }}";
    spit(bad_template + "/tokenizer_config.json", config.dump());
  }
  r = run_synpref("model-info " + bad_template);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("chat template"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("this template cannot render"), std::string::npos) << r.err;

  const std::string lm = tmp + "/lm";
  r = run_synpref("init-model --arch qwen3 --preset qwen3-tiny --head lm --tokenizer " + kShared +
                  "/tokenizers/qwen3 --out " + lm);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_synpref("model-info " + lm);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("no score head"), std::string::npos) << r.err;
}
