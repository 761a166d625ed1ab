// synpref/annotate/service.h: the annotation service's HTTP API and web UI on the shared HTTP
// layer (synpref/http/server.h). docs/annotate.md lists every route.
//
//   SP_ASSIGN_OR_RETURN(auto store, annotate::Store::open(dir, {}));
//   annotate::Service service(*store, project.get(), {});
//   auto server = http::Server::create({.port = 8080});
//   service.register_routes(**server);
//   (*server)->run();
//
// Security model:
//  - Login (POST /api/login) sets a session cookie: HttpOnly, SameSite=Strict, Path=/, and Secure
//    when `secure_cookies` (set it whenever the service sits behind TLS).
//  - Every state-changing request (POST) of a session must carry the session's CSRF token in the
//    X-CSRF-Token header (403 otherwise) and a JSON body (Content-Type: application/json).
//  - 401 without a valid session; 403 for an annotator on an admin route. An annotator's requests
//    only ever touch their own queue and labels (Store guarantees it by user id).
//  - Every response carries a Content-Security-Policy that allows only the service's own scripts
//    and styles (no inline script, no network elsewhere), X-Content-Type-Options: nosniff and
//    X-Frame-Options: DENY; pair text travels as JSON data and the UI renders it with DOM text
//    nodes only (src/annotate/web/render.js), so hostile content cannot run script.
#pragma once

#include <memory>
#include <string>

#include "synpref/annotate/store.h"

namespace synpref::http {
class Server;
}
namespace synpref::judge {
class Client;
}

namespace synpref::annotate {

struct ServiceOptions {
  bool secure_cookies = false;
  // The optional "ask a judge" panel: a judge client and the endpoint to ask; null = no panel.
  judge::Client* judge = nullptr;
  std::string judge_endpoint;
  // Where POST /api/admin/export writes the gold JSONL ("" = DIR/annotate-gold.jsonl).
  std::string gold_jsonl_path;
};

class Service {
 public:
  // `project` may be null: then export into the curation database is refused (501).
  Service(Store& store, curate::Project* project, ServiceOptions options);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Registers the API and the UI's assets on `server` (before it runs).
  void register_routes(http::Server& server);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace synpref::annotate
