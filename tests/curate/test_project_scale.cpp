// Scale of the batch writes: a million labels in one add_labels call (prints the figure; the
// assertion is on the content, never on the time).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "synpref/curate/project.h"
#include "test_project_util.h"

using namespace synpref;
using namespace synpref::testing;

TEST(CurateProject, AMillionLabelsInOneBatch) {
  TempDir tmp;
  spit(tmp.file("pool.jsonl"), make_pool(1000));
  auto opened = curate::Project::init(tmp.file("p"), {tmp.file("pool.jsonl")}, {});
  ASSERT_TRUE(opened.is_ok()) << opened.status().message();
  auto& project = *opened;
  std::vector<std::string> ids;
  ASSERT_TRUE(project
                  ->for_each_pair([&](int64_t, const data::Record& r) {
                    ids.push_back(r.id);
                    return Status::ok();
                  })
                  .is_ok());
  std::vector<curate::Label> labels;
  labels.reserve(1000000);
  for (int idx = 0; idx < 1000000; ++idx)
    labels.push_back(curate::Label{ids[idx % 1000], "llm_judge", "judge", idx / 1000, "ph", 1, 0.5, "silver",
                                   "2026-01-01T00:00:00Z"});
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(project->add_labels(labels).is_ok());
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("add_labels: 1000000 labels in %.2f s (%.0f labels/s)\n", seconds, 1e6 / seconds);
  EXPECT_EQ(project->status()->labels_by_kind_source.at("silver").at("llm_judge"), 1000000);
  // The same batch again adds nothing.
  ASSERT_TRUE(project->add_labels(labels).is_ok());
  EXPECT_EQ(project->status()->labels_by_kind_source.at("silver").at("llm_judge"), 1000000);
}
