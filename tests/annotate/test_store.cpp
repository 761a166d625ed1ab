// The annotation store: accounts, sessions, the priority queue with N annotators per pair, seeded
// display order, isolation between annotators, adjudication, statistics, gold export, durability.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <set>

#include "annotate/store_impl.h"
#include "annotate_test_util.h"
#include "synpref/curate/steps.h"

using namespace synpref;
using namespace synpref::annotate;
using namespace synpref::testing;

namespace {

struct Fixture {
  TempDir tmp;
  std::unique_ptr<curate::Project> project;
  std::unique_ptr<Store> store;
  explicit Fixture(int n_pairs, StoreOptions options = test_store_options()) {
    project = make_annotate_project(tmp.path(), n_pairs);
    auto s = Store::open(tmp.file("p"), options);
    EXPECT_TRUE(s.is_ok()) << s.status().message();
    store = std::move(s).value();
  }
  User user(const std::string& name, Role role = Role::annotator) {
    auto u = store->create_user(name, role, "password-" + name);
    EXPECT_TRUE(u.is_ok()) << u.status().message();
    return *u;
  }
  std::string next_pair(const User& u) {
    auto item = store->next_item(u);
    EXPECT_TRUE(item.is_ok()) << item.status().message();
    return item.is_ok() && *item ? (*item)->pair_id : "";
  }
  // Labels the user's next item with the verdict about the pair itself (whatever the display order).
  int64_t label_next(const User& u, std::optional<Verdict> verdict) {
    auto item = store->next_item(u);
    EXPECT_TRUE(item.is_ok() && *item);
    Choice choice = Choice::skip;
    if (verdict == Verdict::chosen) choice = (*item)->swapped ? Choice::second : Choice::first;
    if (verdict == Verdict::rejected) choice = (*item)->swapped ? Choice::first : Choice::second;
    if (verdict == Verdict::tie) choice = Choice::tie;
    if (verdict == Verdict::cannot) choice = Choice::cannot;
    auto label = store->submit_label(u, {(*item)->item_id, choice, 1234, ""});
    EXPECT_TRUE(label.is_ok()) << label.status().message();
    if (label.is_ok()) {
      EXPECT_EQ(label->verdict, verdict);
    }
    return (*item)->item_id;
  }
};

AddItemsOptions top(int64_t n, int64_t gold_questions = 0) {
  AddItemsOptions o;
  o.max_items = n;
  o.gold_questions = gold_questions;
  return o;
}
AddItemsOptions ids(std::vector<std::string> pair_ids) {
  AddItemsOptions o;
  o.ids = std::move(pair_ids);
  return o;
}

std::string db_text(const std::string& path, const std::string& query) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* s = nullptr;
  std::string out;
  if (sqlite3_prepare_v2(db, query.c_str(), -1, &s, nullptr) == SQLITE_OK)
    while (sqlite3_step(s) == SQLITE_ROW)
      out += std::string(reinterpret_cast<const char*>(sqlite3_column_text(s, 0))) + "\n";
  sqlite3_finalize(s);
  sqlite3_close(db);
  return out;
}

