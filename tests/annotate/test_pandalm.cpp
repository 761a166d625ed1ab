// The agreement statistics on real three-annotator data with published agreement: PandaLM's
// human-annotated test set (999 pairs, three annotators; tests/annotate/data/pandalm/README.md).
// PandaLM's README publishes Cohen's kappa #1-#2 0.85, #1-#3 0.88, #2-#3 0.86 and the label
// distribution (majority of three) 0: 105, 1: 422, 2: 472.
//
// Two levels: the library functions on the labels as published, and the whole annotation path
// (a curation project of the 999 pairs, a Store with three annotators per pair, each annotator
// submitting their PandaLM labels in the display order the store shows them, adjudication of the
// disagreements, Store::stats and the gold export). Both are checked against the published
// figures and against the independent Python reference (tests/oracles/agreement_reference.py
// --pandalm, golden file agreement_reference.json beside the data).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "annotate_test_util.h"
#include "synpref/annotate/agreement.h"
#include "synpref/common/io.h"

using namespace synpref;
using namespace synpref::annotate;
using namespace synpref::testing;

namespace {

constexpr int kAnnotators = 3;
const char* const kAnnotatorNames[kAnnotators] = {"annotator1", "annotator2", "annotator3"};

// One PandaLM test pair. Labels: 0 = similar quality (a tie), 1 = response 1 better, 2 = response
// 2 better.
struct PandaPair {
  int64_t idx = 0;
  std::string category, cmp_key, instruction, input, response1, response2;
  int label[kAnnotators] = {};
};

std::vector<PandaPair> load_pandalm() {
  auto text = io::read_file(source_path("tests/annotate/data/pandalm/testset-v1.jsonl.gz"));
  EXPECT_TRUE(text.is_ok()) << text.status().message();
  std::vector<PandaPair> pairs;
  if (!text.is_ok()) return pairs;
  size_t begin = 0;
  while (begin < text->size()) {
    const size_t end = text->find('\n', begin);
    const nlohmann::json j = nlohmann::json::parse(text->substr(begin, end - begin));
    begin = end == std::string::npos ? text->size() : end + 1;
    PandaPair p;
    p.idx = j.at("idx").get<int64_t>();
    p.category = j.at("motivation_app").get<std::string>();
    p.cmp_key = j.at("cmp_key").get<std::string>();
    p.instruction = j.at("instruction").get<std::string>();
    if (j.contains("input") && j["input"].is_string()) p.input = j["input"].get<std::string>();
    p.response1 = j.at("response1").get<std::string>();
    p.response2 = j.at("response2").get<std::string>();
    for (int a = 0; a < kAnnotators; ++a) p.label[a] = j.at(kAnnotatorNames[a]).get<int>();
    pairs.push_back(std::move(p));
  }
  return pairs;
}

const std::vector<PandaPair>& pandalm() {
  static const std::vector<PandaPair> pairs = load_pandalm();
  return pairs;
}

nlohmann::json reference() {
  return nlohmann::json::parse(slurp(source_path("tests/annotate/data/pandalm/agreement_reference.json")));
}

std::vector<int> labels_of(int annotator) {
  std::vector<int> labels;
  for (const PandaPair& p : pandalm()) labels.push_back(p.label[annotator]);
  return labels;
}

std::vector<std::vector<int>> units_of(const std::vector<PandaPair>& pairs) {
  std::vector<std::vector<int>> units;
  for (const PandaPair& p : pairs) units.push_back({p.label[0], p.label[1], p.label[2]});
  return units;
}

// The label at least two of the three annotators gave (every PandaLM pair has one), or -1.
int majority_label(const PandaPair& p) {
  for (int a = 0; a < kAnnotators; ++a) {
    int votes = 0;
    for (int b = 0; b < kAnnotators; ++b) votes += p.label[b] == p.label[a];
    if (votes >= 2) return p.label[a];
  }
  return -1;
}

// PandaLM label -> the store's verdict about the pair, with response 1 as the pair's chosen side.
Verdict verdict_of_label(int label) {
  return label == 1 ? Verdict::chosen : label == 2 ? Verdict::rejected : Verdict::tie;
}

// The published kappas, as printed in PandaLM's README (two decimals).
struct PublishedKappa {
  int a, b;
  int hundredths;
};
const PublishedKappa kPublished[] = {{0, 1, 85}, {0, 2, 88}, {1, 2, 86}};

TEST(PandaLM, FixtureIsTheWholeTestSet) {
  const auto& pairs = pandalm();
  ASSERT_EQ(pairs.size(), 999u);
  std::set<std::string> categories;
  for (size_t i = 0; i < pairs.size(); ++i) {
    EXPECT_EQ(pairs[i].idx, static_cast<int64_t>(i));
    for (int a = 0; a < kAnnotators; ++a) EXPECT_TRUE(pairs[i].label[a] >= 0 && pairs[i].label[a] <= 2);
    categories.insert(pairs[i].category);
  }
  EXPECT_EQ(categories.size(), 50u);  // motivation_app: the user-oriented apps of self-instruct
}

// The library functions on the labels as published (PandaLM's own codes, no mapping).
TEST(PandaLM, LibraryStatisticsMatchPublishedAndReference) {
  ASSERT_EQ(pandalm().size(), 999u);
  const nlohmann::json ref = reference();
  for (const PublishedKappa& pub : kPublished) {
    const KappaResult k = cohen_kappa(labels_of(pub.a), labels_of(pub.b));
    const std::string key = std::string(kAnnotatorNames[pub.a]) + "-" + kAnnotatorNames[pub.b];
    EXPECT_EQ(std::lround(k.kappa * 100), pub.hundredths) << key << ": kappa " << k.kappa;
    EXPECT_NEAR(k.kappa, ref["kappa"][key].get<double>(), 1e-12) << key;
    EXPECT_EQ(k.n_units, 999);
  }
  const AlphaResult alpha = krippendorff_alpha_nominal(units_of(pandalm()));
  EXPECT_NEAR(alpha.alpha, ref["alpha"].get<double>(), 1e-12);
  EXPECT_EQ(alpha.n_units, 999);
  EXPECT_EQ(alpha.n_pairable, 999 * 3);
  std::map<int, int64_t> majority;
  for (const PandaPair& p : pandalm()) ++majority[majority_label(p)];
  EXPECT_EQ(majority, (std::map<int, int64_t>{{0, 105}, {1, 422}, {2, 472}}));  // published
  for (const auto& [label, n] : majority) EXPECT_EQ(n, ref["majority"][std::to_string(label)].get<int64_t>());
}

// Canonical JSONL of the 999 pairs: prompt = instruction, then the input after a blank line when
// there is one; chosen = response 1, rejected = response 2 (PandaLM's labels are relative, so
// "chosen" only names the side: label 1 means chosen better, 2 rejected better, 0 a tie);
// task_category = motivation_app. A system turn names the PandaLM item: 99 PandaLM pairs repeat
// another pair's prompt and responses exactly (two model pairs answered identically) and were
// labelled separately, while a curation project drops exact content duplicates by design.
std::string pandalm_pool() {
  std::string text;
  for (const PandaPair& p : pandalm()) {
    char id[32];
    std::snprintf(id, sizeof(id), "pandalm-%03lld", static_cast<long long>(p.idx));
    const std::string prompt = p.input.empty() ? p.instruction : p.instruction + "\n\n" + p.input;
    const nlohmann::json j = {
        {"id", id},
        {"kind", "pair"},
        {"source", "pandalm-testset-v1"},
        {"context",
         {{{"role", "system"},
           {"content", "PandaLM test set v1, idx " + std::to_string(p.idx) + " (" + p.cmp_key + ")"}},
          {{"role", "user"}, {"content", prompt}}}},
        {"chosen", {{"content", p.response1}}},
        {"rejected", {{"content", p.response2}}},
        {"attributes", {{"task_category", p.category}}}};
    text += j.dump() + "\n";
  }
  return text;
}

// The displayed choice that says what `label` says, read off the responses as displayed.
Choice displayed_choice(const ItemView& view, const PandaPair& p, int label) {
  const nlohmann::json shown = nlohmann::json::parse(view.view_json);
  const bool response1_first = shown.at("first").get<std::string>() == p.response1;
  EXPECT_EQ(shown.at(response1_first ? "second" : "first").get<std::string>(), p.response2) << view.pair_id;
  EXPECT_EQ(response1_first, !view.swapped) << view.pair_id;
  if (label == 0) return Choice::tie;
  return (label == 1) == response1_first ? Choice::first : Choice::second;
}

TEST(PandaLM, StoreStatisticsAndGoldExportMatchPublished) {
  const auto& pairs = pandalm();
  ASSERT_EQ(pairs.size(), 999u);
  const nlohmann::json ref = reference();
  TempDir tmp;
  spit(tmp.file("pool.jsonl"), pandalm_pool());
  curate::InitSummary init;
  auto project_result = curate::Project::init(tmp.file("p"), {tmp.file("pool.jsonl")}, {}, &init);
  ASSERT_TRUE(project_result.is_ok()) << project_result.status().message();
  std::unique_ptr<curate::Project> project = std::move(project_result).value();
  EXPECT_EQ(init.pairs, 999);
  EXPECT_EQ(init.duplicates, 0);
  EXPECT_EQ(init.rejects, 0);

  StoreOptions options = test_store_options();
  options.annotators_per_pair = kAnnotators;
  auto store_result = Store::open(tmp.file("p"), options);
  ASSERT_TRUE(store_result.is_ok()) << store_result.status().message();
  std::unique_ptr<Store> store = std::move(store_result).value();
  AddItemsOptions add;
  std::map<std::string, const PandaPair*> by_id;
  for (const PandaPair& p : pairs) {
    char id[32];
    std::snprintf(id, sizeof(id), "pandalm-%03lld", static_cast<long long>(p.idx));
    add.ids.push_back(id);
    by_id[id] = &p;
  }
  auto added = store->add_items(*project, add);
  ASSERT_TRUE(added.is_ok()) << added.status().message();
  EXPECT_EQ(added->added, 999);

  // Each annotator labels their whole queue, reading which side is which off the page.
  std::vector<User> annotators;
  for (const char* name : kAnnotatorNames) {
    auto user = store->create_user(name, Role::annotator, std::string("password-") + name);
    ASSERT_TRUE(user.is_ok()) << user.status().message();
    annotators.push_back(*user);
  }
  for (int a = 0; a < kAnnotators; ++a) {
    std::set<std::string> seen;
    int64_t swapped = 0;
    for (;;) {
      auto next = store->next_item(annotators[a]);
      ASSERT_TRUE(next.is_ok()) << next.status().message();
      if (!*next) break;
      const ItemView& view = **next;
      ASSERT_TRUE(seen.insert(view.pair_id).second) << "served twice: " << view.pair_id;
      const PandaPair& p = *by_id.at(view.pair_id);
      swapped += view.swapped;
      const Choice choice = displayed_choice(view, p, p.label[a]);
      auto label = store->submit_label(annotators[a], {view.item_id, choice, 1000, ""});
      ASSERT_TRUE(label.is_ok()) << label.status().message();
      EXPECT_EQ(label->verdict, verdict_of_label(p.label[a])) << view.pair_id << " " << kAnnotatorNames[a];
    }
    EXPECT_EQ(seen.size(), 999u) << kAnnotatorNames[a];
    EXPECT_GT(swapped, 0) << "the display order must be shuffled";
    EXPECT_LT(swapped, 999) << "the display order must be shuffled";
  }

  // Agreement from the store's own statistics.
  auto stats = store->stats();
  ASSERT_TRUE(stats.is_ok()) << stats.status().message();
  EXPECT_EQ(stats->items, 999);
  EXPECT_EQ(stats->agreed, ref["unanimous"].get<int64_t>());  // 879
  EXPECT_EQ(stats->disagreements, 999 - stats->agreed);
  EXPECT_EQ(stats->settled, stats->agreed);
  ASSERT_EQ(stats->pairwise.size(), 3u);
  for (const PublishedKappa& pub : kPublished) {
    const PairwiseKappa* found = nullptr;
    for (const PairwiseKappa& k : stats->pairwise)
      if (k.a == kAnnotatorNames[pub.a] && k.b == kAnnotatorNames[pub.b]) found = &k;
    ASSERT_NE(found, nullptr) << kAnnotatorNames[pub.a] << "-" << kAnnotatorNames[pub.b];
    const std::string key = found->a + "-" + found->b;
    EXPECT_EQ(std::lround(found->kappa * 100), pub.hundredths) << key << ": kappa " << found->kappa;
    EXPECT_NEAR(found->kappa, cohen_kappa(labels_of(pub.a), labels_of(pub.b)).kappa, 1e-12) << key;
    EXPECT_NEAR(found->kappa, ref["kappa"][key].get<double>(), 1e-12) << key;
    EXPECT_EQ(found->n_units, 999);
  }
  EXPECT_NEAR(stats->alpha, ref["alpha"].get<double>(), 1e-12);
  // Per annotator: kappa pooled over their two co-annotators; per category: alpha of its pairs.
  ASSERT_EQ(stats->annotators.size(), 3u);
  for (const AnnotatorStats& s : stats->annotators) {
    const int me = s.user.back() - '1';
    ASSERT_TRUE(me >= 0 && me < kAnnotators) << s.user;
    std::vector<int> mine, theirs;
    for (int other = 0; other < kAnnotators; ++other) {
      if (other == me) continue;
      const std::vector<int> a = labels_of(me), b = labels_of(other);
      mine.insert(mine.end(), a.begin(), a.end());
      theirs.insert(theirs.end(), b.begin(), b.end());
    }
    EXPECT_EQ(s.labeled, 999);
    EXPECT_EQ(s.kappa_pairs, 2 * 999);
    EXPECT_NEAR(s.kappa, cohen_kappa(mine, theirs).kappa, 1e-12) << s.user;
  }
  std::map<std::string, std::vector<PandaPair>> by_category;
  for (const PandaPair& p : pairs) by_category[p.category].push_back(p);
  ASSERT_EQ(stats->categories.size(), by_category.size());
  for (const CategoryStats& c : stats->categories) {
    EXPECT_EQ(c.items, static_cast<int64_t>(by_category[c.category].size())) << c.category;
    const double alpha = krippendorff_alpha_nominal(units_of(by_category[c.category])).alpha;
    if (std::isnan(alpha)) {
      EXPECT_TRUE(std::isnan(c.alpha)) << c.category;
    } else {
      EXPECT_NEAR(c.alpha, alpha, 1e-12) << c.category;
    }
  }

  // The store sends every non-unanimous pair to adjudication; the admin settles each by the
  // majority of the three labels (how PandaLM's published distribution counts), in the admin's
  // own display order.
  auto admin = store->create_user("lead", Role::admin, "password-lead");
  ASSERT_TRUE(admin.is_ok()) << admin.status().message();
  auto disagreements = store->disagreements();
  ASSERT_TRUE(disagreements.is_ok()) << disagreements.status().message();
  EXPECT_EQ(static_cast<int64_t>(disagreements->size()), stats->disagreements);
  for (const Disagreement& d : *disagreements) {
    const PandaPair& p = *by_id.at(d.pair_id);
    EXPECT_EQ(d.labels.size(), 3u) << d.pair_id;
    auto view = store->item(*admin, d.item_id);
    ASSERT_TRUE(view.is_ok()) << view.status().message();
    ASSERT_TRUE(
        store->adjudicate(*admin, d.item_id, displayed_choice(*view, p, majority_label(p)), "majority")
            .is_ok());
  }
  stats = store->stats();
  ASSERT_TRUE(stats.is_ok()) << stats.status().message();
  EXPECT_EQ(stats->settled, 999);
  EXPECT_EQ(stats->adjudicated, static_cast<int64_t>(disagreements->size()));
  EXPECT_EQ(stats->discarded, 0);
  EXPECT_NEAR(stats->alpha, ref["alpha"].get<double>(), 1e-12);  // adjudications are not labels

  // The settled results, as the gold JSONL export writes them (verdict +1 = response 1 better,
  // -1 = response 2 better, 0 = tie): the published label distribution.
  GoldExportSummary summary;
  auto gold = store->gold_jsonl(&summary);
  ASSERT_TRUE(gold.is_ok()) << gold.status().message();
  std::map<std::string, int> verdict_by_id;
  size_t begin = 0;
  int64_t n_lines = 0;
  while (begin < gold->size()) {
    const size_t end = gold->find('\n', begin);
    const nlohmann::json line = nlohmann::json::parse(gold->substr(begin, end - begin));
    begin = end + 1;
    ++n_lines;
    const std::string id = line.at("id").get<std::string>();
    const int verdict = line.at("verdict").get<int>();
    const auto [it, inserted] = verdict_by_id.emplace(id, verdict);
    EXPECT_EQ(it->second, verdict) << "one final verdict per pair: " << id;
  }
  std::map<int, int64_t> published_label_counts;
  for (const auto& [id, verdict] : verdict_by_id)
    ++published_label_counts[verdict > 0 ? 1 : verdict < 0 ? 2 : 0];
  EXPECT_EQ(published_label_counts, (std::map<int, int64_t>{{0, 105}, {1, 422}, {2, 472}}));
  for (const auto& [label, n] : published_label_counts)
    EXPECT_EQ(n, ref["majority"][std::to_string(label)].get<int64_t>());
  // Provenance lines: every annotator who gave the final verdict, plus the adjudicator.
  int64_t expected_lines = 0;
  for (const PandaPair& p : pairs) {
    const int final_label = majority_label(p);
    for (int a = 0; a < kAnnotators; ++a) expected_lines += p.label[a] == final_label;
    const bool unanimous = p.label[0] == p.label[1] && p.label[1] == p.label[2];
    expected_lines += !unanimous;
  }
  EXPECT_EQ(summary.pairs, 999);
  EXPECT_EQ(summary.pending, 0);
  EXPECT_EQ(summary.labels, expected_lines);
  EXPECT_EQ(n_lines, expected_lines);

  // And into the curation project's gold set.
  auto exported = store->export_to_project(*project);
  ASSERT_TRUE(exported.is_ok()) << exported.status().message();
  EXPECT_EQ(exported->pairs, 999);
  auto members = project->members("gold");
  ASSERT_TRUE(members.is_ok()) << members.status().message();
  EXPECT_EQ(members->size(), 999u);
}

}  // namespace
