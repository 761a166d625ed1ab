// Settlement, adjudication, statistics and gold export (see synpref/annotate/store.h).
#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "annotate/store_impl.h"
#include "synpref/annotate/agreement.h"
#include "synpref/curate/project.h"

namespace synpref::annotate {

namespace {

int category_code(Verdict v) {
  return static_cast<int>(v);  // chosen 0, rejected 1, tie 2, cannot 3 (agreement.h)
}

int curate_verdict(Verdict v) {
  return v == Verdict::chosen ? +1 : v == Verdict::rejected ? -1 : 0;
}

// Every label (with user names), ordered by item then user.
Result<std::vector<LabelRecord>> load_labels(sql::Db& db) {
  SP_ASSIGN_OR_RETURN(
      sql::Stmt s,
      db.prepare("SELECT l.item_id, i.pair_id, u.name, i.category, l.choice, l.verdict, l.swapped, "
                 "l.client_ms, l.server_ms, l.judge_used, l.note, l.time FROM labels l "
                 "JOIN items i ON i.item_id = l.item_id JOIN users u ON u.user_id = l.user_id "
                 "ORDER BY i.priority, l.item_id, l.user_id"));
  std::vector<LabelRecord> labels;
  for (;;) {
    SP_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) break;
    LabelRecord r;
    r.item_id = s.col_int(0);
    r.pair_id = s.col_text(1);
    r.user = s.col_text(2);
    r.category = s.col_text(3);
    SP_ASSIGN_OR_RETURN(r.choice, parse_choice(s.col_text_view(4)));
    if (!s.col_null(5)) r.verdict = parse_verdict(s.col_text_view(5));
    r.swapped = s.col_int(6) != 0;
    r.client_ms = s.col_int(7);
    r.server_ms = s.col_int(8);
    r.judge_used = s.col_int(9) != 0;
    r.note = s.col_text(10);
    r.time = s.col_text(11);
    labels.push_back(std::move(r));
  }
  return labels;
}

// Every item with its labels and adjudication, in queue order.
Result<std::vector<ItemState>> load_states(sql::Db& db) {
  SP_ASSIGN_OR_RETURN(sql::Stmt s,
                      db.prepare("SELECT i.item_id, i.pair_id, i.category, i.gold_verdict, a.verdict, "
                                 "u.name, a.time FROM items i LEFT JOIN adjudications a ON "
                                 "a.item_id = i.item_id LEFT JOIN users u ON u.user_id = a.user_id "
                                 "ORDER BY i.priority, i.item_id"));
  std::vector<ItemState> items;
  std::map<int64_t, size_t> index;
  for (;;) {
    SP_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) break;
    ItemState item;
    item.item_id = s.col_int(0);
    item.pair_id = s.col_text(1);
    item.category = s.col_text(2);
    if (!s.col_null(3)) item.gold_question = parse_verdict(s.col_text_view(3));
    if (!s.col_null(4)) {
      item.adjudicated = parse_verdict(s.col_text_view(4));
      item.adjudicator = s.col_text(5);
      item.adjudicated_time = s.col_text(6);
    }
    index[item.item_id] = items.size();
    items.push_back(std::move(item));
  }
  SP_ASSIGN_OR_RETURN(std::vector<LabelRecord> labels, load_labels(db));
  for (LabelRecord& label : labels) items[index.at(label.item_id)].labels.push_back(std::move(label));
  return items;
}

// The values of an item's non-skip labels, for agreement statistics.
std::vector<int> label_values(const ItemState& item) {
  std::vector<int> values;
  for (const LabelRecord& label : item.labels)
    if (label.verdict) values.push_back(category_code(*label.verdict));
  return values;
}

// For each ordered-by-name pair of annotators, the units both labeled: (value of a, value of b).
using CoLabels = std::map<std::pair<std::string, std::string>, std::pair<std::vector<int>, std::vector<int>>>;
void add_co_labels(const ItemState& item, CoLabels& co) {
  for (size_t i = 0; i < item.labels.size(); ++i)
    for (size_t j = 0; j < item.labels.size(); ++j) {
      const LabelRecord &a = item.labels[i], &b = item.labels[j];
      if (i == j || !a.verdict || !b.verdict || a.user >= b.user) continue;
      auto& [va, vb] = co[{a.user, b.user}];
      va.push_back(category_code(*a.verdict));
      vb.push_back(category_code(*b.verdict));
    }
}

double median(std::vector<double> v) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const size_t mid = v.size() / 2;
  return v.size() % 2 ? v[mid] : 0.5 * (v[mid - 1] + v[mid]);
}