TEST(AnnotateStore, AccountsPasswordsAndSessions) {
  Fixture f(4);
  EXPECT_FALSE(f.store->create_user("bad name", Role::annotator, "longenough").is_ok());
  EXPECT_FALSE(f.store->create_user("", Role::annotator, "longenough").is_ok());
  EXPECT_FALSE(f.store->create_user("short", Role::annotator, "1234567").is_ok());
  const User alice = f.user("alice");
  auto dup = f.store->create_user("alice", Role::admin, "another-password");
  ASSERT_FALSE(dup.is_ok());
  EXPECT_NE(dup.status().message().find("already exists"), std::string::npos);

  // Unknown names and wrong passwords get the same answer.
  auto wrong = f.store->login("alice", "password-bob");
  auto unknown = f.store->login("nobody", "password-alice");
  ASSERT_FALSE(wrong.is_ok());
  ASSERT_FALSE(unknown.is_ok());
  EXPECT_EQ(wrong.status().message(), unknown.status().message());

  auto login = f.store->login("alice", "password-alice");
  ASSERT_TRUE(login.is_ok()) << login.status().message();
  EXPECT_EQ(login->token.size(), 64u);
  EXPECT_EQ(login->session.csrf.size(), 64u);
  auto session = f.store->session(login->token);
  ASSERT_TRUE(session.is_ok());
  EXPECT_EQ(session->user.id, alice.id);
  EXPECT_EQ(session->csrf, login->session.csrf);
  EXPECT_FALSE(f.store->session(std::string(64, '0')).is_ok());

  // The database holds an argon2id hash, never the password or the session token.
  const std::string db = f.tmp.file("p/annotate.db");
  const std::string hashes = db_text(db, "SELECT password_hash FROM users");
  EXPECT_EQ(hashes.rfind("$argon2id$v=19$", 0), 0u) << hashes;
  EXPECT_EQ(hashes.find("password-alice"), std::string::npos);
  EXPECT_EQ(db_text(db, "SELECT token_hash FROM sessions").find(login->token), std::string::npos);

  ASSERT_TRUE(f.store->logout(login->token).is_ok());
  EXPECT_FALSE(f.store->session(login->token).is_ok());
}

TEST(AnnotateStore, OneTimeInvites) {
  Fixture f(4);
  f.user("taken");
  EXPECT_FALSE(f.store->create_invite("taken", Role::annotator).is_ok());
  EXPECT_FALSE(f.store->create_invite("bad name", Role::annotator).is_ok());
  EXPECT_FALSE(f.store->create_invite("dave", Role::annotator, 0).is_ok());
  auto token = f.store->create_invite("dave", Role::annotator);
  ASSERT_TRUE(token.is_ok()) << token.status().message();
  EXPECT_EQ(token->size(), 64u);
  EXPECT_FALSE(f.store->accept_invite(*token, "short").is_ok());
  EXPECT_EQ(f.store->accept_invite(std::string(64, '0'), "password-dave").status().code(),
            StatusCode::not_found);
  auto accepted = f.store->accept_invite(*token, "password-dave");
  ASSERT_TRUE(accepted.is_ok()) << accepted.status().message();
  EXPECT_EQ(accepted->session.user.name, "dave");
  EXPECT_EQ(accepted->session.user.role, Role::annotator);
  EXPECT_TRUE(f.store->session(accepted->token).is_ok());
  EXPECT_TRUE(f.store->login("dave", "password-dave").is_ok());
  // Works once; the database keeps only its hash.
  EXPECT_EQ(f.store->accept_invite(*token, "another-password").status().code(), StatusCode::not_found);
  EXPECT_EQ(db_text(f.tmp.file("p/annotate.db"), "SELECT token_hash FROM invites").find(*token),
            std::string::npos);
}

TEST(AnnotateStore, BadOptionsAndFoldersAreNamed) {
  TempDir tmp;
  for (const std::string& dir : {tmp.file("nothing"), tmp.path()}) {  // missing; a folder but no project
    auto missing = Store::open(dir, test_store_options());
    ASSERT_FALSE(missing.is_ok());
    EXPECT_EQ(missing.status().code(), StatusCode::not_found);
    EXPECT_NE(missing.status().message().find("curate init"), std::string::npos);
  }
  EXPECT_FALSE(std::filesystem::exists(tmp.file("annotate.db")));
  StoreOptions o = test_store_options();
  o.annotators_per_pair = 0;
  auto bad = Store::open(tmp.path(), o);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("annotators_per_pair"), std::string::npos);
  o = test_store_options();
  o.priority = {"length"};
  bad = Store::open(tmp.path(), o);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("priority"), std::string::npos);
}

