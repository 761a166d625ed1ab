// Black-box tests of the real binary: init-model (real tokenizers), convert llama2c, model-info.
// `synpref score` is tested in tests/score/.
#include <sys/wait.h>

#include <cstring>
#include <fstream>

#include "model_test_util.h"

using namespace synpref::model;
using namespace synpref::model::testing;

namespace {

struct CliRun {
  int code;
  std::string out, err;
};

CliRun run(const std::string& args, const TempDir& tmp) {
  const std::string out = tmp.file("stdout.txt"), err = tmp.file("stderr.txt");
  const std::string cmd = std::string(SYNPREF_BINARY) + " " + args + " >" + out + " 2>" + err;
  const int status = std::system(cmd.c_str());
  auto slurp = [](const std::string& p) {
    std::ifstream f(p);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  };
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

const std::string kShared = std::string(SYNPREF_SOURCE_DIR) + "/../shared/data";

}  // namespace

TEST(ModelCli, InitModelWritesRealHuggingFaceFolders) {
  TempDir tmp;
  const std::string qwen = tmp.file("qwen");
  CliRun r = run("init-model --arch qwen3 --preset qwen3-tiny --tokenizer " + kShared +
                     "/tokenizers/qwen3 --seed 3 --out " + qwen,
                 tmp);
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json c = read_json(qwen + "/config.json");
  EXPECT_EQ(c["architectures"][0], "Qwen3ForSequenceClassification");
  EXPECT_EQ(c["num_labels"], 1);
  EXPECT_EQ(c["pad_token_id"], 151643);  // <|endoftext|>
  EXPECT_EQ(c["eos_token_id"], 151645);  // <|im_end|>
  EXPECT_EQ(c["vocab_size"], 151669);    // the tokenizer's ids, 0..151668
  EXPECT_EQ(c["head_dim"], 32);
  EXPECT_TRUE(std::filesystem::exists(qwen + "/tokenizer.json"));
  EXPECT_TRUE(std::filesystem::exists(qwen + "/tokenizer_config.json"));
  r = run("--json model-info " + qwen, tmp);
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json info = nlohmann::json::parse(r.out);
  EXPECT_EQ(info["score_head"], true);
  EXPECT_EQ(info["qk_norm"], true);

  const std::string llama = tmp.file("llama");
  r = run("init-model --arch llama --preset llama-tiny --tokenizer " + kShared +
              "/tokenizers/llama3_1 --seed 4 --dtype bf16 --out " + llama,
          tmp);
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json l = read_json(llama + "/config.json");
  EXPECT_EQ(l["architectures"][0], "LlamaForSequenceClassification");
  EXPECT_EQ(l["vocab_size"], 128256);
  EXPECT_EQ(l["rope_scaling"]["rope_type"], "llama3");
  EXPECT_EQ(l["torch_dtype"], "bfloat16");
  EXPECT_TRUE(std::filesystem::exists(llama + "/LICENSE"));  // the Llama license travels with the files
  EXPECT_TRUE(Model::load(llama).is_ok());

  // Same seed, same bytes.
  const std::string again = tmp.file("again");
  ASSERT_EQ(run("init-model --arch qwen3 --preset qwen3-tiny --tokenizer " + kShared +
                    "/tokenizers/qwen3 --seed 3 --out " + again,
                tmp)
                .code,
            0);
  std::ifstream a(qwen + "/model.safetensors", std::ios::binary),
      b(again + "/model.safetensors", std::ios::binary);
  EXPECT_TRUE(std::equal(std::istreambuf_iterator<char>(a), std::istreambuf_iterator<char>(),
                         std::istreambuf_iterator<char>(b)));
}

TEST(ModelCli, BadArgumentsFailCleanly) {
  TempDir tmp;
  CliRun r = run("init-model --arch qwen3 --preset qwen3-huge --tokenizer " + kShared +
                     "/tokenizers/qwen3 --out " + tmp.file("x"),
                 tmp);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("unknown preset 'qwen3-huge'"), std::string::npos) << r.err;
  r = run("init-model --arch gpt --preset qwen3-tiny --tokenizer " + kShared + "/tokenizers/qwen3 --out " +
              tmp.file("x"),
          tmp);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("--arch"), std::string::npos) << r.err;
  r = run("init-model --arch qwen3 --preset qwen3-tiny --tokenizer " + tmp.file("nope") + " --out " +
              tmp.file("x"),
          tmp);
  EXPECT_NE(r.code, 0);
  r = run("convert llama2c " + tmp.file("missing.bin") + " --out " + tmp.file("y"), tmp);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("no such file"), std::string::npos) << r.err;
  r = run("model-info " + tmp.path(), tmp);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("config.json"), std::string::npos) << r.err;
}

TEST(ModelCli, ConvertLlama2c) {
  TempDir tmp;
  CliRun r = run("convert llama2c " + stories260k_path() + " --out " + tmp.file("stories"), tmp);
  ASSERT_EQ(r.code, 0) << r.err;
  auto m = Model::load(tmp.file("stories"));
  ASSERT_TRUE(m.is_ok()) << m.status().message();
  EXPECT_EQ((*m)->config().architecture, "LlamaForCausalLM");
}
