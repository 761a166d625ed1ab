// The batch HTTP client on libcurl's multi interface (see synpref/http/client.h).
//
// One multi handle per perform_all call, driven by the calling thread: at most max_concurrency
// easy handles are attached at once, and a finished one is replaced by the next request, so a
// slow transfer never holds up the others. Connections are reused within a call (the multi
// handle's connection cache); DNS answers and TLS sessions are shared across calls and threads
// through one process-wide share handle (connection sharing across threads is not safe in
// libcurl, so it is not shared).
#include "synpref/http/client.h"

#include "synpref/common/check.h"

#include <curl/curl.h>
#include <strings.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <memory>
#include <mutex>

namespace synpref::http {

std::string ClientResponse::header(const std::string& name) const {
  for (const auto& [key, value] : headers)
    if (strcasecmp(key.c_str(), name.c_str()) == 0) return value;
  return "";
}

namespace {

// libcurl's global state and the shared DNS / TLS-session caches, set up once per process.
struct Global {
  CURLSH* share = nullptr;
  std::mutex locks[CURL_LOCK_DATA_LAST];

  Global() {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    share = curl_share_init();
    if (share == nullptr) return;
    curl_share_setopt(share, CURLSHOPT_LOCKFUNC, &Global::lock);
    curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, &Global::unlock);
    curl_share_setopt(share, CURLSHOPT_USERDATA, this);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  }
  static void lock(CURL*, curl_lock_data data, curl_lock_access, void* self) {
    static_cast<Global*>(self)->locks[data].lock();
  }
  static void unlock(CURL*, curl_lock_data data, void* self) {
    static_cast<Global*>(self)->locks[data].unlock();
  }
};

Global& global() {
  static Global* g = new Global();  // never destroyed: transfers may run during static teardown
  return *g;
}

// One transfer: the easy handle and everything libcurl points into while it runs.
struct Transfer {
  uint64_t tag = 0;
  ClientRequest request;  // owned: libcurl points into its body while the transfer runs
  ClientResponse response;
  CURL* easy = nullptr;
  curl_slist* header_list = nullptr;
  char error_buffer[CURL_ERROR_SIZE] = {0};
  bool out_of_memory = false;

  ~Transfer() {
    if (header_list != nullptr) curl_slist_free_all(header_list);
    if (easy != nullptr) curl_easy_cleanup(easy);
  }
};

size_t on_body(char* data, size_t size, size_t n_items, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  try {
    transfer->response.body.append(data, size * n_items);
  } catch (const std::exception&) {
    transfer->out_of_memory = true;
    return 0;  // aborts this transfer only
  }
  return size * n_items;
}

std::string trim(std::string_view s) {
  size_t begin = 0, end = s.size();
  while (begin < end && (s[begin] == ' ' || s[begin] == '\t')) ++begin;
  while (end > begin && (s[end - 1] == ' ' || s[end - 1] == '\t' || s[end - 1] == '\r' || s[end - 1] == '\n'))
    --end;
  return std::string(s.substr(begin, end - begin));
}

// Called once per header line. A status line starts a new header block (after a 100 Continue or
// a redirect), so only the final response's headers are kept.
size_t on_header(char* data, size_t size, size_t n_items, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  std::string_view line(data, size * n_items);
  try {
    if (line.starts_with("HTTP/")) {
      transfer->response.headers.clear();
    } else if (size_t colon = line.find(':'); colon != std::string_view::npos) {
      transfer->response.headers.emplace_back(trim(line.substr(0, colon)), trim(line.substr(colon + 1)));
    }
  } catch (const std::exception&) {
    transfer->out_of_memory = true;
    return 0;
  }
  return size * n_items;
}

// Configures the easy handle for `request`; false (with response.error set) when libcurl
// cannot even create it.
bool setup(Transfer& transfer) {
  const ClientRequest& request = transfer.request;
  transfer.easy = curl_easy_init();
  if (transfer.easy == nullptr) {
    transfer.response.error = "could not create a transfer (curl_easy_init failed)";
    return false;
  }
  CURL* easy = transfer.easy;
  curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);  // timeouts without SIGALRM: we run in threads
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, transfer.error_buffer);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &on_header);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &transfer);
  auto timeout_ms = static_cast<long>(std::max(1.0, request.timeout_seconds * 1000.0));
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  if (global().share != nullptr) curl_easy_setopt(easy, CURLOPT_SHARE, global().share);

  if (request.method == "GET") {
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
  } else if (request.method == "HEAD") {
    curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
  } else {
    // The body lives in the transfer's own request: no copy.
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request.body.data());
    if (request.method != "POST") curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  // No "Expect: 100-continue" round trip for large bodies; servers answer the body directly.
  transfer.header_list = curl_slist_append(nullptr, "Expect:");
  for (const auto& [name, value] : request.headers) {
    std::string line = name + ": " + value;
    transfer.header_list = curl_slist_append(transfer.header_list, line.c_str());
  }
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, transfer.header_list);
  return true;
}

