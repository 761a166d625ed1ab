// The annotation store: open, schema, accounts and sessions (see synpref/annotate/store.h).
#include <argon2.h>
#include <sys/random.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "annotate/store_impl.h"

namespace synpref::annotate {

namespace {

constexpr int kSchemaVersion = 1;

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users(
  user_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, role TEXT NOT NULL,
  password_hash TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions(
  token_hash TEXT PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(user_id),
  csrf TEXT NOT NULL, created TEXT NOT NULL, expires_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS items(
  item_id INTEGER PRIMARY KEY, pair_id TEXT NOT NULL UNIQUE, pool_row INTEGER NOT NULL,
  priority INTEGER NOT NULL, category TEXT NOT NULL, gold_verdict TEXT,
  view_json TEXT NOT NULL, added TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS items_order ON items(priority, item_id);
CREATE TABLE IF NOT EXISTS leases(
  item_id INTEGER NOT NULL, user_id INTEGER NOT NULL, served_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL, PRIMARY KEY(item_id, user_id));
CREATE TABLE IF NOT EXISTS labels(
  item_id INTEGER NOT NULL REFERENCES items(item_id), user_id INTEGER NOT NULL REFERENCES users(user_id),
  choice TEXT NOT NULL, verdict TEXT, swapped INTEGER NOT NULL, client_ms INTEGER NOT NULL,
  server_ms INTEGER NOT NULL, judge_used INTEGER NOT NULL, note TEXT NOT NULL, time TEXT NOT NULL,
  PRIMARY KEY(item_id, user_id));
CREATE INDEX IF NOT EXISTS labels_user ON labels(user_id);
CREATE TABLE IF NOT EXISTS adjudications(
  item_id INTEGER PRIMARY KEY REFERENCES items(item_id), user_id INTEGER NOT NULL,
  verdict TEXT NOT NULL, note TEXT NOT NULL, time TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS judge_uses(
  use_id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL, user_id INTEGER NOT NULL,
  endpoint TEXT NOT NULL, status TEXT NOT NULL, time TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS judge_uses_item ON judge_uses(item_id, user_id);
CREATE TABLE IF NOT EXISTS invites(
  token_hash TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, created TEXT NOT NULL,
  expires_ms INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0);
)sql";

constexpr std::string_view kDefaultGuidelines = R"md(# Annotation guidelines

You verify which of two responses to the same conversation is better. The pair's **attributes**
(task category, objectivity, controversiality, desired attributes) and its **instance guideline**
are shown beside the responses: read them first, they say what "better" means for this pair.

1. Read the whole conversation and both responses. The responses are shown in a random order
   that differs between annotators; neither side is more likely to be right.
2. Check facts, code and arithmetic yourself. You may use tools (a calculator, an interpreter,
   a search engine). You may ask the judge panel for a second opinion, but **do not rely on it
   fully**: its use is recorded with your label.
3. Choose:
   - **1** - the left response is better;
   - **2** - the right response is better;
   - **t** - tie: neither is better by the guideline;
   - **c** - cannot determine: you cannot tell with confidence (such pairs are discarded);
   - **s** - skip: leave the pair to someone else.
4. Objective, low-controversy pairs come first in your queue. Do not guess: "cannot determine"
   is a useful answer.

Every pair is labelled by several annotators independently; disagreements go to an adjudicator.
Some pairs have a known answer and check the queue's quality.
)md";

std::string to_hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * bytes.size());
  for (unsigned char b : bytes) {
    hex += kHex[b >> 4];
    hex += kHex[b & 15];
  }
  return hex;
}

bool valid_user_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') return false;
  return true;
}

Result<std::string> random_hex(size_t n_bytes) {
  std::string bytes(n_bytes, '\0');
  size_t got = 0;
  while (got < n_bytes) {
    const ssize_t n = getrandom(bytes.data() + got, n_bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error(std::string("getrandom: ") + std::strerror(errno));
    }
    got += static_cast<size_t>(n);
  }
  return to_hex(bytes);
}

// Session tokens are stored as a keyed Blake2b-based hash (argon2id with minimal cost and a fixed
// salt): a preimage-resistant digest, cheap enough to run on every request.
std::string token_hash(std::string_view token) {
  static constexpr char kSalt[] = "synpref-annotate-session";
  unsigned char out[32];
  const int rc =
      argon2id_hash_raw(1, 8, 1, token.data(), token.size(), kSalt, sizeof(kSalt) - 1, out, sizeof(out));
  SP_CHECK(rc == ARGON2_OK);
  return to_hex(std::string_view(reinterpret_cast<const char*>(out), sizeof(out)));
}

Result<std::string> hash_password(std::string_view password, const StoreOptions& options) {
  SP_ASSIGN_OR_RETURN(std::string salt, random_hex(16));
  const uint32_t parallelism = 1;
  const size_t encoded_len = argon2_encodedlen(options.argon2_iterations, options.argon2_memory_kib,
                                               parallelism, salt.size(), 32, Argon2_id);
  std::string encoded(encoded_len, '\0');
  const int rc = argon2id_hash_encoded(options.argon2_iterations, options.argon2_memory_kib, parallelism,
                                       password.data(), password.size(), salt.data(), salt.size(), 32,
                                       encoded.data(), encoded.size());
  if (rc != ARGON2_OK) return internal_error(std::string("argon2id: ") + argon2_error_message(rc));
  encoded.resize(std::strlen(encoded.c_str()));
  return encoded;
}

bool verify_password(const std::string& encoded, std::string_view password) {
  return argon2id_verify(encoded.c_str(), password.data(), password.size()) == ARGON2_OK;
}

Status check_options(const StoreOptions& o) {
  if (o.annotators_per_pair < 1 || o.annotators_per_pair > 100)
    return invalid_argument("annotators_per_pair must be in [1, 100]");
  for (const std::string& key : o.priority)
    if (key != "objectivity" && key != "controversiality")
      return invalid_argument("priority: unknown attribute `" + key +
                              "` (use objectivity, controversiality, or none)");
  if (o.lease_seconds < 1) return invalid_argument("lease_seconds must be >= 1");
  if (o.session_hours < 1) return invalid_argument("session_hours must be >= 1");
  if (o.argon2_memory_kib < 8 || o.argon2_iterations < 1)
    return invalid_argument("argon2_memory_kib must be >= 8 and argon2_iterations >= 1");
  return Status::ok();
}

Status migrate(sql::Db& db) {
  SP_RETURN_IF_ERROR(db.exec(kSchema));
  SP_ASSIGN_OR_RETURN(sql::Stmt get, db.prepare("SELECT value FROM meta WHERE key = 'schema_version'"));
  SP_ASSIGN_OR_RETURN(bool has, get.step());
  if (has) {
    const int version = std::atoi(get.col_text(0).c_str());
    get.reset();
    if (version > kSchemaVersion)
      return unsupported(db.path() + ": annotation database schema version " + std::to_string(version) +
                         " is newer than this synpref (" + std::to_string(kSchemaVersion) +
                         "): upgrade synpref");
    return Status::ok();
  }
  SP_ASSIGN_OR_RETURN(sql::Stmt put, db.prepare("INSERT INTO meta(key, value) VALUES('schema_version', ?1)"));
  return put.bind(1, std::to_string(kSchemaVersion)).run();
}

Result<User> user_from(const sql::Stmt& s, int first_col) {
  User user;
  user.id = s.col_int(first_col);
  user.name = s.col_text(first_col + 1);
  SP_ASSIGN_OR_RETURN(user.role, parse_role(s.col_text_view(first_col + 2)));
  return user;
}

}  // namespace

std::string now_iso() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string_view role_name(Role role) {
  return role == Role::admin ? "admin" : "annotator";
}

Result<Role> parse_role(std::string_view name) {
  if (name == "admin") return Role::admin;
  if (name == "annotator") return Role::annotator;
  return invalid_argument("role must be `admin` or `annotator`, not `" + std::string(name) + "`");
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

const StoreOptions& Store::options() const {
  return impl_->options;
}

std::string Store::guidelines() const {
  return impl_->options.guidelines_markdown.empty() ? std::string(kDefaultGuidelines)
                                                    : impl_->options.guidelines_markdown;
}

Result<std::unique_ptr<Store>> Store::open(const std::string& project_dir, const StoreOptions& options) {
  SP_RETURN_IF_ERROR(check_options(options));
  std::error_code ec;
  if (!std::filesystem::is_regular_file(std::filesystem::path(project_dir) / "project.db", ec))
    return not_found(project_dir +
                     ": not a curation project (no project.db; run `synpref curate init` first)");
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->dir = project_dir;
  impl->db_path = (std::filesystem::path(project_dir) / "annotate.db").string();
  SP_ASSIGN_OR_RETURN(impl->db, sql::Db::open(impl->db_path, /*create=*/true));
  // FULL: a label acknowledged to a browser survives a power cut too, not only a killed process.
  SP_RETURN_IF_ERROR(impl->db->exec("PRAGMA synchronous=FULL"));
  SP_RETURN_IF_ERROR(impl->db->exec("PRAGMA foreign_keys=ON"));
  {
    sql::Transaction tx(*impl->db);
    SP_RETURN_IF_ERROR(tx.begin());
    SP_RETURN_IF_ERROR(migrate(*impl->db));
    SP_RETURN_IF_ERROR(tx.commit());
  }
  SP_ASSIGN_OR_RETURN(impl->dummy_hash, hash_password("not a password of anyone", options));
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

Result<User> Store::create_user(std::string_view name, Role role, std::string_view password) {
  if (!valid_user_name(name))
    return invalid_argument("name must be 1-64 characters of A-Z a-z 0-9 _ . - (got `" +
                            std::string(name.substr(0, 80)) + "`)");
  if (password.size() < 8) return invalid_argument("password must be at least 8 bytes");
  if (password.size() > 1024) return invalid_argument("password must be at most 1024 bytes");
  SP_ASSIGN_OR_RETURN(std::string hash, hash_password(password, impl_->options));
  std::lock_guard<std::mutex> lock(impl_->mu);
  sql::Db& db = *impl_->db;
  SP_ASSIGN_OR_RETURN(sql::Stmt exists, db.prepare("SELECT 1 FROM users WHERE name = ?1"));
  SP_ASSIGN_OR_RETURN(bool taken, exists.bind(1, name).step());
  exists.reset();
  if (taken) return invalid_argument("user `" + std::string(name) + "` already exists");
  SP_ASSIGN_OR_RETURN(sql::Stmt ins, db.prepare("INSERT INTO users(name, role, password_hash, created) "
                                                "VALUES(?1, ?2, ?3, ?4)"));
  SP_RETURN_IF_ERROR(ins.bind(1, name).bind(2, role_name(role)).bind(3, hash).bind(4, now_iso()).run());
  SP_ASSIGN_OR_RETURN(sql::Stmt id, db.prepare("SELECT user_id FROM users WHERE name = ?1"));
  SP_ASSIGN_OR_RETURN(bool found, id.bind(1, name).step());
  SP_CHECK(found);
  User user{id.col_int(0), std::string(name), role};
  id.reset();
  return user;
}

Result<std::vector<User>> Store::users() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  SP_ASSIGN_OR_RETURN(sql::Stmt s,
                      impl_->db->prepare("SELECT user_id, name, role FROM users ORDER BY user_id"));
  std::vector<User> users;
  for (;;) {
    SP_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) break;
    SP_ASSIGN_OR_RETURN(User user, user_from(s, 0));
    users.push_back(std::move(user));
  }
  return users;
}

Result<LoginResult> Store::login(std::string_view name, std::string_view password) {
  std::optional<User> user;
  std::string hash = impl_->dummy_hash;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    SP_ASSIGN_OR_RETURN(
        sql::Stmt s,
        impl_->db->prepare("SELECT user_id, name, role, password_hash FROM users WHERE name = ?1"));
    SP_ASSIGN_OR_RETURN(bool found, s.bind(1, name).step());
    if (found) {
      SP_ASSIGN_OR_RETURN(user, user_from(s, 0));
      hash = s.col_text(3);
      s.reset();
    }
  }
  // Verified outside the lock (argon2 is slow on purpose), and for unknown names too.
  const bool ok = verify_password(hash, password);
  if (!user || !ok) return invalid_argument("wrong name or password");
  LoginResult result;
  SP_ASSIGN_OR_RETURN(result.token, random_hex(32));
  SP_ASSIGN_OR_RETURN(std::string csrf, random_hex(32));
  result.session = Session{*user, csrf};
  std::lock_guard<std::mutex> lock(impl_->mu);
  SP_ASSIGN_OR_RETURN(
      sql::Stmt ins,
      impl_->db->prepare("INSERT INTO sessions(token_hash, user_id, csrf, created, expires_ms) "
                         "VALUES(?1, ?2, ?3, ?4, ?5)"));
  const int64_t expires = now_ms() + int64_t{impl_->options.session_hours} * 3600 * 1000;
  SP_RETURN_IF_ERROR(ins.bind(1, token_hash(result.token))
                         .bind(2, user->id)
                         .bind(3, csrf)
                         .bind(4, now_iso())
                         .bind(5, expires)
                         .run());
  return result;
}

