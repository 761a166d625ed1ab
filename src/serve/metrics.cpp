// Prometheus text rendering of the reward server's metrics (see metrics.h).
#include "serve/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace synpref::serve {

namespace {

// The shortest text that reads back as `v` ("0.1", not "0.10000000000000001"): bucket labels are
// matched as strings by dashboards.
std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  char buf[64];
  const auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  return std::string(buf, end);
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void sample(std::string& out, const std::string& name, const std::string& labels, double value) {
  out += name;
  if (!labels.empty()) out += "{" + labels + "}";
  out += ' ';
  out += number(value);
  out += '\n';
}

const std::vector<double> kSecondsBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                            0.5,   1,      2.5,   5,    10,    30,   60,  120};
constexpr auto kRecentWindow = std::chrono::seconds(10);

}  // namespace

void Histogram::observe(double value) {
  for (size_t i = 0; i < bounds_.size(); ++i)
    if (value <= bounds_[i]) ++counts_[i];
  ++count_;
  sum_ += value;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  const std::string sep = labels.empty() ? "" : labels + ",";
  for (size_t i = 0; i < bounds_.size(); ++i)
    sample(out, name + "_bucket", sep + "le=\"" + number(bounds_[i]) + "\"", double(counts_[i]));
  sample(out, name + "_bucket", sep + "le=\"+Inf\"", double(count_));
  sample(out, name + "_sum", labels, sum_);
  sample(out, name + "_count", labels, double(count_));
}

Metrics::Metrics()
    : queue_wait_seconds_(kSecondsBounds),
      batch_sequences_({1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}),
      batch_tokens_({64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536}),
      batch_requests_({1, 2, 4, 8, 16, 32, 64, 128}) {}

void Metrics::on_request(const std::string& endpoint, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{endpoint, status}];
  request_seconds_.try_emplace(endpoint, kSecondsBounds).first->second.observe(seconds);
  ++totals_.requests;
  totals_.rejected_full += status == 429;
  totals_.timed_out += status == 504;
}

void Metrics::on_queue_wait(double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  queue_wait_seconds_.observe(seconds);
}

void Metrics::on_batch(const BatchReport& report) {
  std::lock_guard<std::mutex> lock(mu_);
  batch_sequences_.observe(double(report.sequences));
  batch_tokens_.observe(double(report.tokens));
  batch_requests_.observe(double(report.requests));
  ++totals_.batches;
  totals_.sequences += report.sequences;
  totals_.tokens += report.tokens;
  totals_.max_batch_requests = std::max(totals_.max_batch_requests, report.requests);
  engine_seconds_ += report.seconds;
  recent_.emplace_back(Clock::now(), report.tokens);
}

double Metrics::recent_tokens_per_second() const {
  const auto now = Clock::now();
  while (!recent_.empty() && now - recent_.front().first > kRecentWindow) recent_.pop_front();
  uint64_t tokens = 0;
  for (const auto& [at, n] : recent_) tokens += n;
  return double(tokens) / std::chrono::duration<double>(kRecentWindow).count();
}

double Metrics::tokens_per_second() const {
  std::lock_guard<std::mutex> lock(mu_);
  return recent_tokens_per_second();
}

Metrics::Totals Metrics::totals() const {
  std::lock_guard<std::mutex> lock(mu_);
  return totals_;
}

std::string Metrics::render(uint64_t queue_sequences, uint64_t queue_tokens) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  header(out, "synpref_serve_queue_sequences", "gauge", "Sequences queued or being scored.");
  sample(out, "synpref_serve_queue_sequences", "", double(queue_sequences));
  header(out, "synpref_serve_queue_tokens", "gauge", "Tokens queued or being scored.");
  sample(out, "synpref_serve_queue_tokens", "", double(queue_tokens));
  header(out, "synpref_serve_requests_total", "counter", "Requests answered, by endpoint and HTTP status.");
  for (const auto& [key, n] : requests_)
    sample(out, "synpref_serve_requests_total",
           "endpoint=\"" + key.first + "\",code=\"" + std::to_string(key.second) + "\"", double(n));
  header(out, "synpref_serve_request_duration_seconds", "histogram",
         "Wall time from request to response, by endpoint.");
  for (const auto& [endpoint, h] : request_seconds_)
    h.render(out, "synpref_serve_request_duration_seconds", "endpoint=\"" + endpoint + "\"");
  header(out, "synpref_serve_queue_wait_seconds", "histogram",
         "Time from admission to the end of a request's last batch.");
  queue_wait_seconds_.render(out, "synpref_serve_queue_wait_seconds", "");
  header(out, "synpref_serve_batch_sequences", "histogram", "Sequences per engine call.");
  batch_sequences_.render(out, "synpref_serve_batch_sequences", "");
  header(out, "synpref_serve_batch_tokens", "histogram", "Tokens per engine call (shared prefixes once).");
  batch_tokens_.render(out, "synpref_serve_batch_tokens", "");
  header(out, "synpref_serve_batch_requests", "histogram", "Requests whose sequences shared an engine call.");
  batch_requests_.render(out, "synpref_serve_batch_requests", "");
  header(out, "synpref_serve_batches_total", "counter", "Engine calls.");
  sample(out, "synpref_serve_batches_total", "", double(totals_.batches));
  header(out, "synpref_serve_sequences_total", "counter", "Sequences scored.");
  sample(out, "synpref_serve_sequences_total", "", double(totals_.sequences));
  header(out, "synpref_serve_tokens_total", "counter", "Tokens forwarded by the engine.");
  sample(out, "synpref_serve_tokens_total", "", double(totals_.tokens));
  header(out, "synpref_serve_engine_seconds_total", "counter", "Wall time inside the engine.");
  sample(out, "synpref_serve_engine_seconds_total", "", engine_seconds_);
  header(out, "synpref_serve_tokens_per_second", "gauge", "Tokens forwarded per second over the last 10 s.");
  sample(out, "synpref_serve_tokens_per_second", "", recent_tokens_per_second());
  return out;
}

}  // namespace synpref::serve
