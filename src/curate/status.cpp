// Project::status: the counts `synpref curate status` prints, each one SQL aggregate.
#include "project_impl.h"

namespace synpref::curate {
namespace {

// Runs `query` and calls fn(stmt) per row.
template <typename Fn>
Status each_row(sql::Db& db, const char* query, Fn fn) {
  SP_ASSIGN_OR_RETURN(auto stmt, db.prepare(query));
  for (;;) {
    SP_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row) return Status::ok();
    fn(stmt);
  }
}

void add_decision(StageCounts& counts, bool keep, int64_t n) {
  (keep ? counts.kept : counts.discarded) += n;
}

JudgeUsage read_usage(const sql::Stmt& s, int first_col) {
  JudgeUsage u;
  u.requests = s.col_int(first_col);
  u.cached = s.col_int(first_col + 1);
  u.retries = s.col_int(first_col + 2);
  u.failures = s.col_int(first_col + 3);
  u.prompt_tokens = s.col_int(first_col + 4);
  u.completion_tokens = s.col_int(first_col + 5);
  u.cost_usd = s.col_null(first_col + 6) ? 0 : s.col_double(first_col + 6);
  return u;
}

constexpr const char* kUsageSums =
    "sum(requests), sum(cached), sum(retries), sum(failures), sum(prompt_tokens), sum(completion_tokens), "
    "sum(cost_usd)";

}  // namespace

Result<ProjectStatus> Project::status() const {
  sql::Db& db = *impl_->db;
  ProjectStatus st;
  st.pairs = impl_->n_pairs;
  st.shards = static_cast<int64_t>(impl_->shards.size());
  SP_RETURN_IF_ERROR(
      each_row(db, "SELECT category, count(*) FROM pairs GROUP BY category",
               [&](const sql::Stmt& s) { st.pairs_by_category[s.col_text(0)] = s.col_int(1); }));
  SP_RETURN_IF_ERROR(each_row(db, "SELECT source, count(*) FROM pairs GROUP BY source",
                              [&](const sql::Stmt& s) { st.pairs_by_source[s.col_text(0)] = s.col_int(1); }));
  SP_RETURN_IF_ERROR(each_row(
      db, "SELECT kind, source, count(*) FROM labels GROUP BY kind, source",
      [&](const sql::Stmt& s) { st.labels_by_kind_source[s.col_text(0)][s.col_text(1)] = s.col_int(2); }));
  SP_RETURN_IF_ERROR(each_row(
      db, "SELECT set_name, count(*) FROM membership GROUP BY set_name",
      [&](const sql::Stmt& s) { (s.col_text_view(0) == "gold" ? st.gold : st.silver) = s.col_int(1); }));
  SP_ASSIGN_OR_RETURN(st.stages, stages());
  SP_RETURN_IF_ERROR(each_row(db,
                              "SELECT d.stage, p.category, d.keep, count(*) FROM decisions d JOIN pairs p "
                              "ON p.row = d.row GROUP BY d.stage, p.category, d.keep",
                              [&](const sql::Stmt& s) {
                                bool keep = s.col_int(2) != 0;
                                add_decision(st.decisions_by_stage[s.col_text(0)], keep, s.col_int(3));
                                add_decision(st.decisions_by_stage_category[s.col_text(0)][s.col_text(1)],
                                             keep, s.col_int(3));
                              }));
  SP_RETURN_IF_ERROR(each_row(
      db, "SELECT stage, reason, count(*) FROM decisions GROUP BY stage, reason", [&](const sql::Stmt& s) {
        st.decisions_by_stage_reason[s.col_text(0) + "/" + s.col_text(1)] = s.col_int(2);
      }));
  SP_ASSIGN_OR_RETURN(st.rms, score_models());
  SP_RETURN_IF_ERROR(each_row(db, (std::string("SELECT ") + kUsageSums + " FROM judge_usage").c_str(),
                              [&](const sql::Stmt& s) { st.judge_total = read_usage(s, 0); }));
  SP_RETURN_IF_ERROR(each_row(
      db, (std::string("SELECT endpoint, ") + kUsageSums + " FROM judge_usage GROUP BY endpoint").c_str(),
      [&](const sql::Stmt& s) {
        JudgeUsage u = read_usage(s, 1);
        u.endpoint = s.col_text(0);
        st.judge_by_endpoint[u.endpoint] = u;
      }));
  SP_RETURN_IF_ERROR(each_row(db, "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM rounds)",
                              [&](const sql::Stmt& s) {
                                st.runs = s.col_int(0);
                                st.rounds = s.col_int(1);
                              }));
  SP_ASSIGN_OR_RETURN(auto init, config(kInitSummaryKey));
  if (init) st.init = parse_init_summary(*init);
  return st;
}

}  // namespace synpref::curate
