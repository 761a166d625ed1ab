// synpref/curate/gold.h: where gold verdicts come from besides `curate gold` files: simulated
// annotators (the demo and tests; a stand-in for the annotation service with known accuracy).
//
// A simulated annotator answers each pair it is given: with probability `cannot_determine` it
// answers "cannot determine" (the pair is discarded, as the report prescribes for pairs humans
// cannot decide); otherwise it gives the true verdict with probability `accuracy` and the wrong
// one else. Draws are a pure function of (seed, annotator, pair id). The gold budget counts pairs
// shown to annotators, discarded ones included (they cost annotator time too).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "synpref/common/status.h"
#include "synpref/curate/project.h"

namespace synpref::curate {

struct SimAnnotator {
  std::string id;                  // recorded as the label's annotator
  double accuracy = 0.95;          // P(true verdict | decided)
  double cannot_determine = 0.05;  // P(cannot determine)
};

struct AnnotationSimOptions {
  std::vector<SimAnnotator> annotators;  // pairs are dealt round-robin (>= 1)
  int64_t budget = 100;                  // pairs shown (>= 0)
  uint64_t seed = 0;
};

struct AnnotationSimSummary {
  int64_t shown = 0, decided = 0, cannot_determine = 0, wrong = 0;  // wrong: against the truth
  std::map<std::string, int64_t> shown_by_annotator;
  std::string path;  // the verdicts, in `curate gold` JSONL format
};

// Shows annotators the first `budget` of `candidates` (pool pair ids) and writes their decided
// verdicts to `path` (one `curate gold` line each: id, verdict, annotator, confidence = the
// annotator's accuracy); import it with import_gold_labels. `truth(id)` is +1 when the pair's
// chosen response is truly better, -1 when the rejected one is. Errors name the option field.
Result<AnnotationSimSummary> simulate_annotators(const std::vector<std::string>& candidates,
                                                 const std::function<int(const std::string& id)>& truth,
                                                 const AnnotationSimOptions& options,
                                                 const std::string& path);

}  // namespace synpref::curate