// Cohen's kappa over the concatenated co-labels of several annotator pairs: every pair when
// `annotator` is empty, else the pairs that include it (oriented so that it is always rater a).
KappaResult pooled_kappa(const CoLabels& co, const std::string& annotator) {
  std::vector<int> a, b;
  for (const auto& [users, values] : co) {
    if (!annotator.empty() && users.first != annotator && users.second != annotator) continue;
    const bool flip = !annotator.empty() && users.second == annotator;
    const std::vector<int>& mine = flip ? values.second : values.first;
    const std::vector<int>& theirs = flip ? values.first : values.second;
    a.insert(a.end(), mine.begin(), mine.end());
    b.insert(b.end(), theirs.begin(), theirs.end());
  }
  return cohen_kappa(a, b);
}

struct GoldLine {
  std::string pair_id, annotator, time;
  Verdict verdict = Verdict::tie;
};

// The provenance labels of the settled gold set, and the counts.
std::vector<GoldLine> gold_lines(const std::vector<ItemState>& items, int n_per_pair,
                                 GoldExportSummary* summary) {
  std::vector<GoldLine> lines;
  GoldExportSummary s;
  for (const ItemState& item : items) {
    if (item.gold_question) continue;  // already gold: it checks annotators, it is not new gold
    const Settlement settlement = settle(item, n_per_pair);
    if (!settlement.final_verdict) {
      ++s.pending;
      continue;
    }
    const Verdict final_verdict = *settlement.final_verdict;
    if (final_verdict == Verdict::cannot) {
      ++s.discarded;
      continue;
    }
    ++s.pairs;
    for (const LabelRecord& label : item.labels)
      if (label.verdict == final_verdict)
        lines.push_back({item.pair_id, label.user, label.time, final_verdict});
    if (item.adjudicated)
      lines.push_back({item.pair_id, item.adjudicator, item.adjudicated_time, final_verdict});
  }
  s.labels = static_cast<int64_t>(lines.size());
  if (summary) *summary = s;
  return lines;
}

}  // namespace

Settlement settle(const ItemState& item, int annotators_per_pair) {
  Settlement s;
  if (item.adjudicated) {
    s.phase = ItemPhase::adjudicated;
    s.final_verdict = item.adjudicated;
    return s;
  }
  std::vector<Verdict> verdicts;
  for (const LabelRecord& label : item.labels)
    if (label.verdict) verdicts.push_back(*label.verdict);
  if (static_cast<int>(verdicts.size()) < annotators_per_pair) return s;
  const bool all_same =
      std::all_of(verdicts.begin(), verdicts.end(), [&](Verdict v) { return v == verdicts[0]; });
  if (all_same) {
    s.phase = ItemPhase::agreed;
    s.final_verdict = verdicts[0];
  } else {
    s.phase = ItemPhase::disagreement;
  }
  return s;
}

Result<std::vector<Disagreement>> Store::disagreements() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  SP_ASSIGN_OR_RETURN(std::vector<ItemState> items, load_states(*impl_->db));
  std::vector<Disagreement> out;
  for (ItemState& item : items) {
    if (item.gold_question) continue;
    if (settle(item, impl_->options.annotators_per_pair).phase != ItemPhase::disagreement) continue;
    out.push_back({item.item_id, item.pair_id, std::move(item.labels)});
  }
  return out;
}

Status Store::adjudicate(const User& admin, int64_t item_id, Choice choice, std::string_view note) {
  if (admin.role != Role::admin) return invalid_argument("only an admin adjudicates");
  if (choice == Choice::skip) return invalid_argument("choice: an adjudication cannot be a skip");
  if (note.size() > 2000) return invalid_argument("note must be at most 2000 bytes");
  std::lock_guard<std::mutex> lock(impl_->mu);
  sql::Db& db = *impl_->db;
  SP_ASSIGN_OR_RETURN(sql::Stmt s, db.prepare("SELECT pair_id FROM items WHERE item_id = ?1"));
  SP_ASSIGN_OR_RETURN(bool found, s.bind(1, item_id).step());
  if (!found) return not_found("no item " + std::to_string(item_id));
  const std::string pair_id = s.col_text(0);
  s.reset();
  const Verdict verdict = *verdict_of(choice, display_swapped(impl_->options.seed, pair_id, admin.id));
  SP_ASSIGN_OR_RETURN(sql::Stmt put,
                      db.prepare("INSERT INTO adjudications(item_id, user_id, verdict, note, time) "
                                 "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(item_id) DO UPDATE SET "
                                 "user_id = ?2, verdict = ?3, note = ?4, time = ?5"));
  return put.bind(1, item_id)
      .bind(2, admin.id)
      .bind(3, verdict_name(verdict))
      .bind(4, note)
      .bind(5, now_iso())
      .run();
}

Result<std::vector<LabelRecord>> Store::all_labels() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return load_labels(*impl_->db);
}

