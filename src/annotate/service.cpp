// The annotation service's HTTP API and web UI (see synpref/annotate/service.h).
#include "synpref/annotate/service.h"

#include <cmath>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>

#include "annotate/web_assets.h"
#include "synpref/common/io.h"
#include "synpref/common/text.h"
#include "synpref/curate/project.h"
#include "synpref/http/server.h"
#include "synpref/judge/client.h"

namespace synpref::annotate {

namespace {

using nlohmann::json;
constexpr std::string_view kCookie = "sp_session";

// Headers every response carries: the UI's scripts and styles come only from this service.
void add_security_headers(http::Response& r) {
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                         "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("Cache-Control", "no-store");
}

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

http::Response ok_json(const json& j) {
  return http::json_response(dump(j));
}

http::Response unauthorized() {
  return http::error_response(401, "unauthorized", "log in first (no valid session cookie)");
}

std::optional<std::string> cookie_value(const http::Request& req, std::string_view name) {
  const auto header = req.header("Cookie");
  if (!header) return std::nullopt;
  std::string_view rest = *header;
  while (!rest.empty()) {
    const size_t semi = rest.find(';');
    std::string_view part = text::trim(rest.substr(0, semi));
    rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
    const size_t eq = part.find('=');
    if (eq != std::string_view::npos && part.substr(0, eq) == name) return std::string(part.substr(eq + 1));
  }
  return std::nullopt;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// The JSON object body of a POST, or why not.
Result<json> body_object(const http::Request& req) {
  const auto type = req.header("Content-Type");
  if (!type || type->rfind("application/json", 0) != 0)
    return invalid_argument("Content-Type must be application/json");
  if (!text::is_valid_utf8(req.body)) return invalid_argument("body: not valid UTF-8");
  json j = json::parse(req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return invalid_argument("body: not a JSON object");
  return j;
}

Result<std::string> string_field(const json& j, const char* name, size_t max_bytes, bool required = true) {
  const auto it = j.find(name);
  if (it == j.end()) {
    if (required) return invalid_argument(std::string("field `") + name + "` is required");
    return std::string();
  }
  if (!it->is_string()) return invalid_argument(std::string("field `") + name + "` must be a string");
  std::string s = it->get<std::string>();
  if (s.size() > max_bytes)
    return invalid_argument(std::string("field `") + name + "` is longer than " + std::to_string(max_bytes) +
                            " bytes");
  return s;
}

Result<int64_t> int_field(const json& j, const char* name, int64_t lo, int64_t hi,
                          std::optional<int64_t> fallback = {}) {
  const auto it = j.find(name);
  if (it == j.end()) {
    if (fallback) return *fallback;
    return invalid_argument(std::string("field `") + name + "` is required");
  }
  if (!it->is_number_integer() || it->get<int64_t>() < lo || it->get<int64_t>() > hi)
    return invalid_argument(std::string("field `") + name + "` must be an integer in [" + std::to_string(lo) +
                            ", " + std::to_string(hi) + "]");
  return it->get<int64_t>();
}

Result<int64_t> id_param(const http::Request& req) {
  const auto id = req.query_param("id");
  if (!id || id->empty() || id->size() > 18 || id->find_first_not_of("0123456789") != std::string::npos)
    return invalid_argument("query parameter `id` must be an item id (a non-negative integer)");
  return std::stoll(*id);
}

json number_or_null(double v) {
  return std::isnan(v) ? json(nullptr) : json(v);
}

json label_json(const LabelRecord& l) {
  return {{"item_id", l.item_id},
          {"pair_id", l.pair_id},
          {"user", l.user},
          {"category", l.category},
          {"choice", choice_name(l.choice)},
          {"verdict", l.verdict ? json(verdict_name(*l.verdict)) : json(nullptr)},
          {"swapped", l.swapped},
          {"client_ms", l.client_ms},
          {"server_ms", l.server_ms},
          {"judge_used", l.judge_used},
          {"note", l.note},
          {"time", l.time}};
}

json item_json(const ItemView& item) {
  return {{"item_id", item.item_id}, {"pair_id", item.pair_id}, {"view", json::parse(item.view_json)}};
}

// Where a pair verdict sits in a viewer's display order (for adjudicators reading labels).
std::string_view side_of(Verdict v, bool swapped) {
  if (v == Verdict::chosen) return swapped ? "second" : "first";
  if (v == Verdict::rejected) return swapped ? "first" : "second";
  return verdict_name(v);
}

json stats_json(const Stats& s) {
  json annotators = json::array(), categories = json::array(), pairwise = json::array();
  for (const AnnotatorStats& a : s.annotators)
    annotators.push_back({{"user", a.user},
                          {"labeled", a.labeled},
                          {"skipped", a.skipped},
                          {"cannot", a.cannot},
                          {"remaining", a.remaining},
                          {"judge_used", a.judge_used},
                          {"median_seconds", number_or_null(a.median_seconds)},
                          {"gold_answered", a.gold_answered},
                          {"gold_correct", a.gold_correct},
                          {"kappa", number_or_null(a.kappa)},
                          {"kappa_pairs", a.kappa_pairs}});
  for (const CategoryStats& c : s.categories)
    categories.push_back({{"category", c.category},
                          {"items", c.items},
                          {"settled", c.settled},
                          {"alpha", number_or_null(c.alpha)},
                          {"kappa", number_or_null(c.kappa)}});
  for (const PairwiseKappa& p : s.pairwise)
    pairwise.push_back({{"a", p.a}, {"b", p.b}, {"kappa", number_or_null(p.kappa)}, {"n_units", p.n_units}});
  return {{"items", s.items},
          {"settled", s.settled},
          {"agreed", s.agreed},
          {"disagreements", s.disagreements},
          {"adjudicated", s.adjudicated},
          {"discarded", s.discarded},
          {"alpha", number_or_null(s.alpha)},
          {"annotators", annotators},
          {"categories", categories},
          {"pairwise", pairwise}};
}

json summary_json(const GoldExportSummary& s) {
  return {{"pairs", s.pairs}, {"labels", s.labels}, {"discarded", s.discarded}, {"pending", s.pending}};
}

// The judge panel's prompt: the conversation and the two responses as this annotator sees them.
std::vector<judge::Message> judge_messages(const ItemView& item) {
  const json view = json::parse(item.view_json);
  std::string conversation;
  for (const json& turn : view["conversation"])
    conversation +=
        "[" + turn["role"].get<std::string>() + "]\n" + turn["content"].get<std::string>() + "\n\n";
  const json& a = view["attributes"];
  std::string user = "Conversation:\n" + conversation + "Response 1:\n" + view["first"].get<std::string>() +
                     "\n\nResponse 2:\n" + view["second"].get<std::string>() + "\n\n";
  if (!a["annotation_guideline"].get<std::string>().empty())
    user += "Guideline: " + a["annotation_guideline"].get<std::string>() + "\n\n";
  user +=
      "Which response is better, and why? Point out factual or logical errors in either. End with "
      "\"Verdict: 1\", \"Verdict: 2\" or \"Verdict: tie\".";
  return {{"system", "You help a human annotator compare two assistant responses. Be brief and concrete."},
          {"user", user}};
}

}  // namespace

struct Service::Impl {
  Store& store;
  curate::Project* project;
  ServiceOptions options;
  std::mutex project_mu;  // curate::Project is not thread-safe

  using Authed = std::function<http::Response(const Session&, const http::Request&)>;
  using AuthedJson = std::function<http::Response(const Session&, const json&)>;

  // GET: a session is required; admin_only routes also need the admin role.
  http::Handler get(bool admin_only, Authed fn) {
    return [this, admin_only, fn](const http::Request& req) {
      auto session = session_of(req);
      if (!session.is_ok()) return secured(unauthorized());
      if (admin_only && session->user.role != Role::admin)
        return secured(http::error_response(403, "forbidden", "admin only"));
      return secured(fn(*session, req));
    };
  }
  // POST: a session, the session's CSRF token in X-CSRF-Token, and a JSON object body.
  http::Handler post(bool admin_only, AuthedJson fn) {
    return [this, admin_only, fn](const http::Request& req) {
      auto session = session_of(req);
      if (!session.is_ok()) return secured(unauthorized());
      const auto csrf = req.header("X-CSRF-Token");
      if (!csrf || !constant_time_equal(*csrf, session->csrf))
        return secured(http::error_response(403, "csrf", "missing or wrong X-CSRF-Token header"));
      if (admin_only && session->user.role != Role::admin)
        return secured(http::error_response(403, "forbidden", "admin only"));
      auto body = body_object(req);
      if (!body.is_ok()) return secured(http::error_response(body.status()));
      return secured(fn(*session, *body));
    };
  }
  static http::Response secured(http::Response r) {
    add_security_headers(r);
    return r;
  }
  Result<Session> session_of(const http::Request& req) const {
    const auto token = cookie_value(req, kCookie);
    if (!token) return not_found("no session cookie");
    return store.session(*token);
  }
  std::string cookie(std::string_view value, int64_t max_age) const {
    return std::string(kCookie) + "=" + std::string(value) +
           "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" + std::to_string(max_age) +
           (options.secure_cookies ? "; Secure" : "");
  }

  // POST /api/login {name, password} and POST /api/invite {token, password}: no session yet.
  http::Response login(const http::Request& req, bool invite) {
    auto body = body_object(req);
    if (!body.is_ok()) return secured(http::error_response(body.status()));
    auto name = string_field(*body, invite ? "token" : "name", invite ? 128 : 64);
    auto password = string_field(*body, "password", 1024);
    if (!name.is_ok()) return secured(http::error_response(name.status()));
    if (!password.is_ok()) return secured(http::error_response(password.status()));
    auto result = invite ? store.accept_invite(*name, *password) : store.login(*name, *password);
    if (!result.is_ok()) {
      if (invite) return secured(http::error_response(result.status()));
      return secured(http::error_response(401, "unauthorized", result.status().message()));
    }
    http::Response r = ok_json(me_json(result->session));
    r.headers.emplace_back("Set-Cookie",
                           cookie(result->token, int64_t{store.options().session_hours} * 3600));
    return secured(r);
  }
  static json me_json(const Session& s) {
    return {{"user", s.user.name}, {"role", role_name(s.user.role)}, {"csrf", s.csrf}};
  }
  json progress_json(const User& user) const {
    auto p = store.progress(user);
    if (!p.is_ok()) return nullptr;
    return {{"labeled", p->labeled}, {"skipped", p->skipped}, {"remaining", p->remaining}};
  }

  http::Response next(const Session& s) {
    auto item = store.next_item(s.user);
    if (!item.is_ok()) return http::error_response(item.status());
    json out = {{"item", *item ? item_json(**item) : json(nullptr)}, {"progress", progress_json(s.user)}};
    return ok_json(out);
  }

  http::Response label(const Session& s, const json& body) {
    auto item_id = int_field(body, "item_id", 0, INT64_MAX);
    auto choice_text = string_field(body, "choice", 16);
    auto client_ms = int_field(body, "client_ms", 0, int64_t{24} * 3600 * 1000, 0);
    auto note = string_field(body, "note", 2000, false);
    for (const Status* st : {&item_id.status(), &choice_text.status(), &client_ms.status(), &note.status()})
      if (!st->is_ok()) return http::error_response(*st);
    auto choice = parse_choice(*choice_text);
    if (!choice.is_ok()) return http::error_response(choice.status());
    auto label = store.submit_label(s.user, {*item_id, *choice, *client_ms, *note});
    if (!label.is_ok()) return http::error_response(label.status());
    return ok_json({{"label", label_json(*label)}, {"progress", progress_json(s.user)}});
  }

  http::Response ask_judge(const Session& s, const json& body) {
    if (!options.judge)
      return http::error_response(501, "unsupported", "no judge panel configured (judge config)");
    auto item_id = int_field(body, "item_id", 0, INT64_MAX);
    if (!item_id.is_ok()) return http::error_response(item_id.status());
    auto item = store.item(s.user, *item_id);
    if (!item.is_ok()) return http::error_response(item.status());
    judge::ChatRequest request;
    request.endpoint = options.judge_endpoint;
    request.messages = judge_messages(*item);
    const judge::ChatResult result = options.judge->run({request})[0];
    const Status logged = store.log_judge_use(s.user, *item_id, options.judge_endpoint,
                                              result.status.is_ok() ? "ok" : result.status.message());
    if (!logged.is_ok()) return http::error_response(logged);
    if (!result.status.is_ok()) return http::error_response(502, "judge_failed", result.status.message());
    return ok_json({{"endpoint", options.judge_endpoint}, {"answer", result.samples.at(0).content}});
  }

  http::Response admin_item(const Session& s, const http::Request& req) {
    auto id = id_param(req);
    if (!id.is_ok()) return http::error_response(id.status());
    auto item = store.item(s.user, *id);
    if (!item.is_ok()) return http::error_response(item.status());
    auto disagreements = store.disagreements();
    if (!disagreements.is_ok()) return http::error_response(disagreements.status());
    json labels = json::array();
    for (const Disagreement& d : *disagreements)
      if (d.item_id == *id)
        for (const LabelRecord& l : d.labels)
          labels.push_back({{"user", l.user},
                            {"side", l.verdict ? json(side_of(*l.verdict, item->swapped)) : json("skip")},
                            {"note", l.note},
                            {"judge_used", l.judge_used},
                            {"server_ms", l.server_ms}});
    json out = item_json(*item);
    out["labels"] = labels;
    return ok_json(out);
  }

  http::Response export_gold(const json& body) {
    GoldExportSummary summary;
    auto lines = store.gold_jsonl(&summary);
    if (!lines.is_ok()) return http::error_response(lines.status());
    const std::string path = options.gold_jsonl_path;
    if (path.empty()) return http::error_response(501, "unsupported", "no gold JSONL path configured");
    auto writer = io::Writer::open(path);
    if (!writer.is_ok()) return http::error_response(writer.status());
    (*writer)->append(*lines);
    if (Status st = (*writer)->close(); !st.is_ok()) return http::error_response(st);
    json out = {{"gold_jsonl", path}, {"summary", summary_json(summary)}, {"project", nullptr}};
    const auto to_project = body.find("to_project");
    if (to_project != body.end() && to_project->is_boolean() && to_project->get<bool>()) {
      if (!project) return http::error_response(501, "unsupported", "no curation project open");
      std::lock_guard<std::mutex> lock(project_mu);
      auto written = store.export_to_project(*project);
      if (!written.is_ok()) return http::error_response(written.status());
      out["project"] = summary_json(*written);
    }
    return ok_json(out);
  }

  void register_api(http::Server& server);
};

void Service::Impl::register_api(http::Server& server) {
  server.route("POST", "/api/login", [this](const http::Request& req) { return login(req, false); });
  server.route("POST", "/api/invite", [this](const http::Request& req) { return login(req, true); });
  // Logout checks the CSRF token like post() does, and needs the token itself to end the session.
  server.route("POST", "/api/logout", [this](const http::Request& req) {
    auto session = session_of(req);
    if (!session.is_ok()) return secured(unauthorized());
    const auto csrf = req.header("X-CSRF-Token");
    if (!csrf || !constant_time_equal(*csrf, session->csrf))
      return secured(http::error_response(403, "csrf", "missing or wrong X-CSRF-Token header"));
    if (Status st = store.logout(*cookie_value(req, kCookie)); !st.is_ok())
      return secured(http::error_response(st));
    http::Response r = ok_json({{"ok", true}});
    r.headers.emplace_back("Set-Cookie", cookie("", 0));
    return secured(r);
  });
  server.route("GET", "/api/me",
               get(false, [](const Session& s, const http::Request&) { return ok_json(me_json(s)); }));
  server.route("GET", "/api/guidelines", get(false, [this](const Session&, const http::Request&) {
                 return ok_json({{"markdown", store.guidelines()}});
               }));
  server.route("GET", "/api/next",
               get(false, [this](const Session& s, const http::Request&) { return next(s); }));
  server.route("GET", "/api/item", get(false, [this](const Session& s, const http::Request& req) {
                 auto id = id_param(req);
                 if (!id.is_ok()) return http::error_response(id.status());
                 auto item = store.item(s.user, *id);
                 return item.is_ok() ? ok_json(item_json(*item)) : http::error_response(item.status());
               }));
  server.route("GET", "/api/labels", get(false, [this](const Session& s, const http::Request&) {
                 auto labels = store.labels_of(s.user);
                 if (!labels.is_ok()) return http::error_response(labels.status());
                 json out = json::array();
                 for (const LabelRecord& l : *labels) out.push_back(label_json(l));
                 return ok_json({{"labels", out}});
               }));
  server.route("GET", "/api/progress", get(false, [this](const Session& s, const http::Request&) {
                 return ok_json(progress_json(s.user));
               }));
  server.route("POST", "/api/label",
               post(false, [this](const Session& s, const json& b) { return label(s, b); }));
  server.route("POST", "/api/judge",
               post(false, [this](const Session& s, const json& b) { return ask_judge(s, b); }));
  server.route(
      "GET", "/api/judge", get(false, [this](const Session&, const http::Request&) {
        return ok_json({{"available", options.judge != nullptr}, {"endpoint", options.judge_endpoint}});
      }));

  // Admin.
  server.route("GET", "/api/admin/users", get(true, [this](const Session&, const http::Request&) {
                 auto users = store.users();
                 if (!users.is_ok()) return http::error_response(users.status());
                 json out = json::array();
                 for (const User& u : *users)
                   out.push_back({{"id", u.id}, {"name", u.name}, {"role", role_name(u.role)}});
                 return ok_json({{"users", out}});
               }));
  server.route("POST", "/api/admin/users", post(true, [this](const Session&, const json& b) {
                 auto name = string_field(b, "name", 64);
                 auto password = string_field(b, "password", 1024);
                 auto role_text = string_field(b, "role", 16, false);
                 for (const Status* st : {&name.status(), &password.status(), &role_text.status()})
                   if (!st->is_ok()) return http::error_response(*st);
                 auto role = parse_role(role_text->empty() ? "annotator" : *role_text);
                 if (!role.is_ok()) return http::error_response(role.status());
                 auto user = store.create_user(*name, *role, *password);
                 if (!user.is_ok()) return http::error_response(user.status());
                 return ok_json({{"id", user->id}, {"name", user->name}, {"role", role_name(user->role)}});
               }));
  server.route("POST", "/api/admin/invites", post(true, [this](const Session&, const json& b) {
                 auto name = string_field(b, "name", 64);
                 auto role_text = string_field(b, "role", 16, false);
                 for (const Status* st : {&name.status(), &role_text.status()})
                   if (!st->is_ok()) return http::error_response(*st);
                 auto role = parse_role(role_text->empty() ? "annotator" : *role_text);
                 if (!role.is_ok()) return http::error_response(role.status());
                 auto token = store.create_invite(*name, *role);
                 if (!token.is_ok()) return http::error_response(token.status());
                 return ok_json({{"name", *name}, {"token", *token}, {"link", "/#invite=" + *token}});
               }));
  server.route("GET", "/api/admin/disagreements", get(true, [this](const Session&, const http::Request&) {
                 auto list = store.disagreements();
                 if (!list.is_ok()) return http::error_response(list.status());
                 json out = json::array();
                 for (const Disagreement& d : *list)
                   out.push_back({{"item_id", d.item_id}, {"pair_id", d.pair_id}});
                 return ok_json({{"disagreements", out}});
               }));
  server.route("GET", "/api/admin/item",
               get(true, [this](const Session& s, const http::Request& req) { return admin_item(s, req); }));
  server.route("POST", "/api/admin/adjudicate", post(true, [this](const Session& s, const json& b) {
                 auto item_id = int_field(b, "item_id", 0, INT64_MAX);
                 auto choice_text = string_field(b, "choice", 16);
                 auto note = string_field(b, "note", 2000, false);
                 for (const Status* st : {&item_id.status(), &choice_text.status(), &note.status()})
                   if (!st->is_ok()) return http::error_response(*st);
                 auto choice = parse_choice(*choice_text);
                 if (!choice.is_ok()) return http::error_response(choice.status());
                 if (Status st = store.adjudicate(s.user, *item_id, *choice, *note); !st.is_ok())
                   return http::error_response(st);
                 return ok_json({{"ok", true}});
               }));
  server.route("GET", "/api/admin/stats", get(true, [this](const Session&, const http::Request&) {
                 auto stats = store.stats();
                 return stats.is_ok() ? ok_json(stats_json(*stats)) : http::error_response(stats.status());
               }));
  server.route("GET", "/api/admin/labels", get(true, [this](const Session&, const http::Request&) {
                 auto labels = store.all_labels();
                 if (!labels.is_ok()) return http::error_response(labels.status());
                 json out = json::array();
                 for (const LabelRecord& l : *labels) out.push_back(label_json(l));
                 return ok_json({{"labels", out}});
               }));
  server.route("GET", "/api/admin/gold.jsonl", get(true, [this](const Session&, const http::Request&) {
                 auto lines = store.gold_jsonl();
                 if (!lines.is_ok()) return http::error_response(lines.status());
                 http::Response r;
                 r.content_type = "application/x-ndjson";
                 r.body = *lines;
                 r.headers.emplace_back("Content-Disposition", "attachment; filename=\"gold.jsonl\"");
                 return r;
               }));
  server.route("POST", "/api/admin/export",
               post(true, [this](const Session&, const json& b) { return export_gold(b); }));
}

Service::Service(Store& store, curate::Project* project, ServiceOptions options)
    : impl_(new Impl{store, project, std::move(options), {}}) {
  if (impl_->options.gold_jsonl_path.empty() && project)
    impl_->options.gold_jsonl_path = (std::filesystem::path(project->dir()) / "annotate-gold.jsonl").string();
}
Service::~Service() = default;

void Service::register_routes(http::Server& server) {
  impl_->register_api(server);
  for (const WebAsset& asset : web_assets()) {
    http::Response r;
    r.content_type = std::string(asset.content_type) + "; charset=utf-8";
    r.body = std::string(asset.bytes);
    add_security_headers(r);
    auto serve = [r](const http::Request&) { return r; };
    server.route("GET", std::string(asset.path), serve);
    if (asset.path == "/index.html") server.route("GET", "/", serve);
  }
}

}  // namespace synpref::annotate
