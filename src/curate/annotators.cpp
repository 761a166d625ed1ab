// src/curate/annotators.cpp: simulated annotators (gold.h).
#include <nlohmann/json.hpp>

#include "synpref/common/hash.h"
#include "synpref/common/io.h"
#include "synpref/curate/gold.h"

namespace synpref::curate {

namespace {

// A uniform draw in [0, 1) from (seed, annotator, pair id, what).
double draw(uint64_t seed, const std::string& annotator, const std::string& id, const char* what) {
  Hasher h(seed);
  h.add_field(annotator);
  h.add_field(id);
  h.add_field(what);
  return static_cast<double>(h.digest().lo >> 11) * 0x1.0p-53;
}

}  // namespace

Result<AnnotationSimSummary> simulate_annotators(const std::vector<std::string>& candidates,
                                                 const std::function<int(const std::string& id)>& truth,
                                                 const AnnotationSimOptions& options,
                                                 const std::string& path) {
  if (options.annotators.empty()) return invalid_argument("annotators must not be empty");
  if (options.budget < 0) return invalid_argument("budget must be >= 0");
  for (size_t i = 0; i < options.annotators.size(); ++i) {
    const SimAnnotator& a = options.annotators[i];
    const std::string field = "annotators[" + std::to_string(i) + "]";
    if (a.id.empty()) return invalid_argument(field + ".id is required");
    if (!(a.accuracy >= 0 && a.accuracy <= 1)) return invalid_argument(field + ".accuracy must be in [0, 1]");
    if (!(a.cannot_determine >= 0 && a.cannot_determine <= 1))
      return invalid_argument(field + ".cannot_determine must be in [0, 1]");
  }
  AnnotationSimSummary summary;
  summary.path = path;
  SP_ASSIGN_OR_RETURN(auto writer, io::Writer::open(path));
  for (const std::string& id : candidates) {
    if (summary.shown >= options.budget) break;
    const SimAnnotator& a =
        options.annotators[static_cast<size_t>(summary.shown) % options.annotators.size()];
    ++summary.shown;
    ++summary.shown_by_annotator[a.id];
    if (draw(options.seed, a.id, id, "cannot_determine") < a.cannot_determine) {
      ++summary.cannot_determine;
      continue;
    }
    const int true_verdict = truth(id);
    if (true_verdict != 1 && true_verdict != -1)
      return invalid_argument("truth of pair " + id + " must be +1 or -1, got " +
                              std::to_string(true_verdict));
    const bool right = draw(options.seed, a.id, id, "accuracy") < a.accuracy;
    const int verdict = right ? true_verdict : -true_verdict;
    summary.wrong += !right;
    ++summary.decided;
    nlohmann::json line = {{"id", id}, {"verdict", verdict}, {"annotator", a.id}, {"confidence", a.accuracy}};
    writer->append(line.dump() + "\n");
  }
  SP_RETURN_IF_ERROR(writer->close());
  return summary;
}

}  // namespace synpref::curate