TEST(AnnotateStore, QueueIsObjectiveAndLowControversyFirst) {
  Fixture f(16);
  auto added = f.store->add_items(*f.project, top(6));
  ASSERT_TRUE(added.is_ok()) << added.status().message();
  EXPECT_EQ(added->added, 6);
  // objective+none, objective+low, objective+medium, objective+high, normative+none, normative+low.
  const User u = f.user("u1");
  std::vector<std::string> order;
  for (int i = 0; i < 6; ++i) {
    order.push_back(f.next_pair(u));
    ASSERT_TRUE(
        f.store->submit_label(u, {f.store->next_item(u).value()->item_id, Choice::tie, 10, ""}).is_ok());
  }
  EXPECT_EQ(order, (std::vector<std::string>{"p005", "p009", "p013", "p001", "p007", "p011"}));
  EXPECT_EQ(f.next_pair(u), "");  // the queue is exhausted for u1
  // Re-adding is a no-op; explicit ids are added in place.
  auto again = f.store->add_items(*f.project, ids({"p005", "p000"}));
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(again->added, 1);
  EXPECT_EQ(again->already_queued, 1);
  auto unknown = f.store->add_items(*f.project, ids({"nope"}));
  EXPECT_FALSE(unknown.is_ok());

  // A configurable priority: controversiality first.
  TempDir tmp2;
  StoreOptions o = test_store_options();
  o.priority = {"controversiality", "objectivity"};
  auto project2 = make_annotate_project(tmp2.path(), 16);
  auto store2 = Store::open(tmp2.file("p"), o);
  ASSERT_TRUE(store2.is_ok());
  ASSERT_TRUE((*store2)->add_items(*project2, top(3)).is_ok());
  const User v = (*store2)->create_user("v", Role::annotator, "password-v").value();
  std::vector<std::string> order2;
  for (int i = 0; i < 3; ++i) {
    auto item = (*store2)->next_item(v).value();
    order2.push_back(item->pair_id);
    ASSERT_TRUE((*store2)->submit_label(v, {item->item_id, Choice::skip, 0, ""}).is_ok());
  }
  EXPECT_EQ(order2, (std::vector<std::string>{"p005", "p007", "p006"}));  // none: objective, normative, mixed
}

TEST(AnnotateStore, EachPairGetsNAnnotatorsAndSkipsDoNotCount) {
  Fixture f(8);
  ASSERT_TRUE(f.store->add_items(*f.project, top(1)).is_ok());
  const User a = f.user("a"), b = f.user("b"), c = f.user("c"), d = f.user("d");
  EXPECT_EQ(f.next_pair(a), "p005");
  EXPECT_EQ(f.next_pair(b), "p005");
  // a and b hold live leases: c is not served the pair (N = 2 would be exceeded).
  EXPECT_EQ(f.next_pair(c), "");
  // A reload gives a the same pair back, not a new lease.
  EXPECT_EQ(f.next_pair(a), "p005");
  f.label_next(a, Verdict::chosen);
  f.label_next(b, std::nullopt);  // b skips: the slot opens again
  EXPECT_EQ(f.next_pair(c), "p005");
  f.label_next(c, Verdict::chosen);
  EXPECT_EQ(f.next_pair(d), "");
  EXPECT_EQ(f.next_pair(b), "");  // b skipped it: never served to b again
  auto p = f.store->progress(a);
  ASSERT_TRUE(p.is_ok());
  EXPECT_EQ(p->labeled, 1);
  EXPECT_EQ(p->remaining, 0);
  auto stats = f.store->stats();
  ASSERT_TRUE(stats.is_ok());
  EXPECT_EQ(stats->agreed, 1);
  EXPECT_EQ(stats->settled, 1);
}

TEST(AnnotateStore, DisplayOrderIsSeededPerPairAndAnnotator) {
  Fixture f(16);
  ASSERT_TRUE(f.store->add_items(*f.project, top(16)).is_ok());
  const User a = f.user("a");
  int swapped = 0;
  for (int i = 0; i < 16; ++i) {
    auto item = f.store->next_item(a).value();
    ASSERT_TRUE(item.has_value());
    // Stable across calls.
    EXPECT_EQ(f.store->item(a, item->item_id)->swapped, item->swapped);
    EXPECT_EQ(item->swapped, display_swapped(7, item->pair_id, a.id));
    const auto view = nlohmann::json::parse(item->view_json);
    const std::string first = view["first"];
    if (item->pair_id != "p003" && item->pair_id != "p004") {
      EXPECT_EQ(first.rfind(item->swapped ? "bad" : "good", 0), 0u) << first;
    }
    swapped += item->swapped;
    // "first" on a swapped item means the pair's rejected response is better.
    auto label = f.store->submit_label(a, {item->item_id, Choice::first, 0, ""});
    ASSERT_TRUE(label.is_ok());
    EXPECT_EQ(label->verdict, item->swapped ? Verdict::rejected : Verdict::chosen);
  }
  EXPECT_GT(swapped, 2);  // a fair coin over 16 pairs (fixed seed: a deterministic count)
  EXPECT_LT(swapped, 14);
}

