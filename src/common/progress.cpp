#include "synpref/common/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace synpref {

bool Progress::terminal_wanted() {
  const char* ci = std::getenv("CI");
  if (ci != nullptr && *ci != '\0') return false;
  return isatty(STDERR_FILENO) == 1;
}

Progress::Progress(std::string label, uint64_t total_bytes, bool enabled, std::string unit)
    : label_(std::move(label)),
      total_bytes_(total_bytes),
      unit_(std::move(unit)),
      active_(enabled && terminal_wanted()) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

Progress::~Progress() {
  if (active_) std::fputs("\n", stderr);
}

namespace {
std::string human_rate(double v, const char* unit) {
  char buf[64];
  if (v >= 1e9)
    std::snprintf(buf, sizeof buf, "%.1f G%s", v / 1e9, unit);
  else if (v >= 1e6)
    std::snprintf(buf, sizeof buf, "%.1f M%s", v / 1e6, unit);
  else if (v >= 1e3)
    std::snprintf(buf, sizeof buf, "%.1f k%s", v / 1e3, unit);
  else
    std::snprintf(buf, sizeof buf, "%.0f %s", v, unit);
  return buf;
}
}  // namespace

void Progress::draw(uint64_t bytes_done, uint64_t records_done, bool final) {
  auto now = std::chrono::steady_clock::now();
  if (!final && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  double secs = std::chrono::duration<double>(now - start_).count();
  if (secs <= 0) secs = 1e-9;
  char line[256];
  std::string bar;
  if (total_bytes_ > 0) {
    double frac = std::min(1.0, static_cast<double>(bytes_done) / static_cast<double>(total_bytes_));
    int filled = static_cast<int>(frac * 30);
    bar = "[" + std::string(filled, '=') + std::string(30 - filled, ' ') + "]";
    double eta = frac > 0 ? secs * (1 - frac) / frac : 0;
    if (unit_ != "B") {
      std::snprintf(line, sizeof line, "\r%s %s %3.0f%% %s/s ETA %d:%02d   ", label_.c_str(), bar.c_str(),
                    frac * 100, human_rate(bytes_done / secs, unit_.c_str()).c_str(),
                    static_cast<int>(eta) / 60, static_cast<int>(eta) % 60);
      std::fputs(line, stderr);
      std::fflush(stderr);
      return;
    }
    std::snprintf(line, sizeof line, "\r%s %s %3.0f%% %s/s %s/s ETA %d:%02d   ", label_.c_str(), bar.c_str(),
                  frac * 100, human_rate(bytes_done / secs, "B").c_str(),
                  human_rate(records_done / secs, "rec").c_str(), static_cast<int>(eta) / 60,
                  static_cast<int>(eta) % 60);
  } else {
    std::snprintf(line, sizeof line, "\r%s %s read, %s/s, %llu records   ", label_.c_str(),
                  human_rate(bytes_done, "B").c_str(), human_rate(bytes_done / secs, "B").c_str(),
                  static_cast<unsigned long long>(records_done));
  }
  std::fputs(line, stderr);
  std::fflush(stderr);
}

void Progress::finish(uint64_t bytes_done, uint64_t records_done) {
  if (!active_) return;
  draw(bytes_done, records_done, true);
  std::fputs("\n", stderr);
  active_ = false;
}

namespace {
std::string duration_text(double seconds) {
  char buf[32];
  const int s = static_cast<int>(seconds);
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%dh%02dm", s / 3600, s / 60 % 60);
  else
    std::snprintf(buf, sizeof buf, "%dm%02ds", s / 60, s % 60);
  return buf;
}
}  // namespace

StepProgress::StepProgress(std::string label, uint64_t total_steps, uint64_t first_step, bool enabled)
    : label_(std::move(label)),
      total_(total_steps),
      first_(first_step),
      enabled_(enabled),
      terminal_(enabled && Progress::terminal_wanted()),
      start_(std::chrono::steady_clock::now()) {}

StepProgress::~StepProgress() {
  if (drawn_) std::fputs("\n", stderr);
}

void StepProgress::report(uint64_t step, const std::string& detail) {
  if (!enabled_) return;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double done = static_cast<double>(step - std::min(step, first_));
  const double eta = done > 0 ? secs / done * static_cast<double>(total_ - std::min(total_, step)) : 0;
  const unsigned long long s = step, t = total_;
  if (terminal_) {
    const int width = 24;
    const int filled =
        total_ > 0
            ? static_cast<int>(width * std::min(1.0, static_cast<double>(step) / static_cast<double>(total_)))
            : 0;
    std::fprintf(stderr, "\r%s %6llu/%llu [%s%s] %s ETA %s   ", label_.c_str(), s, t,
                 std::string(static_cast<size_t>(filled), '=').c_str(),
                 std::string(static_cast<size_t>(width - filled), ' ').c_str(), detail.c_str(),
                 duration_text(eta).c_str());
    drawn_ = true;
  } else {
    std::fprintf(stderr, "%s: step %llu/%llu %s ETA %s\n", label_.c_str(), s, t, detail.c_str(),
                 duration_text(eta).c_str());
  }
  std::fflush(stderr);
}

}  // namespace synpref
