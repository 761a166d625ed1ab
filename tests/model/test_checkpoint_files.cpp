// A loaded model never reads its checkpoint files again (issue 12 item 8): truncating
// model.safetensors between load and score used to kill `score` with SIGBUS (the weights were
// mapped); now the scores are the same as before the truncation.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "model_test_util.h"
#include "synpref/model/init.h"
#include "synpref/model/model.h"
#include "synpref/model/safetensors.h"

namespace synpref::model {
namespace {

using testing::random_sequences;
using testing::spans;
using testing::test_init;
using testing::tiny_config;

TEST(CheckpointFiles, TruncatingTheFileAfterLoadDoesNotAffectScoring) {
  testing::TempDir tmp;
  const std::string dir = tmp.file("model");
  const ModelConfig config = tiny_config(Family::qwen3);
  ASSERT_TRUE(write_random_model(config, test_init(5), dir).is_ok());
  LoadOptions options;
  options.n_threads = 1;
  auto model = Model::load(dir, options);
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  const auto seqs = random_sequences(4, 3, 17, config.vocab_size, 11);
  auto before = (*model)->score_sequences(spans(seqs));
  ASSERT_TRUE(before.is_ok()) << before.status().message();

  // Truncate in place (same inode, as `> model.safetensors` or a crashed copy does).
  ASSERT_EQ(::truncate((dir + "/model.safetensors").c_str(), 0), 0);
  auto after = (*model)->score_sequences(spans(seqs));
  ASSERT_TRUE(after.is_ok()) << after.status().message();
  EXPECT_EQ(*before, *after);  // bitwise: the model reads only its own copy

  // Loading the truncated file is a clean error naming it.
  auto again = Model::load(dir, options);
  ASSERT_FALSE(again.is_ok());
  EXPECT_NE(again.status().message().find("model.safetensors"), std::string::npos)
      << again.status().message();
}

TEST(CheckpointFiles, AFifoIsRefusedNotWaitedOn) {
  testing::TempDir tmp;
  const std::string path = tmp.file("model.safetensors");
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  auto file = SafetensorsFile::open(path);  // blocked forever before the fix
  ASSERT_FALSE(file.is_ok());
  EXPECT_NE(file.status().message().find(path + ": not a regular file"), std::string::npos)
      << file.status().message();
}

}  // namespace
}  // namespace synpref::model
