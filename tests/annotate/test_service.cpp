// The annotation service over real loopback HTTP: authentication, cookies, CSRF, roles, isolation
// between annotators, safe-rendering headers, adjudication and export, the ask-a-judge log,
// request fuzzing, and 50 concurrent annotators.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "annotate_test_util.h"
#include "synpref/annotate/service.h"
#include "synpref/http/server.h"
#include "synpref/judge/client.h"

using namespace synpref;
using namespace synpref::annotate;
using namespace synpref::testing;
using nlohmann::json;

namespace {

// One browser: a cookie jar of the session cookie and the CSRF token from the login answer.
struct Browser {
  int port = 0;
  std::string cookie, csrf;

  httplib::Headers headers(bool with_csrf) const {
    httplib::Headers h;
    if (!cookie.empty()) h.emplace("Cookie", "sp_session=" + cookie);
    if (with_csrf && !csrf.empty()) h.emplace("X-CSRF-Token", csrf);
    return h;
  }
  httplib::Result get(const std::string& path) const {
    httplib::Client c("127.0.0.1", port);
    return c.Get(path, headers(false));
  }
  httplib::Result post(const std::string& path, const json& body, bool with_csrf = true) const {
    httplib::Client c("127.0.0.1", port);
    return c.Post(path, headers(with_csrf), body.dump(), "application/json");
  }
  // Logs in; returns the HTTP status.
  int login(const std::string& name, const std::string& password) {
    httplib::Client c("127.0.0.1", port);
    auto r = c.Post("/api/login", json({{"name", name}, {"password", password}}).dump(), "application/json");
    if (!r) return 0;
    if (r->status == 200) {
      const std::string set_cookie = r->get_header_value("Set-Cookie");
      const size_t eq = set_cookie.find('='), semi = set_cookie.find(';');
      cookie = set_cookie.substr(eq + 1, semi - eq - 1);
      csrf = json::parse(r->body)["csrf"];
    }
    return r->status;
  }
};

json body_of(const httplib::Result& r) {
  EXPECT_TRUE(r);
  if (!r) return nullptr;
  return json::parse(r->body, nullptr, false);
}

class ServiceTest : public ::testing::Test {
 protected:
  void start(int n_pairs, int n_queued, StoreOptions options = test_store_options(),
             ServiceOptions service_options = {}) {
    project = make_annotate_project(tmp.path(), n_pairs);
    ASSERT_TRUE(project);
    auto s = Store::open(tmp.file("p"), options);
    ASSERT_TRUE(s.is_ok()) << s.status().message();
    store = std::move(s).value();
    AddItemsOptions add;
    add.max_items = n_queued;
    ASSERT_TRUE(store->add_items(*project, add).is_ok());
    ASSERT_TRUE(store->create_user("root", Role::admin, "password-root").is_ok());
    ASSERT_TRUE(store->create_user("alice", Role::annotator, "password-alice").is_ok());
    ASSERT_TRUE(store->create_user("bob", Role::annotator, "password-bob").is_ok());
    service = std::make_unique<Service>(*store, project.get(), service_options);
    http::ServerOptions server_options;
    server_options.n_threads = 16;
    auto created = http::Server::create(server_options);
    ASSERT_TRUE(created.is_ok());
    server = std::move(created).value();
    service->register_routes(*server);
    thread = std::thread([this] { run_status = server->run(); });
  }
  void TearDown() override {
    if (server) server->stop();
    if (thread.joinable()) thread.join();
    EXPECT_TRUE(run_status.is_ok()) << run_status.message();
  }
  Browser browser(const std::string& name = "") {
    Browser b;
    b.port = server->port();
    if (!name.empty()) {
      EXPECT_EQ(b.login(name, "password-" + name), 200);
    }
    return b;
  }