TEST(AnnotateStore, AnnotatorsAreIsolated) {
  Fixture f(8);
  ASSERT_TRUE(f.store->add_items(*f.project, top(8)).is_ok());
  StoreOptions one = test_store_options();
  const User a = f.user("a"), b = f.user("b"), admin = f.user("root", Role::admin);
  auto a_item = f.store->next_item(a).value();
  ASSERT_TRUE(a_item.has_value());
  ASSERT_TRUE(f.store->submit_label(a, {a_item->item_id, Choice::first, 5, "mine"}).is_ok());
  auto a_second = f.store->next_item(a).value();  // leased to a, not served to b yet
  ASSERT_TRUE(a_second.has_value());
  // b never saw a_second: reading or labeling it is not_found, like an unknown item.
  auto read = f.store->item(b, a_second->item_id);
  ASSERT_FALSE(read.is_ok());
  EXPECT_EQ(read.status().code(), StatusCode::not_found);
  auto write = f.store->submit_label(b, {a_second->item_id, Choice::second, 5, "not mine"});
  ASSERT_FALSE(write.is_ok());
  EXPECT_EQ(write.status().code(), StatusCode::not_found);
  EXPECT_EQ(f.store->item(b, 999999).status().code(), StatusCode::not_found);
  // b labels a's first pair through b's own queue: a's label is untouched.
  auto b_item = f.store->next_item(b).value();
  ASSERT_EQ(b_item->item_id, a_item->item_id);
  ASSERT_TRUE(f.store->submit_label(b, {b_item->item_id, Choice::tie, 5, "b's"}).is_ok());
  auto a_labels = f.store->labels_of(a).value();
  ASSERT_EQ(a_labels.size(), 1u);
  EXPECT_EQ(a_labels[0].choice, Choice::first);
  EXPECT_EQ(a_labels[0].note, "mine");
  const std::vector<LabelRecord> b_labels = f.store->labels_of(b).value();
  EXPECT_EQ(b_labels.size(), 1u);
  for (const LabelRecord& l : b_labels) EXPECT_EQ(l.user, "b");
  // Admins may read any item; annotators may not adjudicate.
  EXPECT_TRUE(f.store->item(admin, a_second->item_id).is_ok());
  EXPECT_FALSE(f.store->adjudicate(a, a_item->item_id, Choice::first, "").is_ok());
}

