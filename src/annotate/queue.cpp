// The annotation queue: adding pairs, serving them, labels, progress (see synpref/annotate/store.h).
#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>

#include "annotate/store_impl.h"
#include "synpref/common/hash.h"
#include "synpref/curate/attributes.h"
#include "synpref/curate/project.h"

namespace synpref::annotate {

namespace {

constexpr size_t kMaxNoteBytes = 2000;
constexpr int64_t kMaxClientMs = int64_t{24} * 3600 * 1000;

template <size_t N>
int64_t rank_in(const std::array<std::string_view, N>& values, std::string_view value) {
  for (size_t i = 0; i < N; ++i)
    if (values[i] == value) return static_cast<int64_t>(i);
  return static_cast<int64_t>(N);  // unknown ranks last
}

// Lexicographic over the configured attributes, each rank in [0, 4].
int64_t priority_of(const data::Attributes& a, const std::vector<std::string>& keys) {
  int64_t priority = 0;
  for (const std::string& key : keys) {
    const int64_t rank = key == "objectivity" ? rank_in(curate::kObjectivityValues, a.objectivity)
                                              : rank_in(curate::kControversialityValues, a.controversiality);
    priority = priority * 5 + rank;
  }
  return priority;
}

std::string view_json_of(const data::Record& record) {
  nlohmann::json conversation = nlohmann::json::array();
  for (const data::Turn& turn : record.context)
    conversation.push_back({{"role", data::role_name(turn.role)}, {"content", turn.content}});
  const data::Attributes& a = record.attributes;
  nlohmann::json view = {{"conversation", conversation},
                         {"chosen", record.chosen().content},
                         {"rejected", record.rejected().content},
                         {"attributes",
                          {{"task_category", a.task_category},
                           {"objectivity", a.objectivity},
                           {"controversiality", a.controversiality},
                           {"desired_attributes", a.desired_attributes},
                           {"annotation_guideline", a.annotation_guideline}}}};
  return view.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The stored view with the two responses in this annotator's order ("first", "second").
std::string ordered_view(const std::string& stored, bool swapped) {
  nlohmann::json view = nlohmann::json::parse(stored);
  nlohmann::json out = {{"conversation", view["conversation"]},
                        {"first", swapped ? view["rejected"] : view["chosen"]},
                        {"second", swapped ? view["chosen"] : view["rejected"]},
                        {"attributes", view["attributes"]}};
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

struct Candidate {
  std::string id;
  int64_t row = 0, priority = 0;
  std::string category;
  std::optional<Verdict> gold;
};

Result<std::set<std::string>> queued_ids(sql::Db& db) {
  SP_ASSIGN_OR_RETURN(sql::Stmt s, db.prepare("SELECT pair_id FROM items"));
  std::set<std::string> ids;
  for (;;) {
    SP_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) break;
    ids.insert(s.col_text(0));
  }
  return ids;
}

Result<std::vector<Candidate>> choose_candidates(const curate::Project& project,
                                                 const AddItemsOptions& options,
                                                 const StoreOptions& store_options,
                                                 const std::set<std::string>& queued, int64_t* already) {
  SP_ASSIGN_OR_RETURN(std::vector<std::string> gold_ids, project.members("gold"));
  const std::set<std::string> gold(gold_ids.begin(), gold_ids.end());
  std::vector<Candidate> out;
  auto add = [&](const std::string& id, const data::Attributes& a, std::optional<Verdict> known) -> Status {
    if (queued.count(id)) {
      ++*already;
      return Status::ok();
    }
    SP_ASSIGN_OR_RETURN(int64_t row, project.row_of(id));
    out.push_back({id, row, priority_of(a, store_options.priority), a.task_category, known});
    return Status::ok();
  };
  if (!options.ids.empty()) {
    for (const std::string& id : options.ids) {
      SP_ASSIGN_OR_RETURN(std::optional<data::Attributes> a, project.attributes_of(id));
      SP_RETURN_IF_ERROR(add(id, a.value_or(data::Attributes{}), std::nullopt));
    }
  } else {
    SP_ASSIGN_OR_RETURN(auto attributes, project.attributes());
    std::vector<Candidate> pool;
    for (const auto& [id, a] : attributes) {
      if (gold.count(id) || (!options.category.empty() && a.task_category != options.category)) continue;
      if (queued.count(id)) continue;  // counted only for explicit ids
      SP_ASSIGN_OR_RETURN(int64_t row, project.row_of(id));
      pool.push_back({id, row, priority_of(a, store_options.priority), a.task_category, std::nullopt});
    }
    std::stable_sort(pool.begin(), pool.end(), [](const Candidate& x, const Candidate& y) {
      return x.priority != y.priority ? x.priority < y.priority : x.row < y.row;
    });
    if (static_cast<int64_t>(pool.size()) > options.max_items)
      pool.resize(static_cast<size_t>(options.max_items));
    out = std::move(pool);
  }
  if (options.gold_questions > 0) {
    SP_ASSIGN_OR_RETURN(std::vector<curate::Label> labels, project.labels_for("gold"));
    std::unordered_map<std::string, int> verdict;  // the last gold verdict per pair
    for (const curate::Label& label : labels) verdict[label.pair_id] = label.verdict;
    int64_t n_gold = 0;
    for (const std::string& id : gold_ids) {
      if (n_gold >= options.gold_questions) break;
      const auto it = verdict.find(id);
      if (it == verdict.end() || queued.count(id)) continue;
      SP_ASSIGN_OR_RETURN(std::optional<data::Attributes> a, project.attributes_of(id));
      const Verdict known = it->second > 0   ? Verdict::chosen
                            : it->second < 0 ? Verdict::rejected
                                             : Verdict::tie;
      SP_RETURN_IF_ERROR(add(id, a.value_or(data::Attributes{}), known));
      ++n_gold;
    }
  }
  return out;
}

Result<int64_t> lease_served_ms(sql::Db& db, int64_t item_id, int64_t user_id) {
  SP_ASSIGN_OR_RETURN(sql::Stmt s,
                      db.prepare("SELECT served_ms FROM leases WHERE item_id = ?1 AND user_id = ?2"));
  SP_ASSIGN_OR_RETURN(bool found, s.bind(1, item_id).bind(2, user_id).step());
  if (!found) return not_found("item " + std::to_string(item_id) + " was not served to you");
  const int64_t served = s.col_int(0);
  s.reset();
  return served;
}

// The item's stored pair id and view, if the user may see it (admins: any item).
Result<std::pair<std::string, std::string>> visible_item(sql::Db& db, const User& user, int64_t item_id) {
  SP_ASSIGN_OR_RETURN(
      sql::Stmt s,
      db.prepare("SELECT pair_id, view_json FROM items i WHERE item_id = ?1 AND (?3 OR "
                 "EXISTS(SELECT 1 FROM leases l WHERE l.item_id = i.item_id AND l.user_id = ?2) OR "
                 "EXISTS(SELECT 1 FROM labels l WHERE l.item_id = i.item_id AND l.user_id = ?2))"));
  SP_ASSIGN_OR_RETURN(bool found,
                      s.bind(1, item_id).bind(2, user.id).bind(3, int64_t{user.role == Role::admin}).step());
  // Unknown and not-yours look the same: no probing of other annotators' queues.
  if (!found) return not_found("no item " + std::to_string(item_id) + " in your queue");
  auto out = std::make_pair(s.col_text(0), s.col_text(1));
  s.reset();
  return out;
}

// Items still open to `user_id`: not labeled by them, and a gold question or short of labels
// (counting other annotators' live leases, so N annotators are not exceeded under concurrency).
constexpr std::string_view kOpenToUser =
    "NOT EXISTS(SELECT 1 FROM labels l WHERE l.item_id = i.item_id AND l.user_id = ?1) AND "
    "(i.gold_verdict IS NOT NULL OR "
    " (SELECT COUNT(*) FROM labels l WHERE l.item_id = i.item_id AND l.choice <> 'skip') + "
    " (SELECT COUNT(*) FROM leases s WHERE s.item_id = i.item_id AND s.user_id <> ?1 AND s.expires_ms > ?2 "
    "  AND NOT EXISTS(SELECT 1 FROM labels m WHERE m.item_id = s.item_id AND m.user_id = s.user_id)) < ?3)";

}  // namespace

std::string_view choice_name(Choice choice) {
  switch (choice) {
    case Choice::first:
      return "first";
    case Choice::second:
      return "second";
    case Choice::tie:
      return "tie";
    case Choice::cannot:
      return "cannot";
    case Choice::skip:
      return "skip";
  }
  return "skip";
}

Result<Choice> parse_choice(std::string_view name) {
  for (Choice c : {Choice::first, Choice::second, Choice::tie, Choice::cannot, Choice::skip})
    if (choice_name(c) == name) return c;
  return invalid_argument("choice must be one of first, second, tie, cannot, skip (got `" +
                          std::string(name.substr(0, 40)) + "`)");
}

std::string_view verdict_name(Verdict verdict) {
  switch (verdict) {
    case Verdict::chosen:
      return "chosen";
    case Verdict::rejected:
      return "rejected";
    case Verdict::tie:
      return "tie";
    case Verdict::cannot:
      return "cannot";
  }
  return "cannot";
}

std::optional<Verdict> parse_verdict(std::string_view name) {
  for (Verdict v : {Verdict::chosen, Verdict::rejected, Verdict::tie, Verdict::cannot})
    if (verdict_name(v) == name) return v;
  return std::nullopt;
}

std::optional<Verdict> verdict_of(Choice choice, bool swapped) {
  switch (choice) {
    case Choice::first:
      return swapped ? Verdict::rejected : Verdict::chosen;
    case Choice::second:
      return swapped ? Verdict::chosen : Verdict::rejected;
    case Choice::tie:
      return Verdict::tie;
    case Choice::cannot:
      return Verdict::cannot;
    case Choice::skip:
      return std::nullopt;
  }
  return std::nullopt;
}

bool display_swapped(uint64_t seed, std::string_view pair_id, int64_t user_id) {
  return (hash64(pair_id, seed ^ (static_cast<uint64_t>(user_id) * 0x9e3779b97f4a7c15ull)) >> 17) & 1;
}

Result<AddItemsSummary> Store::add_items(const curate::Project& project, const AddItemsOptions& options) {
  if (options.max_items < 0) return invalid_argument("max_items must be >= 0");
  if (options.gold_questions < 0) return invalid_argument("gold_questions must be >= 0");
  std::set<std::string> queued;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    SP_ASSIGN_OR_RETURN(queued, queued_ids(*impl_->db));
  }
  AddItemsSummary summary;
  SP_ASSIGN_OR_RETURN(std::vector<Candidate> candidates,
                      choose_candidates(project, options, impl_->options, queued, &summary.already_queued));
  // One pass over the pool shards holding the chosen rows (never one shard read per pair).
  std::unordered_map<int64_t, const Candidate*> by_row;
  int64_t first_row = INT64_MAX, end_row = 0;
  for (const Candidate& c : candidates) {
    by_row[c.row] = &c;
    first_row = std::min(first_row, c.row);
    end_row = std::max(end_row, c.row + 1);
  }
  std::vector<std::pair<const Candidate*, std::string>> views;
  if (!candidates.empty()) {
    SP_RETURN_IF_ERROR(
        project.for_each_pair_in(first_row, end_row, [&](int64_t row, const data::Record& record) -> Status {
          const auto it = by_row.find(row);
          if (it != by_row.end()) views.emplace_back(it->second, view_json_of(record));
          return Status::ok();
        }));
  }
  std::lock_guard<std::mutex> lock(impl_->mu);
  sql::Transaction tx(*impl_->db);
  SP_RETURN_IF_ERROR(tx.begin());
  SP_ASSIGN_OR_RETURN(
      sql::Stmt ins,
      impl_->db->prepare("INSERT OR IGNORE INTO items(pair_id, pool_row, priority, category, "
                         "gold_verdict, view_json, added) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
  const std::string now = now_iso();
  for (const auto& [c, view] : views) {
    ins.bind(1, c->id).bind(2, c->row).bind(3, c->priority).bind(4, c->category).bind(6, view).bind(7, now);
    if (c->gold) ins.bind(5, verdict_name(*c->gold));
    SP_RETURN_IF_ERROR(ins.run());
    if (impl_->db->changes() == 0) {
      ++summary.already_queued;
      continue;
    }
    ++summary.added;
    summary.gold_questions += c->gold.has_value();
  }
  SP_RETURN_IF_ERROR(tx.commit());
  return summary;
}

Result<std::optional<ItemView>> Store::next_item(const User& user) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  sql::Db& db = *impl_->db;
  const int64_t now = now_ms();
  sql::Transaction tx(db);
  SP_RETURN_IF_ERROR(tx.begin());
  // An item already served to this user and not labeled yet comes back first (a page reload).
  SP_ASSIGN_OR_RETURN(
      sql::Stmt mine,
      db.prepare("SELECT s.item_id FROM leases s JOIN items i ON i.item_id = s.item_id "
                 "WHERE s.user_id = ?1 AND s.expires_ms > ?2 AND NOT EXISTS(SELECT 1 FROM labels l "
                 "WHERE l.item_id = s.item_id AND l.user_id = ?1) ORDER BY i.priority, i.item_id "
                 "LIMIT 1"));
  SP_ASSIGN_OR_RETURN(bool has_mine, mine.bind(1, user.id).bind(2, now).step());
  int64_t item_id = 0;
  if (has_mine) {
    item_id = mine.col_int(0);
    mine.reset();
  } else {
    SP_ASSIGN_OR_RETURN(sql::Stmt pick,
                        db.prepare("SELECT i.item_id FROM items i WHERE " + std::string(kOpenToUser) +
                                   " ORDER BY i.priority, i.item_id LIMIT 1"));
    SP_ASSIGN_OR_RETURN(
        bool found, pick.bind(1, user.id).bind(2, now).bind(3, impl_->options.annotators_per_pair).step());
    if (!found) return std::optional<ItemView>();
    item_id = pick.col_int(0);
    pick.reset();
    SP_ASSIGN_OR_RETURN(sql::Stmt lease,
                        db.prepare("INSERT INTO leases(item_id, user_id, served_ms, expires_ms) "
                                   "VALUES(?1, ?2, ?3, ?4) ON CONFLICT(item_id, user_id) DO "
                                   "UPDATE SET served_ms = ?3, expires_ms = ?4"));
    SP_RETURN_IF_ERROR(lease.bind(1, item_id)
                           .bind(2, user.id)
                           .bind(3, now)
                           .bind(4, now + impl_->options.lease_seconds * int64_t{1000})
                           .run());
  }
  SP_RETURN_IF_ERROR(tx.commit());
  SP_ASSIGN_OR_RETURN(auto stored, visible_item(db, user, item_id));
  const bool swapped = display_swapped(impl_->options.seed, stored.first, user.id);
  return std::optional<ItemView>(
      ItemView{item_id, stored.first, ordered_view(stored.second, swapped), swapped});
}

Result<ItemView> Store::item(const User& user, int64_t item_id) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  SP_ASSIGN_OR_RETURN(auto stored, visible_item(*impl_->db, user, item_id));
  const bool swapped = display_swapped(impl_->options.seed, stored.first, user.id);
  return ItemView{item_id, stored.first, ordered_view(stored.second, swapped), swapped};
}

Result<LabelRecord> Store::submit_label(const User& user, const LabelInput& input) {
  if (input.client_ms < 0 || input.client_ms > kMaxClientMs)
    return invalid_argument("client_ms must be in [0, 86400000]");
  if (input.note.size() > kMaxNoteBytes) return invalid_argument("note must be at most 2000 bytes");
  std::lock_guard<std::mutex> lock(impl_->mu);
  sql::Db& db = *impl_->db;
  sql::Transaction tx(db);
  SP_RETURN_IF_ERROR(tx.begin());
  SP_ASSIGN_OR_RETURN(auto stored, visible_item(db, user, input.item_id));
  // Time spent as the server saw it: from serving to this submission (a relabel keeps the first).
  int64_t server_ms = 0;
  auto served = lease_served_ms(db, input.item_id, user.id);
  if (served.is_ok()) server_ms = std::max<int64_t>(0, now_ms() - *served);
  SP_ASSIGN_OR_RETURN(sql::Stmt judged,
                      db.prepare("SELECT COUNT(*) FROM judge_uses WHERE item_id = ?1 AND user_id = ?2"));
  SP_ASSIGN_OR_RETURN(bool counted, judged.bind(1, input.item_id).bind(2, user.id).step());
  SP_CHECK(counted);
  LabelRecord label;
  label.judge_used = judged.col_int(0) > 0;
  judged.reset();
  label.item_id = input.item_id;
  label.pair_id = stored.first;
  label.user = user.name;
  label.choice = input.choice;
  label.swapped = display_swapped(impl_->options.seed, stored.first, user.id);
  label.verdict = verdict_of(input.choice, label.swapped);
  label.client_ms = input.client_ms;
  label.server_ms = server_ms;
  label.note = input.note;
  label.time = now_iso();
  SP_ASSIGN_OR_RETURN(
      sql::Stmt put,
      db.prepare(
          "INSERT INTO labels(item_id, user_id, choice, verdict, swapped, client_ms, server_ms, judge_used, "
          "note, time) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT(item_id, user_id) DO "
          "UPDATE SET choice = ?3, verdict = ?4, client_ms = ?6, judge_used = ?8, note = ?9, time = ?10"));
  put.bind(1, label.item_id).bind(2, user.id).bind(3, choice_name(label.choice));
  if (label.verdict) put.bind(4, verdict_name(*label.verdict));
  put.bind(5, int64_t{label.swapped})
      .bind(6, label.client_ms)
      .bind(7, label.server_ms)
      .bind(8, int64_t{label.judge_used})
      .bind(9, label.note)
      .bind(10, label.time);
  SP_RETURN_IF_ERROR(put.run());
  SP_RETURN_IF_ERROR(tx.commit());
  return label;
}

Result<std::vector<LabelRecord>> Store::labels_of(const User& user) const {
  SP_ASSIGN_OR_RETURN(std::vector<LabelRecord> all, all_labels());
  std::vector<LabelRecord> mine;
  for (LabelRecord& label : all)
    if (label.user == user.name) mine.push_back(std::move(label));
  return mine;
}

Result<Store::Progress> Store::progress(const User& user) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  sql::Db& db = *impl_->db;
  Progress p;
  SP_ASSIGN_OR_RETURN(sql::Stmt done,
                      db.prepare("SELECT COALESCE(SUM(choice <> 'skip'), 0), "
                                 "COALESCE(SUM(choice = 'skip'), 0) FROM labels WHERE user_id = ?1"));
  SP_ASSIGN_OR_RETURN(bool row, done.bind(1, user.id).step());
  SP_CHECK(row);
  p.labeled = done.col_int(0);
  p.skipped = done.col_int(1);
  done.reset();
  SP_ASSIGN_OR_RETURN(sql::Stmt open,
                      db.prepare("SELECT COUNT(*) FROM items i WHERE " + std::string(kOpenToUser)));
  SP_ASSIGN_OR_RETURN(
      row, open.bind(1, user.id).bind(2, now_ms()).bind(3, impl_->options.annotators_per_pair).step());
  SP_CHECK(row);
  p.remaining = open.col_int(0);
  open.reset();
  return p;
}

Status Store::log_judge_use(const User& user, int64_t item_id, std::string_view endpoint,
                            std::string_view status) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  SP_RETURN_IF_ERROR(visible_item(*impl_->db, user, item_id).status());
  SP_ASSIGN_OR_RETURN(sql::Stmt ins,
                      impl_->db->prepare("INSERT INTO judge_uses(item_id, user_id, endpoint, status, "
                                         "time) VALUES(?1, ?2, ?3, ?4, ?5)"));
  return ins.bind(1, item_id).bind(2, user.id).bind(3, endpoint).bind(4, status).bind(5, now_iso()).run();
}

}  // namespace synpref::annotate
