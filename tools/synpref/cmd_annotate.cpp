// `synpref annotate ...`: the gold-set annotation service (docs/annotate.md).
//   annotate user add   create an account (admin or annotator)
//   annotate queue      add pairs of a curation project to the annotation queue
//   annotate serve      the web UI and API
//   annotate export     the settled gold set as gold JSONL and into the curation database
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "command.h"
#include "synpref/annotate/service.h"
#include "synpref/annotate/store.h"
#include "synpref/common/io.h"
#include "synpref/curate/project.h"
#include "synpref/http/server.h"
#include "synpref/judge/client.h"

namespace synpref::cli {
namespace {

struct AnnotateFlags {
  std::string project;
  annotate::StoreOptions store;
  std::string priority = "objectivity,controversiality";
};

// Library option fields in an error -> the flag that sets them.
Status with_flag_names(Status status) {
  static constexpr std::pair<const char*, const char*> kFlags[] = {
      {"annotators_per_pair", "--per-pair"},
      {"priority", "--priority"},
      {"max_items", "--max"},
      {"gold_questions", "--gold-questions"},
      {"invite hours", "--hours"},
      {"port", "--port"},
      {"n_threads", "--threads"},
  };
  if (status.is_ok()) return status;
  for (const auto& [field, flag] : kFlags)
    if (status.message().find(field) != std::string::npos)
      return Status(status.code(), status.message() + " (set with " + flag + ")");
  return status;
}

void add_store_flags(CLI::App* cmd, AnnotateFlags& f) {
  cmd->add_option("--project", f.project, "Curation project folder (annotate.db lives there)")->required();
  cmd->add_option("--per-pair", f.store.annotators_per_pair, "Labels (not skips) each pair needs")
      ->capture_default_str();
  cmd->add_option("--seed", f.store.seed, "Seed of the per-annotator response order")->capture_default_str();
}

Result<std::unique_ptr<annotate::Store>> open_store(AnnotateFlags& f) {
  f.store.priority.clear();
  if (f.priority != "none") {
    size_t start = 0;
    while (start <= f.priority.size()) {
      const size_t comma = f.priority.find(',', start);
      const std::string key = f.priority.substr(start, comma - start);
      if (!key.empty()) f.store.priority.push_back(key);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  auto store = annotate::Store::open(f.project, f.store);
  if (!store.is_ok()) return with_flag_names(store.status());
  return store;
}

Result<std::string> read_password(bool from_stdin, const std::string& env) {
  if (!env.empty()) {
    const char* value = std::getenv(env.c_str());
    if (value == nullptr || *value == 0)
      return not_found("environment variable " + env + " (--password-env) is not set");
    return std::string(value);
  }
  if (!from_stdin) return invalid_argument("give the password with --password-stdin or --password-env");
  std::string line;
  std::getline(std::cin, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

void add_invite_command(CLI::App* user);

void add_user_command(CLI::App* annotate) {
  auto* user = annotate->add_subcommand("user", "Manage accounts")->require_subcommand(1);
  auto f = std::make_shared<AnnotateFlags>();
  auto name = std::make_shared<std::string>();
  auto role = std::make_shared<std::string>("annotator");
  auto from_stdin = std::make_shared<bool>(false);
  auto env = std::make_shared<std::string>();
  auto* add = user->add_subcommand(
      "add", "Create an account (the first admin is made here; admins add the rest in the UI)");
  add->add_option("--project", f->project, "Curation project folder")->required();
  add->add_option("--name", *name, "Account name (A-Z a-z 0-9 _ . -)")->required();
  add->add_option("--role", *role, "admin or annotator")->capture_default_str();
  add->add_flag("--password-stdin", *from_stdin, "Read the password from the first line of stdin");
  add->add_option("--password-env", *env, "Read the password from this environment variable");
  add_invite_command(user);
  add->callback([=] {
    set_action([=]() -> Status {
      SP_ASSIGN_OR_RETURN(annotate::Role r, annotate::parse_role(*role));
      SP_ASSIGN_OR_RETURN(std::string password, read_password(*from_stdin, *env));
      SP_ASSIGN_OR_RETURN(auto store, open_store(*f));
      SP_ASSIGN_OR_RETURN(annotate::User u, store->create_user(*name, r, password));
      if (global_options().json)
        std::printf("%s\n",
                    nlohmann::json({{"id", u.id}, {"name", u.name}, {"role", annotate::role_name(u.role)}})
                        .dump()
                        .c_str());
      else
        std::fprintf(stderr, "annotate: created %s `%s`\n", std::string(annotate::role_name(u.role)).c_str(),
                     u.name.c_str());
      return Status::ok();
    });
  });
}

void add_invite_command(CLI::App* user) {
  auto f = std::make_shared<AnnotateFlags>();
  auto name = std::make_shared<std::string>();
  auto role = std::make_shared<std::string>("annotator");
  auto hours = std::make_shared<int>(72);
  auto* invite =
      user->add_subcommand("invite", "Create a one-time invite; prints the token (open /#invite=TOKEN)");
  invite->add_option("--project", f->project, "Curation project folder")->required();
  invite->add_option("--name", *name, "Account name the invite creates")->required();
  invite->add_option("--role", *role, "admin or annotator")->capture_default_str();
  invite->add_option("--hours", *hours, "Hours until the invite expires")->capture_default_str();
  invite->callback([=] {
    set_action([=]() -> Status {
      SP_ASSIGN_OR_RETURN(annotate::Role r, annotate::parse_role(*role));
      SP_ASSIGN_OR_RETURN(auto store, open_store(*f));
      auto created = store->create_invite(*name, r, *hours);
      if (!created.is_ok()) return with_flag_names(created.status());
      const std::string token = *created;
      if (global_options().json)
        std::printf("%s\n", nlohmann::json({{"name", *name}, {"token", token}}).dump().c_str());
      else
        std::printf("%s\n", token.c_str());
      return Status::ok();
    });
  });
}

Result<std::vector<std::string>> read_ids(const std::string& path) {
  SP_ASSIGN_OR_RETURN(std::string content, io::read_file(path));
  std::vector<std::string> ids;
  size_t start = 0;
  while (start < content.size()) {
    size_t end = content.find('\n', start);
    if (end == std::string::npos) end = content.size();
    std::string line = content.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) ids.push_back(line);
    start = end + 1;
  }
  return ids;
}

void add_queue_command(CLI::App* annotate) {
  auto f = std::make_shared<AnnotateFlags>();
  auto o = std::make_shared<annotate::AddItemsOptions>();
  auto ids_file = std::make_shared<std::string>();
  auto* cmd = annotate->add_subcommand("queue", "Add pairs of the project to the annotation queue");
  add_store_flags(cmd, *f);
  cmd->add_option(
         "--priority", f->priority,
         "Queue order: attributes compared in turn, best first (objectivity, controversiality), or none")
      ->capture_default_str();
  cmd->add_option("--max", o->max_items, "Pairs to add, best priority first")->capture_default_str();
  cmd->add_option("--category", o->category, "Only pairs of this task_category");
  cmd->add_option("--ids", *ids_file, "Add exactly these pair ids (one per line) instead");
  cmd->add_option("--gold-questions", o->gold_questions,
                  "Also add up to this many pairs of the project's gold set as gold questions")
      ->capture_default_str();
  cmd->callback([=] {
    set_action([=]() -> Status {
      SP_ASSIGN_OR_RETURN(auto project, curate::Project::open(f->project));
      SP_ASSIGN_OR_RETURN(auto store, open_store(*f));
      annotate::AddItemsOptions options = *o;
      if (!ids_file->empty()) {
        SP_ASSIGN_OR_RETURN(options.ids, read_ids(*ids_file));
      }
      auto added = store->add_items(*project, options);
      if (!added.is_ok()) return with_flag_names(added.status());
      const nlohmann::json j = {{"added", added->added},
                                {"already_queued", added->already_queued},
                                {"gold_questions", added->gold_questions}};
      if (global_options().json)
        std::printf("%s\n", j.dump().c_str());
      else
        std::fprintf(stderr, "annotate: queued %lld pairs (%lld gold questions; %lld already queued)\n",
                     static_cast<long long>(added->added), static_cast<long long>(added->gold_questions),
                     static_cast<long long>(added->already_queued));
      return Status::ok();
    });
  });
}

struct ServeFlags {
  http::ServerOptions server;
  bool secure_cookies = false;
  std::string judges, judge_endpoint, guidelines;
};

Status run_serve(AnnotateFlags& f, const ServeFlags& s) {
  // SIGINT/SIGTERM are taken by sigwait below: block them before any thread exists.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  if (!s.guidelines.empty()) {
    SP_ASSIGN_OR_RETURN(f.store.guidelines_markdown, io::read_file(s.guidelines));
  }
  SP_ASSIGN_OR_RETURN(auto project, curate::Project::open(f.project));
  SP_ASSIGN_OR_RETURN(auto store, open_store(f));
  std::unique_ptr<judge::Client> judge_client;
  annotate::ServiceOptions options;
  options.secure_cookies = s.secure_cookies;
  if (!s.judges.empty()) {
    SP_ASSIGN_OR_RETURN(judge::Config config, judge::load_config(s.judges));
    SP_ASSIGN_OR_RETURN(judge_client, judge::Client::create(config));
    options.judge = judge_client.get();
    options.judge_endpoint = s.judge_endpoint.empty() ? config.endpoints.at(0).name : s.judge_endpoint;
  }
  annotate::Service service(*store, project.get(), options);
  auto created = http::Server::create(s.server);
  if (!created.is_ok()) return with_flag_names(created.status());
  std::unique_ptr<http::Server> server = std::move(created).value();
  service.register_routes(*server);
  // First line of stdout: where to connect (tests and scripts read it).
  std::printf("listening on http://%s:%d\n", s.server.host.c_str(), server->port());
  std::fflush(stdout);
  Status served;
  const pthread_t main_thread = pthread_self();
  std::thread thread([&] {
    served = server->run();
    if (!served.is_ok()) pthread_kill(main_thread, SIGTERM);
  });
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  server->stop();
  thread.join();
  return served;
}

void add_serve_command(CLI::App* annotate) {
  auto f = std::make_shared<AnnotateFlags>();
  auto s = std::make_shared<ServeFlags>();
  auto* cmd = annotate->add_subcommand("serve",
                                       "Serve the annotation UI and API; prints 'listening on "
                                       "http://HOST:PORT' first; stops on SIGINT/SIGTERM");
  add_store_flags(cmd, *f);
  cmd->add_option("--host", s->server.host, "Address to bind")->capture_default_str();
  cmd->add_option("--port", s->server.port, "Port (0 = any free port)")->capture_default_str();
  cmd->add_option("--threads", s->server.n_threads, "Connection threads")->capture_default_str();
  cmd->add_flag("--secure-cookies", s->secure_cookies, "Mark the session cookie Secure (behind TLS)");
  cmd->add_option("--judges", s->judges, "Judge config (docs/judge.md) for the optional ask-a-judge panel");
  cmd->add_option("--judge-endpoint", s->judge_endpoint,
                  "Endpoint of the judge config to ask (default: the first)");
  cmd->add_option("--guidelines", s->guidelines, "Markdown file shown as the guidelines page");
  cmd->add_option("--argon2-memory-kib", f->store.argon2_memory_kib, "argon2id memory cost for new passwords")
      ->capture_default_str();
  cmd->callback([=] { set_action([=]() -> Status { return run_serve(*f, *s); }); });
}

void add_export_command(CLI::App* annotate) {
  auto f = std::make_shared<AnnotateFlags>();
  auto out = std::make_shared<std::string>();
  auto no_db = std::make_shared<bool>(false);
  auto* cmd = annotate->add_subcommand(
      "export",
      "Write the settled gold set as gold JSONL and into the curation database (kind gold, source human)");
  add_store_flags(cmd, *f);
  cmd->add_option("--out", *out, "Gold JSONL file (the `curate gold` import format)")->required();
  cmd->add_flag("--no-db", *no_db, "Only write the JSONL file, not the curation database");
  cmd->callback([=] {
    set_action([=]() -> Status {
      SP_ASSIGN_OR_RETURN(auto project, curate::Project::open(f->project));
      SP_ASSIGN_OR_RETURN(auto store, open_store(*f));
      annotate::GoldExportSummary summary;
      SP_ASSIGN_OR_RETURN(std::string lines, store->gold_jsonl(&summary));
      SP_ASSIGN_OR_RETURN(auto writer, io::Writer::open(*out));
      writer->append(lines);
      SP_RETURN_IF_ERROR(writer->close());
      if (!*no_db) SP_RETURN_IF_ERROR(store->export_to_project(*project).status());
      const nlohmann::json j = {
          {"pairs", summary.pairs},     {"labels", summary.labels}, {"discarded", summary.discarded},
          {"pending", summary.pending}, {"gold_jsonl", *out},       {"database", !*no_db}};
      if (global_options().json)
        std::printf("%s\n", j.dump().c_str());
      else
        std::fprintf(stderr,
                     "annotate: %lld gold pairs (%lld labels) -> %s%s; %lld discarded, %lld pending\n",
                     static_cast<long long>(summary.pairs), static_cast<long long>(summary.labels),
                     out->c_str(), *no_db ? "" : " and the curation database",
                     static_cast<long long>(summary.discarded), static_cast<long long>(summary.pending));
      return Status::ok();
    });
  });
}

void add_annotate(CLI::App& app) {
  auto* annotate =
      app.add_subcommand("annotate", "Gold-set annotation service (docs/annotate.md)")->require_subcommand(1);
  add_user_command(annotate);
  add_queue_command(annotate);
  add_serve_command(annotate);
  add_export_command(annotate);
}

}  // namespace

SYNPREF_COMMAND(720, add_annotate);

}  // namespace synpref::cli
