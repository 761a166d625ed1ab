// Helpers for the judge tests: verdict and attribute prompts built from synth pairs the way the
// judge-sim protocol expects (each candidate on its own line), a sim served from a thread, and
// the verdict parser of the sim's answer protocol.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "synpref/data/synthetic.h"
#include "synpref/judge/client.h"
#include "synpref/judge/sim.h"

namespace synpref::judge::testing {

// Which candidate text is the clean chosen one, and the messages asking a judge about the pair.
struct VerdictPrompt {
  std::vector<Message> messages;
  int correct = 1;  // the candidate the ground truth prefers
};

inline std::string user_text(const data::Record& record) {
  std::string text;
  for (const auto& turn : record.context)
    if (turn.role == data::Role::user) text += turn.content + "\n";
  return text;
}

// `swap` puts the rejected response first.
inline VerdictPrompt verdict_prompt(const data::Record& record, bool swap, bool attributes = false) {
  const std::string& first = record.responses[swap ? 1 : 0].content;
  const std::string& second = record.responses[swap ? 0 : 1].content;
  std::string text = attributes
                         ? "Describe this pair as JSON with task_category, objectivity, controversiality, "
                           "desired_attributes and annotation_guideline.\n\n"
                         : "Which candidate answers the user better? End with 'Preferred: Candidate N'.\n\n";
  text +=
      "[User]\n" + user_text(record) + "\n[Candidate 1]\n" + first + "\n\n[Candidate 2]\n" + second + "\n";
  return {{{"system", "You are a careful judge."}, {"user", text}}, swap ? 2 : 1};
}

// The verdict of a "Preferred: Candidate N" last line or a {"preferred": N} object; nullopt otherwise.
inline std::optional<int> parse_verdict(const std::string& content) {
  size_t at = content.rfind("Preferred: Candidate ");
  if (at != std::string::npos && at + 22 == content.size()) {
    char digit = content.back();
    if (digit == '1' || digit == '2') return digit - '0';
  }
  if (content == "{\"preferred\":1}") return 1;
  if (content == "{\"preferred\":2}") return 2;
  return std::nullopt;
}

// The sample number in the sim's reasoning line ("Reasoning (sample 3): ..."), or -1.
inline long sample_number(const std::string& content) {
  const std::string tag = "Reasoning (sample ";
  if (!content.starts_with(tag)) return -1;
  return std::strtol(content.c_str() + tag.size(), nullptr, 10);
}

// A judge-sim served from a thread for a test's life.
class SimThread {
 public:
  explicit SimThread(const SimOptions& options) {
    auto created = Sim::create(options);
    EXPECT_TRUE(created.is_ok()) << created.status().message();
    sim_ = std::move(created).value();
    thread_ = std::thread([this] { (void)sim_->run(); });
  }
  ~SimThread() {
    sim_->stop();
    thread_.join();
  }
  Sim& operator*() { return *sim_; }
  Sim* operator->() { return sim_.get(); }

 private:
  std::unique_ptr<Sim> sim_;
  std::thread thread_;
};

inline Endpoint sim_endpoint(const Sim& sim, const std::string& model) {
  Endpoint e;
  e.name = model + "@sim";
  e.base_url = sim.base_url();
  e.model = model;
  e.max_concurrency = 8;
  e.timeout_seconds = 10;
  e.max_retries = 4;
  return e;
}

inline data::SynthOptions small_pool(uint64_t train_pairs = 60) {
  data::SynthOptions o;
  o.train_pairs = train_pairs;
  o.test_pairs = 10;
  o.seed = 7;
  return o;
}

}  // namespace synpref::judge::testing
