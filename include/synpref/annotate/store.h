// synpref/annotate/store.h: the gold-set annotation state of one curation project.
//
// The state lives in its own SQLite database, DIR/annotate.db, beside the curation store
// DIR/project.db (docs/annotate.md, "Database"): accounts, sessions, the queue of pairs to label
// (a copy of each pair's conversation, responses and attributes, so serving never reads the pool),
// labels with time spent and judge-panel use, adjudications, and the judge requests made. The
// curation store only receives the finished gold set (export_gold).
//
// Protocol (report appendix D.2): annotators label the queue in priority order (objective,
// low-controversy pairs first by default); each pair needs `annotators_per_pair` labels that are
// not skips; pairs whose labels disagree go to an admin for adjudication; "cannot determine" that
// stands (agreed or adjudicated) discards the pair. Gold questions (pairs with a known verdict)
// are served to every annotator and score them.
//
// Guarantees:
//  - Every write is one SQLite transaction (WAL, synchronous=NORMAL) committed before the call
//    returns: a label acknowledged to a client survives a killed process.
//  - Isolation: every per-annotator read and write takes the acting user's id; an annotator can
//    only read and change their own labels and queue (admins read everything).
//  - Passwords are stored as argon2id encoded hashes (libargon2); session tokens are random 256-bit
//    values stored only as a keyed hash, so a leaked database does not reveal live sessions.
//  - Thread-safe: one internal mutex serializes database access; password hashing runs outside it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "synpref/common/status.h"

namespace synpref::curate {
class Project;
}

