// The trainer as a library (the curation pipeline and an HTTP service call it): option errors name
// TrainOptions fields, never CLI flags.
#include <gtest/gtest.h>

#include "synpref/train/trainer.h"

using synpref::train::run_training;
using synpref::train::TrainOptions;

namespace {

std::string error_of(const TrainOptions& o) {
  auto r = run_training(o);
  EXPECT_FALSE(r.is_ok());
  return r.is_ok() ? "" : r.status().message();
}

}  // namespace

TEST(Trainer, OptionErrorsNameFieldsNotFlags) {
  TrainOptions o;
  std::string m = error_of(o);
  EXPECT_NE(m.find("`out_dir` is required"), std::string::npos) << m;
  o.out_dir = "/nonexistent/never-created";
  m = error_of(o);
  EXPECT_NE(m.find("`tokenizer_dir` is required"), std::string::npos) << m;
  o.tokenizer_dir = "tok";
  m = error_of(o);
  EXPECT_NE(m.find("`data` is required"), std::string::npos) << m;
  o.data = {"pairs.jsonl"};
  o.batch_pairs = 0;
  m = error_of(o);
  EXPECT_NE(m.find("`batch_pairs` must be at least 1"), std::string::npos) << m;
  o.batch_pairs = 8;
  o.schedule = "zigzag";
  m = error_of(o);
  EXPECT_NE(m.find("`schedule` must be linear, constant or cosine"), std::string::npos) << m;
  o.schedule = "linear";
  o.resume = o.overwrite = true;
  m = error_of(o);
  EXPECT_NE(m.find("`resume` and `overwrite` exclude each other"), std::string::npos) << m;
  for (const TrainOptions& bad : {TrainOptions{}, o}) EXPECT_EQ(error_of(bad).find("--"), std::string::npos);
}