Result<Session> Store::session(std::string_view token) const {
  if (token.size() != 64) return not_found("no such session");
  std::lock_guard<std::mutex> lock(impl_->mu);
  SP_ASSIGN_OR_RETURN(sql::Stmt s,
                      impl_->db->prepare("SELECT u.user_id, u.name, u.role, s.csrf FROM sessions s "
                                         "JOIN users u ON u.user_id = s.user_id "
                                         "WHERE s.token_hash = ?1 AND s.expires_ms > ?2"));
  SP_ASSIGN_OR_RETURN(bool found, s.bind(1, token_hash(token)).bind(2, now_ms()).step());
  if (!found) return not_found("no such session (expired or logged out)");
  SP_ASSIGN_OR_RETURN(User user, user_from(s, 0));
  Session session{std::move(user), s.col_text(3)};
  s.reset();
  return session;
}

Status Store::logout(std::string_view token) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  SP_ASSIGN_OR_RETURN(sql::Stmt del, impl_->db->prepare("DELETE FROM sessions WHERE token_hash = ?1"));
  return del.bind(1, token_hash(token)).run();
}

Result<std::string> Store::create_invite(std::string_view name, Role role, int hours) {
  if (!valid_user_name(name))
    return invalid_argument("name must be 1-64 characters of A-Z a-z 0-9 _ . - (got `" +
                            std::string(name.substr(0, 80)) + "`)");
  if (hours < 1 || hours > 24 * 30) return invalid_argument("invite hours must be in [1, 720]");
  SP_ASSIGN_OR_RETURN(std::string token, random_hex(32));
  std::lock_guard<std::mutex> lock(impl_->mu);
  sql::Db& db = *impl_->db;
  SP_ASSIGN_OR_RETURN(sql::Stmt exists, db.prepare("SELECT 1 FROM users WHERE name = ?1"));
  SP_ASSIGN_OR_RETURN(bool taken, exists.bind(1, name).step());
  exists.reset();
  if (taken) return invalid_argument("user `" + std::string(name) + "` already exists");
  SP_ASSIGN_OR_RETURN(sql::Stmt ins,
                      db.prepare("INSERT INTO invites(token_hash, name, role, created, expires_ms) "
                                 "VALUES(?1, ?2, ?3, ?4, ?5)"));
  SP_RETURN_IF_ERROR(ins.bind(1, token_hash(token))
                         .bind(2, name)
                         .bind(3, role_name(role))
                         .bind(4, now_iso())
                         .bind(5, now_ms() + int64_t{hours} * 3600 * 1000)
                         .run());
  return token;
}