namespace synpref::annotate {

enum class Role { admin, annotator };
std::string_view role_name(Role role);
Result<Role> parse_role(std::string_view name);  // "admin" | "annotator"

// What an annotator (or adjudicator) says about the two responses as they were shown.
enum class Choice { first, second, tie, cannot, skip };
std::string_view choice_name(Choice choice);  // "first", "second", "tie", "cannot", "skip"
Result<Choice> parse_choice(std::string_view name);

// A verdict about the pair itself (independent of display order).
enum class Verdict { chosen, rejected, tie, cannot };
std::string_view verdict_name(Verdict verdict);  // "chosen", "rejected", "tie", "cannot"

struct StoreOptions {
  int annotators_per_pair = 2;  // non-skip labels a pair needs before it is settled (>= 1)
  // Queue order: attribute names compared in turn, best rank first. "objectivity" ranks
  // objective < normative < mixed < subjective < unknown; "controversiality" none < low < medium <
  // high < unknown. Empty = pool order.
  std::vector<std::string> priority = {"objectivity", "controversiality"};
  uint64_t seed = 0;        // display order of the two responses: seeded per (pair, annotator)
  int lease_seconds = 600;  // an item served to an annotator is reserved for them this long
  int session_hours = 12;
  // argon2id cost (defaults: OWASP's minimum, m = 19 MiB, t = 2, p = 1). Tests lower it.
  uint32_t argon2_memory_kib = 19456, argon2_iterations = 2;
  // Annotation guidelines shown on the guidelines page (markdown); "" = the built-in protocol text.
  std::string guidelines_markdown;
};

struct User {
  int64_t id = 0;
  std::string name;
  Role role = Role::annotator;
};

struct Session {
  User user;
  std::string csrf;  // must accompany every state-changing request of this session
};

struct LoginResult {
  Session session;
  std::string token;  // the cookie value; only ever returned here
};

// One pair as an annotator sees it: the two responses in this annotator's display order.
struct ItemView {
  int64_t item_id = 0;
  std::string pair_id;
  std::string view_json;  // {"conversation":[{role,content}],"first":...,"second":...,"attributes":{...}}
  bool swapped = false;   // first = the pair's rejected response
};

struct LabelInput {
  int64_t item_id = 0;
  Choice choice = Choice::skip;
  int64_t client_ms = 0;  // time on the page the browser measured (>= 0)
  std::string note;       // optional free text, at most 2000 bytes
};

struct LabelRecord {
  int64_t item_id = 0;
  std::string pair_id, user, category;
  Choice choice = Choice::skip;
  std::optional<Verdict> verdict;  // empty for skips
  bool swapped = false;
  int64_t client_ms = 0, server_ms = 0;  // browser-measured; served-to-submitted on the server
  bool judge_used = false;               // the annotator asked the judge panel about this pair
  std::string note, time;
};

struct AddItemsOptions {
  std::vector<std::string> ids;  // explicit pairs; empty = by priority among pairs with attributes
  int64_t max_items = 100;       // when choosing by priority: how many new pairs (>= 0)
  std::string category;          // when choosing by priority: only this task_category ("" = any)
  int64_t gold_questions = 0;    // also add up to this many of the project's gold pairs as gold questions
};
struct AddItemsSummary {
  int64_t added = 0, already_queued = 0, gold_questions = 0;
};

struct AnnotatorStats {
  std::string user;
  int64_t labeled = 0, skipped = 0, cannot = 0, remaining = 0;
  int64_t judge_used = 0;
  double median_seconds = 0;  // server-measured time per label (NaN when none)
  int64_t gold_answered = 0, gold_correct = 0;
  double kappa = 0;  // Cohen's kappa of this annotator against co-annotators, pooled (NaN: too few)
  int64_t kappa_pairs = 0;
};
struct CategoryStats {
  std::string category;
  int64_t items = 0, settled = 0;
  double alpha = 0;  // Krippendorff's alpha (nominal) over the category's labels
  double kappa = 0;  // Cohen's kappa pooled over every pair of co-annotators in the category
};
struct PairwiseKappa {
  std::string a, b;
  double kappa = 0;
  int64_t n_units = 0;
};
struct Stats {
  int64_t items = 0, settled = 0, agreed = 0, disagreements = 0, adjudicated = 0, discarded = 0;
  double alpha = 0;  // overall Krippendorff's alpha (nominal; NaN when undefined)
  std::vector<AnnotatorStats> annotators;
  std::vector<CategoryStats> categories;
  std::vector<PairwiseKappa> pairwise;
};

struct Disagreement {
  int64_t item_id = 0;
  std::string pair_id;
  std::vector<LabelRecord> labels;
};

struct GoldExportSummary {
  int64_t pairs = 0;      // pairs with a final chosen/rejected/tie verdict written
  int64_t labels = 0;     // provenance labels written (one per agreeing annotator + adjudicator)
  int64_t discarded = 0;  // final verdict "cannot determine": not gold
  int64_t pending = 0;    // not settled yet (too few labels, or awaiting adjudication)
};

class Store {
 public:
  // Opens (creating if needed) DIR/annotate.db. Errors: bad options (by field name), I/O, a
  // database from a newer synpref (unsupported).
  static Result<std::unique_ptr<Store>> open(const std::string& project_dir, const StoreOptions& options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const StoreOptions& options() const;
  std::string guidelines() const;  // markdown

  // ---- Accounts and sessions.
  // name: 1-64 of [A-Za-z0-9_.-]; password: at least 8 bytes. invalid_argument if the name exists.
  Result<User> create_user(std::string_view name, Role role, std::string_view password);
  Result<std::vector<User>> users() const;
  // invalid_argument "wrong name or password" for both unknown names and wrong passwords.
  Result<LoginResult> login(std::string_view name, std::string_view password);
  // not_found when the token is unknown or expired.
  Result<Session> session(std::string_view token) const;
  Status logout(std::string_view token);
  // One-time invites: an admin creates one for a new account name and role and hands the token
  // over; accepting it sets the password, creates the account and logs in. The token is stored
  // only as a hash, works once and expires after `hours` (1-720). Errors: a bad or taken name
  // (invalid_argument); accepting an unknown, used or expired token is not_found.
  Result<std::string> create_invite(std::string_view name, Role role, int hours = 72);
  Result<LoginResult> accept_invite(std::string_view token, std::string_view password);

  // ---- Queue.
  Result<AddItemsSummary> add_items(const curate::Project& project, const AddItemsOptions& options);
  // The next pair for this user (leased to them), or nullopt when their queue is empty.
  Result<std::optional<ItemView>> next_item(const User& user);
  // A queued pair in this user's display order. Annotators: only items in their queue or already
  // labeled by them (not_found otherwise, the same answer as for an unknown item).
  Result<ItemView> item(const User& user, int64_t item_id) const;
  // Records (or replaces) the user's label; durable on return. The item must be visible to them.
  Result<LabelRecord> submit_label(const User& user, const LabelInput& input);
  Result<std::vector<LabelRecord>> labels_of(const User& user) const;
  struct Progress {
    int64_t labeled = 0, skipped = 0, remaining = 0;
  };
  Result<Progress> progress(const User& user) const;

  // ---- Judge panel use: logged per (item, user); submit_label marks the label judge_used.
  Status log_judge_use(const User& user, int64_t item_id, std::string_view endpoint, std::string_view status);

  // ---- Admin.
  Result<std::vector<Disagreement>> disagreements() const;  // awaiting adjudication, queue order
  // The admin's verdict on a disagreement, in the admin's display order of the item.
  Status adjudicate(const User& admin, int64_t item_id, Choice choice, std::string_view note);
  Result<Stats> stats() const;
  // Every label, for the raw export (all annotators; admin only at the service layer).
  Result<std::vector<LabelRecord>> all_labels() const;
  // The settled gold set as gold JSONL lines (the `curate gold` import format: id, verdict,
  // annotator, time, one line per agreeing annotator and one for the adjudicator).
  Result<std::string> gold_jsonl(GoldExportSummary* summary = nullptr) const;
  // The same labels into the curation store (kind "gold", source "human", provenance annotator
  // and time) and the pairs into its gold set. Idempotent.
  Result<GoldExportSummary> export_to_project(curate::Project& project) const;

  struct Impl;

 private:
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace synpref::annotate
