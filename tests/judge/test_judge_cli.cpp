// The real `synpref judge-sim` binary: it prints where it listens on its first stdout line, serves
// the judge client over loopback, stops cleanly (exit 0, a summary) on SIGTERM and SIGINT, and
// refuses bad flags with a usage error naming the flag. `synpref judge check` reaches it.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "judge_test_util.h"
#include "test_util.h"

using namespace synpref;
using namespace synpref::judge;

namespace {

// `synpref judge-sim ...` as a child process with its stdout on a pipe.
class SimProcess {
 public:
  explicit SimProcess(std::vector<std::string> args) {
    int out[2];
    EXPECT_EQ(pipe(out), 0);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      close(out[0]);
      close(out[1]);
      std::vector<char*> argv;
      static std::string binary = SYNPREF_BINARY;
      argv.push_back(binary.data());
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(SYNPREF_BINARY, argv.data());
      _exit(127);
    }
    close(out[1]);
    stdout_ = fdopen(out[0], "r");
  }
  ~SimProcess() {
    if (pid_ > 0 && !waited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (stdout_ != nullptr) fclose(stdout_);
  }
  std::string read_line() {
    char buf[4096];
    if (fgets(buf, sizeof(buf), stdout_) == nullptr) return "";
    std::string line(buf);
    if (!line.empty() && line.back() == '\n') line.pop_back();
    return line;
  }
  std::string read_rest() {
    std::string text;
    char buf[4096];
    while (fgets(buf, sizeof(buf), stdout_) != nullptr) text += buf;
    return text;
  }
  int stop(int signal_number) {
    kill(pid_, signal_number);
    int status = 0;
    waitpid(pid_, &status, 0);
    waited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
  FILE* stdout_ = nullptr;
  bool waited_ = false;
};

}  // namespace

TEST(JudgeSimCli, ServesTheClientAndStopsCleanlyOnSignals) {
  for (int signal_number : {SIGTERM, SIGINT}) {
    SimProcess sim({"judge-sim", "--port", "0", "--train", "40", "--test", "5", "--seed", "7", "--judge",
                    "oracle:accuracy=1", "--judge", "biased:accuracy=0,position_bias=1", "--json", "-q"});
    std::string first = sim.read_line();
    const std::string prefix = "listening on http://127.0.0.1:";
    ASSERT_TRUE(first.starts_with(prefix)) << first;
    int port = std::stoi(first.substr(prefix.size()));
    ASSERT_GT(port, 0);

    Config config;
    for (const char* model : {"oracle", "biased"}) {
      Endpoint e;
      e.name = model;
      e.model = model;
      e.base_url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
      config.endpoints.push_back(e);
    }
    auto client = Client::create(config);
    ASSERT_TRUE(client.is_ok()) << client.status().message();
    data::SynthOptions pool = judge::testing::small_pool(40);
    pool.test_pairs = 5;
    std::vector<ChatRequest> requests;
    std::vector<int> truth;
    for (uint64_t idx = 0; idx < 10; ++idx) {
      auto prompt = judge::testing::verdict_prompt(data::synth_record(pool, "train", idx), idx % 2 == 1);
      for (const char* model : {"oracle", "biased"}) {
        requests.push_back({.endpoint = model, .messages = prompt.messages});
        truth.push_back(std::string(model) == "oracle" ? prompt.correct : 1);
      }
    }
    auto results = (*client)->run(requests);
    for (size_t idx = 0; idx < results.size(); ++idx) {
      ASSERT_TRUE(results[idx].status.is_ok()) << results[idx].status.message();
      EXPECT_EQ(judge::testing::parse_verdict(results[idx].samples[0].content), truth[idx]);
    }

    EXPECT_EQ(sim.stop(signal_number), 0) << "signal " << signal_number;
    auto summary = nlohmann::json::parse(sim.read_rest(), nullptr, false);
    ASSERT_TRUE(summary.is_object());
    EXPECT_EQ(summary["requests"], 20);
    EXPECT_EQ(summary["answered"], 20);
  }
}

TEST(JudgeSimCli, BadFlagsAreUsageErrorsNamingTheFlag) {
  auto run = [](const std::string& args) {
    std::string command = std::string(SYNPREF_BINARY) + " " + args + " 2>&1";
    FILE* pipe = popen(command.c_str(), "r");
    std::string output;
    char buf[4096];
    while (fgets(buf, sizeof(buf), pipe) != nullptr) output += buf;
    int status = pclose(pipe);
    return std::make_pair(WEXITSTATUS(status), output);
  };
  auto [code, output] = run("judge-sim --rate-429 1.5");
  EXPECT_EQ(code, 2) << output;
  EXPECT_NE(output.find("--rate-429"), std::string::npos) << output;
  std::tie(code, output) = run("judge-sim --judge 'x:speed=2'");
  EXPECT_EQ(code, 2) << output;
  EXPECT_NE(output.find("unknown key 'speed'"), std::string::npos) << output;
}

TEST(JudgeCheckCli, ReachesEveryEndpointAndNamesTheUnusableOnes) {
  SimProcess sim({"judge-sim", "--port", "0", "--train", "10", "--test", "2", "--judge", "m1", "-q"});
  std::string first = sim.read_line();
  ASSERT_TRUE(first.starts_with("listening on ")) << first;
  std::string base = first.substr(std::string("listening on ").size()) + "/v1";
  synpref::testing::TempDir dir;
  std::string config = dir.file("judges.json");
  std::ofstream(config) << R"({"endpoints": [{"name": "good", "base_url": ")" << base
                        << R"(", "model": "m1"}, {"name": "wrong-model", "base_url": ")" << base
                        << R"(", "model": "m2"}]})";
  std::string command = std::string(SYNPREF_BINARY) + " judge check " + config + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  std::string output;
  char buf[4096];
  while (fgets(buf, sizeof(buf), pipe) != nullptr) output += buf;
  int status = pclose(pipe);
  EXPECT_EQ(WEXITSTATUS(status), 4) << output;
  EXPECT_NE(output.find("model 'm2' not listed"), std::string::npos) << output;
  EXPECT_NE(output.find("1 of 2 judge endpoints"), std::string::npos) << output;
  EXPECT_EQ(sim.stop(SIGTERM), 0);
}
