// Preference-data files from Python: the library's readers (every format, rejects counted and
// optionally listed), canonical / TRL / OpenRLHF writers, and `synpref data convert`.
#include <pybind11/stl.h>

#include "bindings.h"
#include "synpref/common/io.h"
#include "synpref/data/pipeline.h"
#include "synpref/data/reader.h"
#include "synpref/data/stream.h"
#include "synpref/data/writer.h"

namespace synpref::python {

namespace {

std::vector<std::string> paths_from_py(py::handle paths, const char* field) {
  std::vector<std::string> out;
  if (is_path_like(paths)) {
    out.push_back(path_from_py(paths, field));
    return out;
  }
  if (!py::isinstance<py::sequence>(paths))
    throw py::type_error(std::string(field) + ": expected a path or a list of paths");
  for (py::handle path : paths) out.push_back(path_from_py(path, field));
  if (out.empty()) raise(invalid_argument(std::string(field) + ": no input files"));
  return out;
}

py::dict rejects_dict(const std::map<std::string, uint64_t>& by_code) {
  py::dict d;
  for (const auto& [code, n] : by_code) d[py::str(code)] = n;
  return d;
}

// What read_records returns.
struct ReadResult {
  py::list records;
  uint64_t files = 0;
  uint64_t rejected = 0;
  py::dict rejects_by_code;
  std::string rejects_path;
  uint64_t empty_responses_kept = 0;
};

ReadResult read_records(py::handle paths, const std::string& format, py::object rejects_path, bool strict,
                        const std::string& source) {
  data::StreamOptions options;
  options.read.format = unwrap(data::parse_format(format));
  options.read.source = source;
  options.strict = strict;
  if (!rejects_path.is_none()) options.rejects_path = path_from_py(rejects_path, "rejects_path");
  options.progress = false;
  std::vector<std::string> inputs = paths_from_py(paths, "paths");
  std::vector<std::string> lines;  // canonical JSON of each record
  data::StreamCounters counters;
  Status status = [&]() -> Status {
    py::gil_scoped_release release;
    SP_ASSIGN_OR_RETURN(auto stream, data::RecordStream::open(inputs, options));
    data::Record record;
    for (;;) {
      SP_ASSIGN_OR_RETURN(bool more, stream->next(record));
      if (!more) break;
      std::string line;
      data::append_canonical(line, record);
      lines.push_back(std::move(line));
    }
    SP_RETURN_IF_ERROR(stream->close());
    counters = stream->counters();
    return Status::ok();
  }();
  check(status);
  ReadResult result;
  for (const std::string& line : lines) result.records.append(json_loads(line));
  result.files = counters.files;
  result.rejected = counters.rejects;
  result.rejects_by_code = rejects_dict(counters.rejects_by_code);
  result.rejects_path = options.rejects_path;
  result.empty_responses_kept = counters.empty_responses_kept;
  if (result.rejected > 0 && options.rejects_path.empty()) {
    std::string message = "synpref.read_records: " + std::to_string(result.rejected) +
                          " malformed records were rejected (see rejects_by_code); pass rejects_path= to "
                          "list them with file, line and reason";
    if (PyErr_WarnEx(PyExc_UserWarning, message.c_str(), 2) < 0) throw py::error_already_set();
  }
  return result;
}

uint64_t write_records(py::handle path, py::handle records, const std::string& to,
                       const std::string& format) {
  const std::string out_path = path_from_py(path, "path");
  const data::OutputFormat output_format = unwrap(data::parse_output_format(to));
  data::ReadOptions read;
  read.format = unwrap(data::parse_format(format));
  if (py::isinstance<py::str>(records) || py::isinstance<py::dict>(records) ||
      !py::isinstance<py::iterable>(records))
    raise(data_error("records: expected a list of record dicts"));
  std::string text;
  data::Record record;
  uint64_t n = 0;
  for (py::handle obj : records) {
    const std::string where = "records[" + std::to_string(n) + "]";
    if (!py::isinstance<py::dict>(obj)) raise(data_error(where + ": expected a dict"));
    std::string code, reason;
    record.clear();
    if (!data::parse_record_json(json_dumps(obj), read, record, code, reason))
      raise(data_error(where + ": " + code + ": " + reason));
    Status appended = data::append_record(text, record, output_format);
    if (!appended.is_ok()) raise(appended.with_context(where));
    ++n;
  }
  Status status;
  {
    py::gil_scoped_release release;
    status = io::write_text(out_path, text);
  }
  check(status);
  return n;
}

py::dict convert(py::handle inputs, py::handle output, const std::string& to, const std::string& format,
                 py::object rejects_path) {
  data::StreamOptions options;
  options.read.format = unwrap(data::parse_format(format));
  options.progress = false;
  const std::string out_path = path_from_py(output, "output");
  options.rejects_path = rejects_path.is_none() ? data::default_rejects_path(out_path)
                                                : path_from_py(rejects_path, "rejects_path");
  const data::OutputFormat output_format = unwrap(data::parse_output_format(to));
  std::vector<std::string> paths = paths_from_py(inputs, "inputs");
  Result<data::PipelineSummary> summary = invalid_argument("unreachable");
  {
    py::gil_scoped_release release;
    summary = data::convert_files(paths, out_path, options, output_format);
  }
  data::PipelineSummary s = unwrap(std::move(summary));
  py::dict d;
  d["output"] = s.output;
  d["written"] = s.written;
  d["files"] = s.input.files;
  d["records"] = s.input.records;
  d["rejected"] = s.input.rejects;
  d["rejects_by_code"] = rejects_dict(s.input.rejects_by_code);
  d["rejects_path"] = s.rejects_path;
  return d;
}

}  // namespace

void init_data(py::module_& m) {
  py::class_<ReadResult>(m, "ReadResult",
                         "What read_records returns: the records (canonical dicts, in input order) and "
                         "the rejects count by code.")
      .def_readonly("records", &ReadResult::records,
                    "Records as canonical dicts (docs/formats/canonical-jsonl.md): id, kind, context, "
                    "responses, ...")
      .def_readonly("files", &ReadResult::files, "Input files read.")
      .def_readonly("rejected", &ReadResult::rejected, "Malformed records skipped (never silently).")
      .def_readonly("rejects_by_code", &ReadResult::rejects_by_code,
                    "Rejected records by reason code (json, missing_field, role, empty_response, ...).")
      .def_readonly("rejects_path", &ReadResult::rejects_path,
                    "Where rejects were listed ('' when rejects_path was not given).")
      .def_readonly("empty_responses_kept", &ReadResult::empty_responses_kept,
                    "hh-rlhf pairs with an explicit empty final turn that were kept.")
      .def("__len__", [](const ReadResult& r) { return py::len(r.records); })
      .def("__iter__", [](const ReadResult& r) { return r.records.attr("__iter__")(); })
      .def("__repr__", [](const ReadResult& r) {
        return "synpref.ReadResult(records=" + std::to_string(py::len(r.records)) +
               ", rejected=" + std::to_string(r.rejected) + ")";
      });

  m.def("read_records", &read_records, py::arg("paths"), py::kw_only(), py::arg("format") = "auto",
        py::arg("rejects_path") = py::none(), py::arg("strict") = false, py::arg("source") = "",
        "Reads preference records from one path or a list of paths (JSONL or JSON arrays; plain, "
        ".gz, .zst) in any supported format: canonical, chat (chosen/rejected message lists), prompt "
        "(TRL prompt/chosen/rejected), hh (hh-rlhf transcripts), rmb; 'auto' detects each record's. "
        "Malformed records are rejected and counted (listed in rejects_path with file, line, code "
        "and reason when given; otherwise a UserWarning says how many); strict=True raises DataError "
        "at the first one. source sets the records' source when they have none. Returns a "
        "ReadResult.");
  m.def("write_records", &write_records, py::arg("path"), py::arg("records"), py::kw_only(),
        py::arg("to") = "canonical", py::arg("format") = "auto",
        "Writes record dicts (in any format the reader reads, e.g. read_records' canonical dicts or "
        "TRL {'prompt', 'chosen', 'rejected'} dicts) to `path` as canonical JSONL, or as 'trl' / "
        "'openrlhf' pairs ({'prompt', 'chosen', 'rejected'[, 'margin']}); .gz/.zst compress. Every "
        "record is validated first: a bad one raises DataError naming its index and nothing is "
        "written. The file is replaced atomically. Returns the number of records written.");
  m.def("convert", &convert, py::arg("inputs"), py::arg("output"), py::kw_only(), py::arg("to") = "canonical",
        py::arg("format") = "auto", py::arg("rejects_path") = py::none(),
        "`synpref data convert`: reads every input (rejects listed in rejects_path, default "
        "'<output>.rejects.jsonl') and writes `output` in `to` (canonical, trl, openrlhf). Raises "
        "DataError when no record was usable. Returns the counts as a dict.");
}

}  // namespace synpref::python
