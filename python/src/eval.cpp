// The benchmark registry from Python: loaders (each benchmark's released format), and the
// official scoring rules with bootstrap intervals and the JSON report `synpref eval --out` writes.
#include <pybind11/stl.h>

#include <cmath>
#include <filesystem>
#include <memory>

#include "bindings.h"
#include "reward_model.h"
#include "synpref/eval/benchmark.h"
#include "synpref/eval/report.h"
#include "synpref/eval/scores.h"
#include "synpref/eval/scoring.h"

namespace synpref::python {

namespace {

struct PyBenchmark {
  std::shared_ptr<const eval::Dataset> dataset;
  std::string path;
  py::object items_cache;  // the items as dicts, built on first use
};

struct PyEvaluation {
  eval::Evaluation evaluation;
  std::vector<std::string> missing;
  std::string report;
};

py::dict item_dict(const eval::Item& item) {
  py::dict d;
  d["id"] = item.id;
  d["subset"] = item.subset;
  py::dict tags;
  for (const auto& [name, value] : item.tags) tags[py::str(name)] = value;
  d["tags"] = tags;
  d["context"] = turns_to_py(item.context);
  d["responses"] = py::cast(item.responses);
  d["n_chosen"] = item.n_chosen;
  d["label"] = item.label;
  py::list correct;
  for (uint8_t c : item.correct) correct.append(py::bool_(c != 0));
  d["correct"] = correct;
  return d;
}

PyBenchmark load(const std::string& name, py::handle data, bool llmbar) {
  PyBenchmark bench;
  bench.path = path_from_py(data, "data");
  eval::LoadOptions options;
  options.llmbar = llmbar;
  Result<eval::Dataset> dataset = invalid_argument("unreachable");
  {
    py::gil_scoped_release release;
    dataset = eval::load_benchmark(name, bench.path, options);
  }
  bench.dataset = std::make_shared<const eval::Dataset>(unwrap(std::move(dataset)));
  return bench;
}

// Scores given as {id: [scores]} or as a list aligned with the items -> the table
// match_scores validates (ids in the dataset, one score per response, finite values).
eval::ScoreTable table_from_py(const eval::Dataset& dataset, py::handle scores) {
  eval::ScoreTable table;
  table.path = "scores";
  auto add = [&](std::string id, py::handle values, const std::string& where) {
    if (py::isinstance<py::str>(values) || !py::isinstance<py::sequence>(values))
      raise(data_error(where + ": expected a list of scores, one per response"));
    std::vector<double> row;
    for (py::handle v : values) {
      try {
        row.push_back(v.cast<double>());
      } catch (const py::cast_error&) {
        raise(data_error(where + ": a score is not a number"));
      }
    }
    table.index.emplace(id, table.ids.size());
    table.ids.push_back(std::move(id));
    table.scores.push_back(std::move(row));
  };
  if (py::isinstance<py::dict>(scores)) {
    for (auto [key, values] : py::reinterpret_borrow<py::dict>(scores)) {
      std::string id = py::str(key);
      add(id, values, "scores[" + std::string(py::repr(key)) + "]");
    }
    return table;
  }
  if (!py::isinstance<py::sequence>(scores) && !py::hasattr(scores, "__len__"))
    throw py::type_error(
        "scores: expected a path, a dict {id: [scores]}, a list aligned with the items, or a RewardModel");
  const size_t n = py::len(scores);
  if (n != dataset.items.size()) {
    raise(invalid_argument("scores: " + std::to_string(n) + " rows but the benchmark has " +
                           std::to_string(dataset.items.size()) +
                           " items; give one row per item in load order, or a dict {id: [scores]}"));
  }
  py::sequence rows = py::reinterpret_borrow<py::sequence>(scores);
  for (size_t i = 0; i < n; ++i) add(dataset.items[i].id, rows[i], "scores[" + std::to_string(i) + "]");
  return table;
}

eval::ItemScores scores_from_model(PyRewardModel& model, const eval::Dataset& dataset) {
  std::vector<score::Item> items;
  items.reserve(dataset.items.size());
  for (const eval::Item& item : dataset.items) items.push_back({item.id, item.context, item.responses});
  score::ItemResults results = model.score_items(items);
  return eval::item_scores_from_engine(results.scores, int64_t(model.scorer().options().input.max_length),
                                       int64_t(results.stats.truncated));
}

PyEvaluation run_eval(py::handle benchmark, py::handle data, py::handle scores, bool allow_missing,
                      uint32_t bootstrap, uint64_t seed, double confidence, bool llmbar,
                      std::optional<std::string> model_name) {
  PyBenchmark loaded;
  const PyBenchmark* bench = nullptr;
  if (py::isinstance<PyBenchmark>(benchmark)) {
    if (!data.is_none())
      raise(invalid_argument("data: give data only with a benchmark name, not a loaded Benchmark"));
    bench = &benchmark.cast<const PyBenchmark&>();
  } else {
    if (!py::isinstance<py::str>(benchmark))
      throw py::type_error("benchmark: expected a benchmark name or a Benchmark from load_benchmark");
    if (data.is_none()) raise(invalid_argument("data is required (the benchmark's released file or folder)"));
    loaded = load(benchmark.cast<std::string>(), data, llmbar);
    bench = &loaded;
  }
  const eval::Dataset& dataset = *bench->dataset;
  if (scores.is_none())
    raise(invalid_argument("scores is required: a path, a dict, a list or a RewardModel"));

  eval::ScoreSource source;
  eval::ItemScores item_scores;
  if (py::isinstance<PyRewardModel>(scores)) {
    PyRewardModel& model = scores.cast<PyRewardModel&>();
    item_scores = scores_from_model(model, dataset);
    const auto& options = model.scorer().options();
    source.model_dir = options.model_dir;
    source.truncation = options.input.truncation;
    source.date = options.input.date;
    source.model = std::filesystem::path(options.model_dir).lexically_normal().filename().string();
    if (source.model.empty())
      source.model =
          std::filesystem::path(options.model_dir).lexically_normal().parent_path().filename().string();
  } else if (is_path_like(scores)) {
    source.scores_path = path_from_py(scores, "scores");
    Status status = [&]() -> Status {
      py::gil_scoped_release release;
      SP_ASSIGN_OR_RETURN(eval::ScoreTable table, eval::read_scores(source.scores_path));
      SP_ASSIGN_OR_RETURN(item_scores, eval::match_scores(dataset, table));
      SP_ASSIGN_OR_RETURN(eval::FileHashes hashes, eval::hash_file(source.scores_path));
      source.scores_sha256 = hashes.sha256;
      source.scores_xxh3_128 = hashes.xxh3_128;
      return Status::ok();
    }();
    check(status);
    const std::string stem = std::filesystem::path(source.scores_path).filename().string();
    source.model = stem.substr(0, stem.find('.'));
  } else {
    eval::ScoreTable table = table_from_py(dataset, scores);
    item_scores = unwrap(eval::match_scores(dataset, table));
    source.model = "python";
  }
  if (model_name) source.model = *model_name;

  PyEvaluation result;
  for (size_t i : item_scores.missing) result.missing.push_back(dataset.items[i].id);
  if (!item_scores.missing.empty() && !allow_missing) {
    std::string ids;
    for (size_t k = 0; k < result.missing.size() && k < 5; ++k) ids += (k ? ", " : "") + result.missing[k];
    const std::string why = item_scores.n_skipped > 0 ? " (skipped over max_length)" : "";
    raise(data_error(std::to_string(result.missing.size()) + " of " + std::to_string(dataset.items.size()) +
                     " items have no scores" + why + " (first: " + ids +
                     "); official numbers need every item. Pass allow_missing=True to score the rest (the "
                     "evaluation is then marked partial)"));
  }
  eval::BootstrapOptions options{bootstrap, seed, confidence};
  Result<eval::Evaluation> evaluation = invalid_argument("unreachable");
  {
    py::gil_scoped_release release;
    evaluation = eval::evaluate(dataset, item_scores, options);
    if (evaluation.is_ok()) {
      eval::ReportInputs inputs{&dataset, &item_scores, &*evaluation, source, options, bench->path};
      result.report = eval::report_json(inputs);
    }
  }
  result.evaluation = unwrap(std::move(evaluation));
  return result;
}

}  // namespace

void init_eval(py::module_& m) {
  py::class_<eval::Metric>(m, "Metric", "One metric of an evaluation, with its bootstrap interval.")
      .def_readonly("name", &eval::Metric::name, "e.g. 'score', 'subset/mmlu-pro', 'section/Chat'")
      .def_readonly("value", &eval::Metric::value, "In [0, 1] for accuracies.")
      .def_readonly("ci_low", &eval::Metric::ci_low, "Lower end of the bootstrap interval.")
      .def_readonly("ci_high", &eval::Metric::ci_high, "Upper end of the bootstrap interval.")
      .def_readonly("n", &eval::Metric::n, "Items (or pairs, prompts) behind the value.")
      .def("__repr__", [](const eval::Metric& metric) {
        return "synpref.Metric(" + std::string(py::repr(py::str(metric.name))) +
               ", value=" + std::string(py::repr(py::float_(metric.value))) +
               ", n=" + std::string(py::repr(py::float_(metric.n))) + ")";
      });

  py::class_<PyBenchmark>(m, "Benchmark",
                          "A benchmark loaded from its released files (load_benchmark): items in load "
                          "order, each with its context and responses in the documented order.")
      .def_property_readonly(
          "name", [](const PyBenchmark& b) { return b.dataset->benchmark; }, "The registered name.")
      .def_property_readonly(
          "path", [](const PyBenchmark& b) { return b.path; }, "The file or folder it was loaded from.")
      .def_property_readonly(
          "items",
          [](PyBenchmark& b) {
            if (!b.items_cache) {
              py::list items;
              for (const auto& item : b.dataset->items) items.append(item_dict(item));
              b.items_cache = items;
            }
            return b.items_cache;
          },
          "Items as dicts: id, subset, tags, context (messages), responses, n_chosen, label, correct. "
          "The scores of an item follow its responses' order.")
      .def_property_readonly(
          "ids",
          [](const PyBenchmark& b) {
            std::vector<std::string> ids;
            for (const auto& item : b.dataset->items) ids.push_back(item.id);
            return ids;
          },
          "Item ids in load order.")
      .def_property_readonly(
          "files",
          [](const PyBenchmark& b) {
            py::list files;
            for (const auto& f : b.dataset->files) {
              py::dict d;
              d["path"] = f.path;
              d["bytes"] = f.bytes;
              d["sha256"] = f.sha256;
              d["xxh3_128"] = f.xxh3_128;
              d["n_items"] = f.n_items;
              files.append(d);
            }
            return files;
          },
          "The data files read, with their hashes.")
      .def_property_readonly(
          "n_excluded", [](const PyBenchmark& b) { return b.dataset->n_excluded; },
          "Records read but not turned into items (see excluded_reason).")
      .def_property_readonly(
          "excluded_reason", [](const PyBenchmark& b) { return b.dataset->excluded_reason; },
          "Why records were excluded ('' when none).")
      .def("__len__", [](const PyBenchmark& b) { return b.dataset->items.size(); })
      .def("__repr__", [](const PyBenchmark& b) {
        return "synpref.Benchmark('" + b.dataset->benchmark +
               "', items=" + std::to_string(b.dataset->items.size()) + ")";
      });

  py::class_<PyEvaluation>(m, "Evaluation",
                           "The result of eval(): the benchmark's official metrics with bootstrap "
                           "intervals, and the JSON report `synpref eval --out` writes.")
      .def_property_readonly(
          "benchmark", [](const PyEvaluation& e) { return e.evaluation.benchmark; }, "The registered name.")
      .def_property_readonly(
          "headline", [](const PyEvaluation& e) { return e.evaluation.headline; },
          "Name of the Table-1 metric.")
      .def_property_readonly(
          "score",
          [](const PyEvaluation& e) {
            const eval::Metric* metric = eval::find_metric(e.evaluation, e.evaluation.headline);
            return metric ? metric->value : std::nan("");
          },
          "The headline metric's value.")
      .def_property_readonly(
          "metrics",
          [](const PyEvaluation& e) {
            py::dict d;
            for (const auto& metric : e.evaluation.metrics) d[py::str(metric.name)] = metric;
            return d;
          },
          "Every metric by name (Metric objects), the headline included.")
      .def_property_readonly(
          "curves",
          [](const PyEvaluation& e) {
            py::dict d;
            for (const auto& curve : e.evaluation.curves) d[py::str(curve.name)] = py::cast(curve.values);
            return d;
          },
          "Curves by name (e.g. best_of_k), values[k-1] for K = k.")
      .def_property_readonly(
          "tie_policy", [](const PyEvaluation& e) { return e.evaluation.tie_policy; },
          "How the official rule treats equal scores.")
      .def_property_readonly(
          "notes", [](const PyEvaluation& e) { return e.evaluation.notes; },
          "Notes (sections without data, excluded records).")
      .def_property_readonly(
          "partial", [](const PyEvaluation& e) { return e.evaluation.partial; },
          "True when items are missing or a part of the official total has no data.")
      .def_property_readonly(
          "n_items", [](const PyEvaluation& e) { return e.evaluation.n_items; }, "Items scored.")
      .def_property_readonly(
          "missing", [](const PyEvaluation& e) { return e.missing; },
          "Ids of items without scores (allow_missing=True).")
      .def_property_readonly(
          "report", [](const PyEvaluation& e) { return e.report; },
          "The JSON report (docs/EVAL.md, format version 1), as `synpref eval --out` writes it.")
      .def("__repr__", [](const PyEvaluation& e) {
        const eval::Metric* metric = eval::find_metric(e.evaluation, e.evaluation.headline);
        return "synpref.Evaluation('" + e.evaluation.benchmark + "', " + e.evaluation.headline + "=" +
               std::string(py::repr(py::float_(metric ? metric->value : std::nan("")))) +
               ", n_items=" + std::to_string(e.evaluation.n_items) + ")";
      });

  m.def(
      "benchmarks",
      []() {
        std::vector<std::string> names;
        for (const auto& info : eval::all_benchmarks()) names.emplace_back(info.name);
        return names;
      },
      "The registered benchmark names, in Table-1 order.");
  m.def(
      "load_benchmark",
      [](const std::string& name, py::handle data, bool llmbar) { return load(name, data, llmbar); },
      py::arg("benchmark"), py::arg("data"), py::kw_only(), py::arg("llmbar") = false,
      "Loads a benchmark's released file or folder (walked recursively) with its own loader. "
      "llmbar=True (rewardbench): data is an LLMBar Dataset folder. Errors name the file, record "
      "and field; an unknown name raises InvalidArgumentError listing the registered ones.");
  m.def("eval", &run_eval, py::arg("benchmark"), py::arg("data") = py::none(), py::arg("scores") = py::none(),
        py::kw_only(), py::arg("allow_missing") = false, py::arg("bootstrap") = 1000, py::arg("seed") = 1234,
        py::arg("confidence") = 0.95, py::arg("llmbar") = false, py::arg("model_name") = py::none(),
        "Evaluates scores on a benchmark with its official rule (`synpref eval`). benchmark: a "
        "registered name (then data is its released file or folder) or a Benchmark. scores: a scores "
        "file path (JSON lines {'id', 'scores'}), a dict {id: [scores]}, a list of score rows aligned "
        "with the items, or a RewardModel (the engine scores every item, as `synpref eval --model`). "
        "Each row follows the item's response order. Every item needs scores unless "
        "allow_missing=True (then the evaluation is partial). bootstrap: replicates for the "
        "intervals (0 = none); seed, confidence: the bootstrap's. Returns an Evaluation.");
}

}  // namespace synpref::python