// Fills the response of a finished transfer from libcurl's result.
void finish(Transfer& transfer, CURLcode result) {
  ClientResponse& response = transfer.response;
  double total_seconds = 0;
  curl_easy_getinfo(transfer.easy, CURLINFO_TOTAL_TIME, &total_seconds);
  response.seconds = total_seconds;
  if (result == CURLE_OK) {
    long status = 0;
    curl_easy_getinfo(transfer.easy, CURLINFO_RESPONSE_CODE, &status);
    response.status = static_cast<int>(status);
    if (response.status > 0) return;
    response.error = "no HTTP status in the response";
  } else if (transfer.out_of_memory) {
    response.error = "out of memory while receiving the response";
  } else {
    // The error buffer names what happened ("Operation timed out after 1000 milliseconds with
    // 12 out of 100 bytes received", "transfer closed with 88 bytes remaining to read"); it never
    // contains request headers, so no key can leak through it.
    response.error = transfer.error_buffer[0] != 0 ? std::string(transfer.error_buffer)
                                                   : std::string(curl_easy_strerror(result));
    if (result == CURLE_OPERATION_TIMEDOUT && !response.error.starts_with("timeout"))
      response.error = "timeout: " + response.error;
  }
  response.status = 0;  // a cut-off body is no response: never hand half a body on as one
  response.body.clear();
  response.headers.clear();
}

// Polls at most this long while the caller's `next` declines, so its time gates are re-asked.
constexpr int kIdlePollMs = 5;

void stream_transfers(const ClientOptions& options, const StreamCallbacks& callbacks) {
  global();
  CURLM* multi = curl_multi_init();
  SP_CHECK_MSG(multi != nullptr, "curl_multi_init failed");
  const size_t max_active = static_cast<size_t>(std::max(1, options.max_concurrency));
  std::vector<std::unique_ptr<Transfer>> active;

  // Starts what the caller offers while there is room; false when the caller declined.
  auto start_offered = [&] {
    while (active.size() < max_active) {
      auto transfer = std::make_unique<Transfer>();
      if (!callbacks.next(transfer->request, transfer->tag)) return;
      if (!setup(*transfer) || curl_multi_add_handle(multi, transfer->easy) != CURLM_OK) {
        if (transfer->response.error.empty()) transfer->response.error = "could not start the transfer";
        callbacks.done(transfer->tag, std::move(transfer->response));
        continue;
      }
      active.push_back(std::move(transfer));
    }
  };
  auto collect_finished = [&] {
    int n_queued = 0;
    while (CURLMsg* message = curl_multi_info_read(multi, &n_queued)) {
      if (message->msg != CURLMSG_DONE) continue;
      auto it = std::find_if(active.begin(), active.end(),
                             [&](const auto& t) { return t->easy == message->easy_handle; });
      if (it == active.end()) continue;
      CURLcode result = message->data.result;  // read before the handle is removed
      curl_multi_remove_handle(multi, (*it)->easy);
      std::unique_ptr<Transfer> transfer = std::move(*it);
      active.erase(it);
      finish(*transfer, result);
      callbacks.done(transfer->tag, std::move(transfer->response));
    }
  };

  while (true) {
    start_offered();
    if (active.empty() && callbacks.finished()) break;
    int n_running = 0;
    curl_multi_perform(multi, &n_running);
    collect_finished();
    if (!active.empty() || !callbacks.finished())
      curl_multi_poll(multi, nullptr, 0, active.size() < max_active ? kIdlePollMs : 1000, nullptr);
  }
  curl_multi_cleanup(multi);
}

}  // namespace

void perform_stream(const ClientOptions& options, const StreamCallbacks& callbacks) {
  stream_transfers(options, callbacks);
}

std::vector<ClientResponse> perform_all(const std::vector<ClientRequest>& requests,
                                        const ClientOptions& options) {
  std::vector<ClientResponse> responses(requests.size());
  size_t next_idx = 0, n_done = 0;
  StreamCallbacks callbacks;
  callbacks.next = [&](ClientRequest& request, uint64_t& tag) {
    if (next_idx == requests.size()) return false;
    tag = next_idx;
    request = requests[next_idx++];
    return true;
  };
  callbacks.done = [&](uint64_t tag, ClientResponse response) {
    responses[tag] = std::move(response);
    ++n_done;
  };
  callbacks.finished = [&] { return n_done == requests.size(); };
  try {
    stream_transfers(options, callbacks);
  } catch (const std::exception& e) {
    // Only allocation can throw here; report it on every request that has no answer yet.
    for (auto& response : responses)
      if (response.status == 0 && response.error.empty())
        response.error = std::string("client failure: ") + e.what();
  }
  return responses;
}

}  // namespace synpref::http