TEST(AnnotateStore, DisagreementAdjudicationAndGoldExport) {
  Fixture f(8);
  ASSERT_TRUE(f.store->add_items(*f.project, top(4)).is_ok());  // p005 p001 p007 p006
  const User a = f.user("a"), b = f.user("b"), admin = f.user("root", Role::admin);
  // p005: agree chosen. p001: disagree (chosen vs rejected). p007: agree cannot -> discarded.
  // p006: a says tie, b has not labeled -> pending.
  f.label_next(a, Verdict::chosen);
  f.label_next(b, Verdict::chosen);
  const int64_t disputed = f.label_next(a, Verdict::chosen);
  EXPECT_EQ(f.label_next(b, Verdict::rejected), disputed);
  f.label_next(a, Verdict::cannot);
  f.label_next(b, Verdict::cannot);
  f.label_next(a, Verdict::tie);

  auto disagreements = f.store->disagreements().value();
  ASSERT_EQ(disagreements.size(), 1u);
  EXPECT_EQ(disagreements[0].item_id, disputed);
  EXPECT_EQ(disagreements[0].labels.size(), 2u);
  GoldExportSummary before;
  ASSERT_TRUE(f.store->gold_jsonl(&before).is_ok());
  EXPECT_EQ(before.pairs, 1);
  EXPECT_EQ(before.discarded, 1);
  EXPECT_EQ(before.pending, 2);

  // The admin says "rejected is better" in the admin's own display order.
  auto view = f.store->item(admin, disputed).value();
  ASSERT_TRUE(
      f.store->adjudicate(admin, disputed, view.swapped ? Choice::first : Choice::second, "b is right")
          .is_ok());
  EXPECT_TRUE(f.store->disagreements().value().empty());
  GoldExportSummary summary;
  auto jsonl = f.store->gold_jsonl(&summary);
  ASSERT_TRUE(jsonl.is_ok());
  EXPECT_EQ(summary.pairs, 2);
  EXPECT_EQ(summary.discarded, 1);
  EXPECT_EQ(summary.pending, 1);
  EXPECT_EQ(summary.labels, 4);  // a + b on p005; b + root on the disputed pair
  const std::string disputed_pair = view.pair_id;
  std::vector<nlohmann::json> lines;
  for (size_t start = 0; start < jsonl->size();) {
    const size_t end = jsonl->find('\n', start);
    lines.push_back(nlohmann::json::parse(jsonl->substr(start, end - start)));
    start = end + 1;
  }
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0]["id"], "p005");
  EXPECT_EQ(lines[0]["verdict"], 1);
  EXPECT_EQ(lines[2]["id"], disputed_pair);
  EXPECT_EQ(lines[2]["verdict"], -1);
  EXPECT_EQ(lines[2]["annotator"], "b");
  EXPECT_EQ(lines[3]["annotator"], "root");

  // The JSONL is exactly the `curate gold` import format, and the direct export agrees with it.
  spit(f.tmp.file("gold.jsonl"), *jsonl);
  auto exported = f.store->export_to_project(*f.project);
  ASSERT_TRUE(exported.is_ok()) << exported.status().message();
  EXPECT_EQ(exported->pairs, 2);
  auto gold = f.project->members("gold").value();
  EXPECT_EQ(std::set<std::string>(gold.begin(), gold.end()), (std::set<std::string>{"p005", disputed_pair}));
  auto labels = f.project->labels_for("gold").value();
  ASSERT_EQ(labels.size(), 4u);
  for (const curate::Label& l : labels) {
    EXPECT_EQ(l.source, "human");
    EXPECT_FALSE(l.annotator.empty());
    EXPECT_FALSE(l.time.empty());
  }
  auto reimport = curate::import_gold_labels(*f.project, f.tmp.file("gold.jsonl"), {});
  ASSERT_TRUE(reimport.is_ok()) << reimport.status().message();
  EXPECT_EQ(reimport->rejected, 0);
  EXPECT_EQ(f.project->labels_for("gold").value().size(), 4u);  // the same labels: a no-op
  ASSERT_TRUE(f.store->export_to_project(*f.project).is_ok());  // idempotent
  EXPECT_EQ(f.project->labels_for("gold").value().size(), 4u);

  auto stats = f.store->stats().value();
  EXPECT_EQ(stats.items, 4);
  EXPECT_EQ(stats.agreed, 2);
  EXPECT_EQ(stats.adjudicated, 1);
  EXPECT_EQ(stats.discarded, 1);
  ASSERT_EQ(stats.pairwise.size(), 1u);
  EXPECT_EQ(stats.pairwise[0].n_units, 3);
}