Result<Stats> Store::stats() const {
  std::vector<ItemState> items;
  std::vector<User> all_users;
  SP_ASSIGN_OR_RETURN(all_users, users());
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    SP_ASSIGN_OR_RETURN(items, load_states(*impl_->db));
  }
  const int n_per_pair = impl_->options.annotators_per_pair;
  Stats stats;
  stats.items = static_cast<int64_t>(items.size());
  std::vector<std::vector<int>> units;
  std::map<std::string, std::vector<std::vector<int>>> units_by_category;
  std::map<std::string, CategoryStats> categories;
  CoLabels co;
  std::map<std::string, CoLabels> co_by_category;
  std::map<std::string, AnnotatorStats> annotators;
  std::map<std::string, std::vector<double>> seconds;
  for (const ItemState& item : items) {
    const Settlement settlement = settle(item, n_per_pair);
    CategoryStats& category = categories[item.category];
    category.category = item.category;
    ++category.items;
    if (!item.gold_question) {
      stats.settled += settlement.final_verdict.has_value();
      category.settled += settlement.final_verdict.has_value();
      stats.agreed += settlement.phase == ItemPhase::agreed;
      stats.disagreements += settlement.phase == ItemPhase::disagreement;
      stats.adjudicated += settlement.phase == ItemPhase::adjudicated;
      stats.discarded += settlement.final_verdict == Verdict::cannot;
    }
    units.push_back(label_values(item));
    units_by_category[item.category].push_back(units.back());
    add_co_labels(item, co);
    add_co_labels(item, co_by_category[item.category]);
    for (const LabelRecord& label : item.labels) {
      AnnotatorStats& a = annotators[label.user];
      a.labeled += label.choice != Choice::skip;
      a.skipped += label.choice == Choice::skip;
      a.cannot += label.choice == Choice::cannot;
      a.judge_used += label.judge_used;
      if (label.choice != Choice::skip) seconds[label.user].push_back(label.server_ms / 1000.0);
      if (item.gold_question && label.verdict) {
        ++a.gold_answered;
        a.gold_correct += label.verdict == item.gold_question;
      }
    }
  }
  stats.alpha = krippendorff_alpha_nominal(units).alpha;
  for (auto& [name, category] : categories) {
    category.alpha = krippendorff_alpha_nominal(units_by_category[name]).alpha;
    category.kappa = pooled_kappa(co_by_category[name], "").kappa;
    stats.categories.push_back(category);
  }
  for (const User& user : all_users) {
    if (user.role != Role::annotator && !annotators.count(user.name)) continue;
    AnnotatorStats& a = annotators[user.name];
    a.user = user.name;
    auto progress_result = progress(user);
    if (progress_result.is_ok()) a.remaining = progress_result->remaining;
    a.median_seconds = median(seconds[user.name]);
    const KappaResult k = pooled_kappa(co, user.name);
    a.kappa = k.kappa;
    a.kappa_pairs = k.n_units;
    stats.annotators.push_back(a);
  }
  for (const auto& [users, values] : co) {
    const KappaResult k = cohen_kappa(values.first, values.second);
    stats.pairwise.push_back({users.first, users.second, k.kappa, k.n_units});
  }
  return stats;
}

Result<std::string> Store::gold_jsonl(GoldExportSummary* summary) const {
  std::vector<ItemState> items;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    SP_ASSIGN_OR_RETURN(items, load_states(*impl_->db));
  }
  std::string out;
  for (const GoldLine& line : gold_lines(items, impl_->options.annotators_per_pair, summary)) {
    const nlohmann::json j = {{"id", line.pair_id},
                              {"verdict", curate_verdict(line.verdict)},
                              {"annotator", line.annotator},
                              {"time", line.time}};
    out += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out += '\n';
  }
  return out;
}

Result<GoldExportSummary> Store::export_to_project(curate::Project& project) const {
  std::vector<ItemState> items;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    SP_ASSIGN_OR_RETURN(items, load_states(*impl_->db));
  }
  GoldExportSummary summary;
  const std::vector<GoldLine> lines = gold_lines(items, impl_->options.annotators_per_pair, &summary);
  std::vector<curate::Label> labels;
  std::vector<std::string> ids;
  for (const GoldLine& line : lines) {
    curate::Label label;
    label.pair_id = line.pair_id;
    label.source = "human";
    label.annotator = line.annotator;
    label.verdict = curate_verdict(line.verdict);
    label.kind = "gold";
    label.time = line.time;
    labels.push_back(std::move(label));
    if (ids.empty() || ids.back() != line.pair_id) ids.push_back(line.pair_id);
  }
  // Labels first: a kill between the two leaves labels whose membership a rerun restores.
  SP_RETURN_IF_ERROR(project.add_labels(labels));
  SP_RETURN_IF_ERROR(project.set_membership(ids, "gold", true));
  return summary;
}

}  // namespace synpref::annotate