  TempDir tmp;
  std::unique_ptr<curate::Project> project;
  std::unique_ptr<Store> store;
  std::unique_ptr<Service> service;
  std::unique_ptr<http::Server> server;
  std::thread thread;
  Status run_status;
};

void expect_security_headers(const httplib::Result& r, const std::string& what) {
  ASSERT_TRUE(r) << what;
  const std::string csp = r->get_header_value("Content-Security-Policy");
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << what;
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << what;
  EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << what;
  EXPECT_EQ(r->get_header_value("X-Content-Type-Options"), "nosniff") << what;
  EXPECT_EQ(r->get_header_value("X-Frame-Options"), "DENY") << what;
}

TEST_F(ServiceTest, LoginSessionsAndCookieFlags) {
  start(8, 4);
  Browser anonymous = browser();
  auto me = anonymous.get("/api/me");
  ASSERT_TRUE(me);
  EXPECT_EQ(me->status, 401);
  EXPECT_EQ(body_of(me)["error"]["code"], "unauthorized");
  EXPECT_EQ(anonymous.get("/api/next")->status, 401);
  EXPECT_EQ(anonymous.post("/api/label", {{"item_id", 1}, {"choice", "first"}})->status, 401);
  EXPECT_EQ(anonymous.login("alice", "wrong-password"), 401);
  EXPECT_EQ(anonymous.login("nobody", "password-alice"), 401);
  Browser forged = browser();
  forged.cookie = std::string(64, 'a');
  EXPECT_EQ(forged.get("/api/me")->status, 401);

  httplib::Client c("127.0.0.1", server->port());
  auto login = c.Post("/api/login", json({{"name", "alice"}, {"password", "password-alice"}}).dump(),
                      "application/json");
  ASSERT_TRUE(login);
  ASSERT_EQ(login->status, 200);
  const std::string set_cookie = login->get_header_value("Set-Cookie");
  EXPECT_NE(set_cookie.find("HttpOnly"), std::string::npos) << set_cookie;
  EXPECT_NE(set_cookie.find("SameSite=Strict"), std::string::npos) << set_cookie;
  EXPECT_NE(set_cookie.find("Path=/"), std::string::npos) << set_cookie;
  EXPECT_EQ(body_of(login)["role"], "annotator");

  Browser alice = browser("alice");
  auto who = body_of(alice.get("/api/me"));
  EXPECT_EQ(who["user"], "alice");
  EXPECT_EQ(who["csrf"], alice.csrf);
  EXPECT_EQ(alice.post("/api/logout", json::object(), /*with_csrf=*/false)->status, 403);
  EXPECT_EQ(alice.post("/api/logout", json::object())->status, 200);
  EXPECT_EQ(alice.get("/api/me")->status, 401);  // the session is gone on the server
}

TEST_F(ServiceTest, SecureCookiesBehindTls) {
  ServiceOptions o;
  o.secure_cookies = true;
  start(4, 2, test_store_options(), o);
  httplib::Client c("127.0.0.1", server->port());
  auto login =
      c.Post("/api/login", json({{"name", "bob"}, {"password", "password-bob"}}).dump(), "application/json");
  ASSERT_TRUE(login);
  EXPECT_NE(login->get_header_value("Set-Cookie").find("; Secure"), std::string::npos);
}

TEST_F(ServiceTest, StateChangesNeedTheSessionsCsrfTokenAndJson) {
  start(8, 4);
  Browser alice = browser("alice"), bob = browser("bob");
  const int64_t item_id = body_of(alice.get("/api/next"))["item"]["item_id"];
  const json label = {{"item_id", item_id}, {"choice", "first"}, {"client_ms", 1000}};
  auto no_token = alice.post("/api/label", label, /*with_csrf=*/false);
  EXPECT_EQ(no_token->status, 403);
  EXPECT_EQ(body_of(no_token)["error"]["code"], "csrf");
  Browser wrong = alice;
  wrong.csrf = std::string(64, 'f');
  EXPECT_EQ(wrong.post("/api/label", label)->status, 403);
  Browser borrowed = alice;
  borrowed.csrf = bob.csrf;  // another session's token is no good either
  EXPECT_EQ(borrowed.post("/api/label", label)->status, 403);
  // A cross-site form can send only form encodings: refused even with a leaked token.
  httplib::Client c("127.0.0.1", server->port());
  auto form = c.Post("/api/label", alice.headers(true), "item_id=1&choice=first",
                     "application/x-www-form-urlencoded");
  ASSERT_TRUE(form);
  EXPECT_EQ(form->status, 400);
  auto plain = c.Post("/api/label", alice.headers(true), label.dump(), "text/plain");
  EXPECT_EQ(plain->status, 400);
  EXPECT_TRUE(store->labels_of(store->users()->at(1)).value().empty());  // nothing was written
  EXPECT_EQ(alice.post("/api/label", label)->status, 200);
  EXPECT_EQ(store->labels_of(store->users()->at(1)).value().size(), 1u);
}

TEST_F(ServiceTest, AnnotatorsSeeOnlyTheirOwnQueueAndLabels) {
  start(8, 8);
  Browser alice = browser("alice"), bob = browser("bob");
  // Admin routes are closed to annotators.
  for (const char* path : {"/api/admin/stats", "/api/admin/users", "/api/admin/labels",
                           "/api/admin/disagreements", "/api/admin/gold.jsonl", "/api/admin/item?id=1"}) {
    auto r = alice.get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 403) << path;
  }
  EXPECT_EQ(
      alice.post("/api/admin/users", {{"name", "mallory"}, {"password", "12345678"}, {"role", "admin"}})
          ->status,
      403);
  EXPECT_EQ(alice.post("/api/admin/adjudicate", {{"item_id", 1}, {"choice", "first"}})->status, 403);
  EXPECT_EQ(alice.post("/api/admin/export", json::object())->status, 403);