TEST(AnnotateStore, GoldQuestionsScoreAnnotators) {
  Fixture f(8);
  // p002 and p006 are gold with known verdicts (chosen, rejected).
  curate::Label gold_chosen, gold_rejected;
  gold_chosen.pair_id = "p002";
  gold_chosen.verdict = 1;
  gold_rejected.pair_id = "p006";
  gold_rejected.verdict = -1;
  for (curate::Label* l : {&gold_chosen, &gold_rejected}) {
    l->source = "human";
    l->annotator = "lead";
    l->kind = "gold";
  }
  ASSERT_TRUE(f.project->add_labels({gold_chosen, gold_rejected}).is_ok());
  ASSERT_TRUE(f.project->set_membership({"p002", "p006"}, "gold", true).is_ok());
  auto added = f.store->add_items(*f.project, top(2, 5));
  ASSERT_TRUE(added.is_ok()) << added.status().message();
  EXPECT_EQ(added->added, 4);
  EXPECT_EQ(added->gold_questions, 2);
  const User a = f.user("a"), b = f.user("b"), c = f.user("c");
  std::map<std::string, int64_t> seen;
  // Gold questions go to every annotator (no N limit); a answers both right, b both wrong.
  for (const User* u : {&a, &b, &c})
    for (;;) {
      auto item = f.store->next_item(*u).value();
      if (!item) break;
      ++seen[item->pair_id];
      std::optional<Verdict> v = Verdict::tie;
      if (item->pair_id == "p002") v = u == &a ? Verdict::chosen : Verdict::rejected;
      if (item->pair_id == "p006") v = u == &a ? Verdict::rejected : Verdict::chosen;
      Choice choice = Choice::tie;
      if (v == Verdict::chosen) choice = item->swapped ? Choice::second : Choice::first;
      if (v == Verdict::rejected) choice = item->swapped ? Choice::first : Choice::second;
      ASSERT_TRUE(f.store->submit_label(*u, {item->item_id, choice, 0, ""}).is_ok());
    }
  EXPECT_EQ(seen["p002"], 3);
  EXPECT_EQ(seen["p006"], 3);
  auto stats = f.store->stats().value();
  std::map<std::string, AnnotatorStats> by_user;
  for (const AnnotatorStats& s : stats.annotators) by_user[s.user] = s;
  EXPECT_EQ(by_user["a"].gold_answered, 2);
  EXPECT_EQ(by_user["a"].gold_correct, 2);
  EXPECT_EQ(by_user["b"].gold_correct, 0);
  // Gold questions are never exported as new gold.
  GoldExportSummary summary;
  auto jsonl = f.store->gold_jsonl(&summary).value();
  EXPECT_EQ(jsonl.find("p002"), std::string::npos);
}

// Every label acknowledged before a SIGKILL is in the database afterwards.
TEST(AnnotateStore, AcknowledgedLabelsSurviveAKilledProcess) {
  Fixture f(40);
  ASSERT_TRUE(f.store->add_items(*f.project, top(40)).is_ok());
  f.user("a");
  f.store.reset();
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(pipe_fds[0]);
    auto store = Store::open(f.tmp.file("p"), test_store_options());
    if (!store.is_ok()) _exit(3);
    const User a = (*store)->login("a", "password-a").value().session.user;
    for (;;) {
      auto item = (*store)->next_item(a);
      if (!item.is_ok() || !*item) _exit(0);
      if (!(*store)->submit_label(a, {(*item)->item_id, Choice::tie, 1, ""}).is_ok()) _exit(4);
      const int64_t acked = (*item)->item_id;  // the acknowledgement the page would advance on
      if (write(pipe_fds[1], &acked, sizeof(acked)) != sizeof(acked)) _exit(5);
    }
  }
  close(pipe_fds[1]);
  std::set<int64_t> acked;
  int64_t id = 0;
  while (acked.size() < 12 && read(pipe_fds[0], &id, sizeof(id)) == sizeof(id)) acked.insert(id);
  kill(child, SIGKILL);
  while (read(pipe_fds[0], &id, sizeof(id)) == sizeof(id)) acked.insert(id);  // those sent before the kill
  close(pipe_fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_GE(acked.size(), 12u);
  auto store = Store::open(f.tmp.file("p"), test_store_options());
  ASSERT_TRUE(store.is_ok());
  std::set<int64_t> stored;
  const std::vector<LabelRecord> labels = (*store)->all_labels().value();
  for (const LabelRecord& l : labels) stored.insert(l.item_id);
  std::string acked_text, stored_text;
  for (int64_t x : acked) acked_text += std::to_string(x) + " ";
  for (int64_t x : stored) stored_text += std::to_string(x) + " ";
  SCOPED_TRACE("acked: " + acked_text + " stored: " + stored_text);
  for (int64_t item_id : acked)
    EXPECT_TRUE(stored.count(item_id)) << "acknowledged label of item " << item_id << " lost";
}

}  // namespace