Result<LoginResult> Store::accept_invite(std::string_view token, std::string_view password) {
  if (password.size() < 8) return invalid_argument("password must be at least 8 bytes");
  if (password.size() > 1024) return invalid_argument("password must be at most 1024 bytes");
  SP_ASSIGN_OR_RETURN(std::string hash, hash_password(password, impl_->options));
  std::string name;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    sql::Db& db = *impl_->db;
    sql::Transaction tx(db);
    SP_RETURN_IF_ERROR(tx.begin());
    SP_ASSIGN_OR_RETURN(sql::Stmt s,
                        db.prepare("SELECT name, role FROM invites WHERE token_hash = ?1 AND used = 0 "
                                   "AND expires_ms > ?2"));
    SP_ASSIGN_OR_RETURN(bool found, s.bind(1, token_hash(token)).bind(2, now_ms()).step());
    if (!found) return not_found("no such invite (unknown, used or expired): ask an admin for a new one");
    name = s.col_text(0);
    const std::string role = s.col_text(1);
    s.reset();
    SP_ASSIGN_OR_RETURN(sql::Stmt exists, db.prepare("SELECT 1 FROM users WHERE name = ?1"));
    SP_ASSIGN_OR_RETURN(bool taken, exists.bind(1, name).step());
    exists.reset();
    if (taken) return invalid_argument("user `" + name + "` already exists");
    SP_ASSIGN_OR_RETURN(sql::Stmt ins, db.prepare("INSERT INTO users(name, role, password_hash, created) "
                                                  "VALUES(?1, ?2, ?3, ?4)"));
    SP_RETURN_IF_ERROR(ins.bind(1, name).bind(2, role).bind(3, hash).bind(4, now_iso()).run());
    SP_ASSIGN_OR_RETURN(sql::Stmt use, db.prepare("UPDATE invites SET used = 1 WHERE token_hash = ?1"));
    SP_RETURN_IF_ERROR(use.bind(1, token_hash(token)).run());
    SP_RETURN_IF_ERROR(tx.commit());
  }
  return login(name, password);
}

}  // namespace synpref::annotate
