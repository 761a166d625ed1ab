// synpref/common/progress.h: a progress bar for long operations.
//
// Drawn on stderr only when stderr is a terminal and the CI variable is unset, so logs in CI and
// pipes stay clean. Shows percent (when the total is known), bytes/s, records/s and ETA; or, for a
// total counted in other units (e.g. "items"), percent, that unit per second and ETA.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace synpref {

class Progress {
 public:
  // total_bytes = 0 when unknown (stdin). enabled = false forces quiet. A unit other than "B" means
  // the total and `bytes_done` count that unit (e.g. items) and the records rate is not shown.
  Progress(std::string label, uint64_t total_bytes, bool enabled = true, std::string unit = "B");
  ~Progress();
  // Cheap to call per record: redraws at most ~10 times a second.
  void update(uint64_t bytes_done, uint64_t records_done) {
    if (!active_ || (++calls_ & 1023) != 0) return;
    draw(bytes_done, records_done, false);
  }
  // For callers that advance in large steps (a scored chunk): checks the clock on every call.
  void tick(uint64_t bytes_done, uint64_t records_done) {
    if (active_) draw(bytes_done, records_done, false);
  }
  void finish(uint64_t bytes_done, uint64_t records_done);
  static bool terminal_wanted();

 private:
  void draw(uint64_t bytes_done, uint64_t records_done, bool final);
  std::string label_;
  uint64_t total_bytes_;
  std::string unit_;
  bool active_;
  uint64_t calls_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// Progress of a loop with a known number of steps (training). On a terminal (terminal_wanted()):
// one line redrawn in place, "<label> <step>/<total> [=====     ] <detail> ETA 1m05s". Elsewhere
// (pipes, CI, nohup, Slurm logs): one plain line per report, so that a log file shows how the run
// goes. Nothing when disabled.
class StepProgress {
 public:
  // first_step: where the run starts (a resumed run's ETA counts only the steps it ran itself).
  StepProgress(std::string label, uint64_t total_steps, uint64_t first_step, bool enabled);
  ~StepProgress();
  StepProgress(const StepProgress&) = delete;
  StepProgress& operator=(const StepProgress&) = delete;
  // `detail`: the loop's own figures, e.g. "loss 0.6931 acc 0.500 lr 2.00e-03".
  void report(uint64_t step, const std::string& detail);

 private:
  std::string label_;
  uint64_t total_, first_;
  bool enabled_, terminal_;
  bool drawn_ = false;  // a terminal line is open (needs a newline at the end)
  std::chrono::steady_clock::time_point start_;
};

}  // namespace synpref
