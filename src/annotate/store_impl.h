// src/annotate/store_impl.h: the Store's state, shared by its source files (internal).
//   store.cpp   open, schema, accounts, sessions
//   queue.cpp   adding pairs, serving the queue, labels, progress, judge-use log
//   review.cpp  settlement, disagreements, adjudication, statistics, gold export
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "curate/project_sqlite.h"
#include "synpref/annotate/store.h"

namespace synpref::annotate {

namespace sql = curate::sql;

struct Store::Impl {
  StoreOptions options;
  std::string dir, db_path;
  std::unique_ptr<sql::Db> db;
  mutable std::mutex mu;   // every use of `db`
  std::string dummy_hash;  // verified against for unknown names (same cost as a real login)
};

// Helpers shared by the store's files.
std::string now_iso();  // UTC, "2026-12-05T19:00:00Z"
int64_t now_ms();       // wall clock, milliseconds since the epoch
std::optional<Verdict> parse_verdict(std::string_view name);
// The pair verdict an annotator's choice means, given the display order (nullopt for skip).
std::optional<Verdict> verdict_of(Choice choice, bool swapped);
// Whether `user_id` sees the pair's rejected response first (seeded, stable per pair and user).
bool display_swapped(uint64_t seed, std::string_view pair_id, int64_t user_id);

// An item with everything needed to settle it (review.cpp; the rows of all items at once).
struct ItemState {
  int64_t item_id = 0;
  std::string pair_id, category;
  std::optional<Verdict> gold_question;  // known verdict: a gold question, never exported
  std::vector<LabelRecord> labels;       // every label incl. skips, by user name
  std::optional<Verdict> adjudicated;
  std::string adjudicator, adjudicated_time;
};
enum class ItemPhase { open, agreed, disagreement, adjudicated };
struct Settlement {
  ItemPhase phase = ItemPhase::open;
  std::optional<Verdict> final_verdict;  // set for agreed and adjudicated
};
Settlement settle(const ItemState& item, int annotators_per_pair);

}  // namespace synpref::annotate