  // alice labels her first pair and is served a second, which bob has never been served.
  json first = body_of(alice.get("/api/next"))["item"];
  ASSERT_TRUE(first.is_object());
  ASSERT_EQ(
      alice.post("/api/label", {{"item_id", first["item_id"]}, {"choice", "first"}, {"note", "alice's"}})
          ->status,
      200);
  json second = body_of(alice.get("/api/next"))["item"];
  const int64_t private_id = second["item_id"];
  auto peek = bob.get("/api/item?id=" + std::to_string(private_id));
  EXPECT_EQ(peek->status, 404);
  auto write = bob.post("/api/label", {{"item_id", private_id}, {"choice", "second"}});
  EXPECT_EQ(write->status, 404);
  EXPECT_EQ(bob.get("/api/item?id=999999")->status, 404);  // the same answer as for an unknown item
  // bob's label list and progress are his own; alice's label is unchanged after bob labels the
  // same pair through his own queue.
  json bob_next = body_of(bob.get("/api/next"))["item"];
  EXPECT_EQ(bob_next["item_id"], first["item_id"]);
  ASSERT_EQ(bob.post("/api/label", {{"item_id", bob_next["item_id"]}, {"choice", "tie"}, {"note", "bob's"}})
                ->status,
            200);
  json bob_labels = body_of(bob.get("/api/labels"))["labels"];
  ASSERT_EQ(bob_labels.size(), 1u);
  EXPECT_EQ(bob_labels[0]["user"], "bob");
  json alice_labels = body_of(alice.get("/api/labels"))["labels"];
  ASSERT_EQ(alice_labels.size(), 1u);
  EXPECT_EQ(alice_labels[0]["note"], "alice's");
  EXPECT_EQ(alice_labels[0]["choice"], "first");
  // Relabeling replaces only one's own label.
  ASSERT_EQ(bob.post("/api/label", {{"item_id", bob_next["item_id"]}, {"choice", "second"}})->status, 200);
  EXPECT_EQ(body_of(alice.get("/api/labels"))["labels"][0]["choice"], "first");
}

TEST_F(ServiceTest, HeadersAndAssetsKeepHostileTextInert) {
  start(8, 8);
  Browser anonymous = browser(), alice = browser("alice");
  for (const char* path : {"/", "/index.html", "/app.js", "/render.js", "/style.css"}) {
    auto r = anonymous.get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 200) << path;
    expect_security_headers(r, path);
  }
  expect_security_headers(anonymous.get("/api/me"), "401");
  expect_security_headers(alice.get("/api/next"), "api");
  EXPECT_EQ(anonymous.get("/app.js")->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  // No HTML parsing of data anywhere in the UI, and no inline script for the CSP to allow.
  for (const char* path : {"/app.js", "/render.js"}) {
    const std::string js = anonymous.get(path)->body;
    for (const char* sink : {"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                             "Function(", "setAttribute(\"on", "srcdoc"})
      EXPECT_EQ(js.find(sink), std::string::npos) << path << " uses " << sink;
  }
  const std::string html = anonymous.get("/")->body;
  for (size_t at = html.find("<script"); at != std::string::npos; at = html.find("<script", at + 1))
    EXPECT_EQ(html.substr(at, 13), "<script src=\"") << "inline script in index.html";
  // The hostile pair travels as JSON data, byte for byte.
  json item;
  for (int i = 0; i < 8; ++i) {
    json next = body_of(alice.get("/api/next"))["item"];
    if (next["pair_id"] == "p003") {
      item = next;
      break;
    }
    ASSERT_EQ(alice.post("/api/label", {{"item_id", next["item_id"]}, {"choice", "skip"}})->status, 200);
  }
  ASSERT_TRUE(item.is_object());
  EXPECT_EQ(item["view"]["conversation"][0]["content"], hostile_text() + " 3");
  EXPECT_EQ(item["view"]["attributes"]["annotation_guideline"], hostile_text());
}

TEST_F(ServiceTest, DisagreementAdjudicationStatsAndExport) {
  start(8, 2);  // p005, p001
  Browser alice = browser("alice"), bob = browser("bob"), root = browser("root");
  // alice and bob agree on one pair and disagree on the other (same pair-level verdicts through
  // their own display orders).
  std::map<std::string, int64_t> item_of;
  for (Browser* b : {&alice, &bob})
    for (;;) {
      json item = body_of(b->get("/api/next"))["item"];
      if (item.is_null()) break;
      item_of[item["pair_id"]] = item["item_id"];
      const bool swapped = store->item(store->session(b->cookie)->user, item["item_id"])->swapped;
      const bool says_chosen = item["pair_id"] == "p005" || b == &alice;
      const std::string choice = says_chosen != swapped ? "first" : "second";
      ASSERT_EQ(b->post("/api/label", {{"item_id", item["item_id"]}, {"choice", choice}, {"client_ms", 2500}})
                    ->status,
                200);
    }
  json disagreements = body_of(root.get("/api/admin/disagreements"))["disagreements"];
  ASSERT_EQ(disagreements.size(), 1u);
  EXPECT_EQ(disagreements[0]["pair_id"], "p001");
  json detail = body_of(root.get("/api/admin/item?id=" + std::to_string(item_of["p001"])));
  ASSERT_EQ(detail["labels"].size(), 2u);
  std::set<std::string> sides;
  for (const json& l : detail["labels"]) sides.insert(l["side"].get<std::string>());
  EXPECT_EQ(sides, (std::set<std::string>{"first", "second"}));  // in root's display order
  json stats = body_of(root.get("/api/admin/stats"));
  EXPECT_EQ(stats["disagreements"], 1);
  EXPECT_EQ(stats["agreed"], 1);
  EXPECT_EQ(stats["annotators"].size(), 2u);
  EXPECT_EQ(root.post("/api/admin/adjudicate", {{"item_id", item_of["p001"]}, {"choice", "skip"}})->status,
            400);
  ASSERT_EQ(root.post("/api/admin/adjudicate", {{"item_id", item_of["p001"]}, {"choice", "tie"}})->status,
            200);
  EXPECT_TRUE(body_of(root.get("/api/admin/disagreements"))["disagreements"].empty());
  auto exported = root.post("/api/admin/export", {{"to_project", true}});
  ASSERT_EQ(exported->status, 200) << exported->body;
  json summary = body_of(exported);
  EXPECT_EQ(summary["summary"]["pairs"], 2);
  EXPECT_EQ(summary["project"]["pairs"], 2);
  const std::string written = slurp(summary["gold_jsonl"].get<std::string>());
  EXPECT_EQ(written, root.get("/api/admin/gold.jsonl")->body);
  EXPECT_NE(written.find("\"annotator\":\"root\""), std::string::npos);
  auto gold = project->members("gold");
  ASSERT_TRUE(gold.is_ok());
  EXPECT_EQ(gold->size(), 2u);
  // A new account through the admin API can log in.
  ASSERT_EQ(root.post("/api/admin/users", {{"name", "carol"}, {"password", "password-carol"}})->status, 200);
  EXPECT_EQ(root.post("/api/admin/users", {{"name", "carol"}, {"password", "password-carol"}})->status, 400);
  EXPECT_EQ(browser().login("carol", "password-carol"), 200);
  // A one-time invite: created by an admin only, accepted once without a session.
  EXPECT_EQ(alice.post("/api/admin/invites", {{"name", "dave"}})->status, 403);
  json invite = body_of(root.post("/api/admin/invites", {{"name", "dave"}, {"role", "annotator"}}));
  const std::string token = invite["token"];
  EXPECT_EQ(invite["link"], "/#invite=" + token);
  httplib::Client c("127.0.0.1", server->port());
  auto accepted = c.Post("/api/invite", json({{"token", token}, {"password", "password-dave"}}).dump(),
                         "application/json");
  ASSERT_TRUE(accepted);
  ASSERT_EQ(accepted->status, 200) << accepted->body;
  EXPECT_NE(accepted->get_header_value("Set-Cookie").find("HttpOnly"), std::string::npos);
  EXPECT_EQ(body_of(accepted)["user"], "dave");
  auto again = c.Post("/api/invite", json({{"token", token}, {"password", "password-eve1"}}).dump(),
                      "application/json");
  EXPECT_EQ(again->status, 404);
  EXPECT_EQ(browser().login("dave", "password-dave"), 200);
}

// The ask-a-judge panel: a fake OpenAI-compatible judge answers; the request and the label record it.
TEST_F(ServiceTest, AskAJudgeIsLoggedWithTheLabel) {
  http::ServerOptions judge_options;
  auto judge_server = http::Server::create(judge_options).value();
  std::atomic<int> judge_requests{0};
  judge_server->route("POST", "/v1/chat/completions", [&](const http::Request& req) {
    ++judge_requests;
    const json body = json::parse(req.body);
    EXPECT_NE(body["messages"][1]["content"].get<std::string>().find("Response 1:"), std::string::npos);
    return http::json_response(json({{"id", "x"},
                                     {"choices",
                                      {{{"index", 0},
                                        {"message", {{"role", "assistant"}, {"content", "Verdict: 1"}}},
                                        {"finish_reason", "stop"}}}},
                                     {"usage", {{"prompt_tokens", 10}, {"completion_tokens", 3}}}})
                                   .dump());
  });
  std::thread judge_thread([&] { (void)judge_server->run(); });
  judge::Config config;
  judge::Endpoint endpoint;
  endpoint.name = "fake-judge";
  endpoint.base_url = "http://127.0.0.1:" + std::to_string(judge_server->port()) + "/v1";
  endpoint.model = "fake";
  endpoint.max_retries = 0;
  config.endpoints.push_back(endpoint);
  auto client = judge::Client::create(config);
  ASSERT_TRUE(client.is_ok()) << client.status().message();
  ServiceOptions o;
  o.judge = client->get();
  o.judge_endpoint = "fake-judge";
  start(8, 2, test_store_options(), o);
  Browser alice = browser("alice");
  EXPECT_EQ(body_of(alice.get("/api/judge"))["available"], true);
  json item = body_of(alice.get("/api/next"))["item"];
  auto answer = alice.post("/api/judge", {{"item_id", item["item_id"]}});
  ASSERT_EQ(answer->status, 200) << answer->body;
  EXPECT_EQ(body_of(answer)["answer"], "Verdict: 1");
  EXPECT_EQ(judge_requests.load(), 1);
  json label =
      body_of(alice.post("/api/label", {{"item_id", item["item_id"]}, {"choice", "first"}}))["label"];
  EXPECT_EQ(label["judge_used"], true);
  json other = body_of(alice.get("/api/next"))["item"];
  json plain =
      body_of(alice.post("/api/label", {{"item_id", other["item_id"]}, {"choice", "first"}}))["label"];
  EXPECT_EQ(plain["judge_used"], false);
  // Asking about an item not in one's queue is refused before the judge is called.
  Browser bob = browser("bob");
  EXPECT_EQ(bob.post("/api/judge", {{"item_id", 999}})->status, 404);
  EXPECT_EQ(judge_requests.load(), 1);
  judge_server->stop();
  judge_thread.join();
}

// Random and malformed requests never crash the service, never answer 5xx, always answer JSON.
TEST_F(ServiceTest, RequestFuzzing) {
  start(8, 8);
  Browser root = browser("root"), alice = browser("alice");
  std::mt19937_64 rng(20261206);
  const std::vector<std::string> paths = {
      "/api/login",       "/api/logout",           "/api/me",           "/api/next",
      "/api/item",        "/api/labels",           "/api/label",        "/api/judge",
      "/api/progress",    "/api/guidelines",       "/api/admin/users",  "/api/admin/item",
      "/api/admin/stats", "/api/admin/adjudicate", "/api/admin/export", "/api/admin/labels",
      "/api/nope",        "/../etc/passwd"};
  const std::vector<json> values = {nullptr,
                                    true,
                                    -1,
                                    0,
                                    1,
                                    int64_t{1} << 62,
                                    1e308,
                                    -0.5,
                                    "",
                                    "first",
                                    "skip",
                                    std::string(5000, 'x'),
                                    "\xed\xa0\x80",
                                    json::array(),
                                    json::object(),
                                    json::array({1, 2})};
  const std::vector<std::string> keys = {"item_id",  "choice", "note",       "client_ms", "name",
                                         "password", "role",   "to_project", "id",        "x"};
  httplib::Client c("127.0.0.1", server->port());
  int n_4xx = 0;
  for (int round = 0; round < 1500; ++round) {
    const Browser& who = rng() % 2 ? root : alice;
    const std::string path =
        paths[rng() % paths.size()] +
        (rng() % 3 == 0 ? "?id=" + std::string(rng() % 2 ? "-1" : "99999999999999999999") : "");
    std::string body;
    switch (rng() % 4) {
      case 0: {
        json j = json::object();
        for (int k = 0; k < 3; ++k) j[keys[rng() % keys.size()]] = values[rng() % values.size()];
        body = j.dump(-1, ' ', false, json::error_handler_t::replace);
        break;
      }
      case 1:
        for (int k = rng() % 64; k > 0; --k) body += static_cast<char>(rng() % 256);
        break;
      case 2:
        body = "[1,2,3]";
        break;
      default:
        body = "{\"item_id\": 1, \"choice\": \"first\"";  // truncated
    }
    httplib::Headers headers = who.headers(rng() % 4 != 0);
    httplib::Result r = rng() % 2 ? c.Post(path, headers, body, rng() % 5 ? "application/json" : "text/plain")
                                  : c.Get(path, headers);
    ASSERT_TRUE(r) << "no answer to " << path;
    ASSERT_LT(r->status, 500) << path << " " << body.substr(0, 200) << " -> " << r->body;
    n_4xx += r->status >= 400;
    if (r->status >= 400) {
      const json error = json::parse(r->body, nullptr, false);
      ASSERT_TRUE(error.is_object() && error.contains("error")) << path << " -> " << r->body;
    }
  }
  EXPECT_GT(n_4xx, 500);
  Browser again = browser("alice");  // the fuzzer may have logged alice out; the service still serves
  EXPECT_EQ(body_of(again.get("/api/me"))["user"], "alice");
}

// 50 annotators label concurrently over loopback for a bounded time: every acknowledged label is
// in the database exactly as sent, nobody is served or shown another's item or label, and no pair
// gets more than N labels.
TEST_F(ServiceTest, FiftyConcurrentAnnotatorsLoseNoLabel) {
  constexpr int kAnnotators = 50;
  start(160, 160);
  for (int i = 0; i < kAnnotators; ++i)
    ASSERT_TRUE(
        store->create_user("ann" + std::to_string(i), Role::annotator, "password-ann" + std::to_string(i))
            .is_ok());
  struct Acked {
    std::map<int64_t, std::string> choice_by_item;
    int errors = 0;
    std::string first_error;
  };
  std::vector<Acked> acked(kAnnotators);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::vector<std::thread> threads;
  const char* kChoices[] = {"first", "second", "tie", "cannot", "skip"};
  for (int i = 0; i < kAnnotators; ++i)
    threads.emplace_back([&, i] {
      Browser b = browser();
      const std::string name = "ann" + std::to_string(i);
      if (b.login(name, "password-" + name) != 200) {
        ++acked[i].errors;
        return;
      }
      for (int step = 0; std::chrono::steady_clock::now() < deadline; ++step) {
        auto next = b.get("/api/next");
        if (!next || next->status != 200) {
          if (acked[i].errors++ == 0) acked[i].first_error = next ? next->body : "no answer";
          continue;
        }
        const json item = json::parse(next->body)["item"];
        if (item.is_null()) break;
        const int64_t item_id = item["item_id"];
        const std::string choice = kChoices[(i + step) % 5];
        auto label = b.post("/api/label", {{"item_id", item_id}, {"choice", choice}, {"client_ms", step}});
        if (label && label->status == 200) {
          acked[i].choice_by_item[item_id] = choice;
        } else if (acked[i].errors++ == 0) {
          acked[i].first_error = label ? label->body : "no answer";
        }
      }
    });
  for (std::thread& t : threads) t.join();
  size_t total = 0;
  std::map<int64_t, int> non_skip_per_item;
  for (int i = 0; i < kAnnotators; ++i) {
    EXPECT_EQ(acked[i].errors, 0) << "ann" << i << ": " << acked[i].first_error;
    const User user = store->session(browser("ann" + std::to_string(i)).cookie)->user;
    const std::vector<LabelRecord> labels = store->labels_of(user).value();
    std::map<int64_t, std::string> stored;
    for (const LabelRecord& l : labels) {
      EXPECT_EQ(l.user, user.name);
      stored[l.item_id] = std::string(choice_name(l.choice));
      non_skip_per_item[l.item_id] += l.choice != Choice::skip;
    }
    EXPECT_EQ(stored, acked[i].choice_by_item) << user.name;
    total += stored.size();
  }
  EXPECT_GE(total, static_cast<size_t>(kAnnotators));  // everyone labeled (the queue holds 320 slots)
  for (const auto& [item_id, n] : non_skip_per_item) EXPECT_LE(n, 2) << "item " << item_id;
  const std::vector<LabelRecord> all = store->all_labels().value();
  EXPECT_EQ(all.size(), total);
}

}  // namespace
