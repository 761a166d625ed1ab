// The synpref Python module: `import synpref` (the package python/synpref re-exports this
// extension, synpref._synpref). One file per area: tokenizer.cpp, reward_model.cpp, data.cpp,
// eval.cpp; this file holds the exception classes and the helpers they share (bindings.h).
#include <pybind11/pybind11.h>

#include "bindings.h"
#include "synpref/common/status_name.h"
#include "synpref/encode/rm_input.h"

namespace synpref::python {

namespace {

// The exception classes, created once at import (the module is never unloaded).
struct ErrorClasses {
  PyObject* base = nullptr;
  PyObject* invalid_argument = nullptr;
  PyObject* not_found = nullptr;
  PyObject* io = nullptr;
  PyObject* data = nullptr;
  PyObject* unsupported = nullptr;
};
ErrorClasses g_errors;

PyObject* new_error(py::module_& m, const char* name, const char* doc, py::tuple bases) {
  const std::string qualified = std::string("synpref.") + name;
  PyObject* cls = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases.ptr(), nullptr);
  if (!cls) throw py::error_already_set();
  m.add_object(name, py::handle(cls));
  return cls;
}

}  // namespace

void raise(const Status& status) {
  PyObject* cls = g_errors.base;
  switch (status.code()) {
    case StatusCode::invalid_argument:
      cls = g_errors.invalid_argument;
      break;
    case StatusCode::not_found:
      cls = g_errors.not_found;
      break;
    case StatusCode::io_error:
      cls = g_errors.io;
      break;
    case StatusCode::data_error:
      cls = g_errors.data;
      break;
    case StatusCode::unsupported:
      cls = g_errors.unsupported;
      break;
    default:
      break;
  }
  py::object error = py::reinterpret_borrow<py::object>(cls)(status.message());
  error.attr("code") = status_code_name(status.code());
  PyErr_SetObject(cls, error.ptr());
  throw py::error_already_set();
}

void init_errors(py::module_& m) {
  py::object runtime_error = py::reinterpret_borrow<py::object>(PyExc_RuntimeError);
  py::object value_error = py::reinterpret_borrow<py::object>(PyExc_ValueError);
  py::object lookup_error = py::reinterpret_borrow<py::object>(PyExc_LookupError);
  py::object not_implemented = py::reinterpret_borrow<py::object>(PyExc_NotImplementedError);
  g_errors.base = new_error(m, "Error",
                            "Base class of every error the synpref library reports. The message is the "
                            "library's (it names the file, line or field at fault); `code` is the "
                            "library's status code as a string (e.g. 'data_error').",
                            py::make_tuple(runtime_error));
  py::object base = py::reinterpret_borrow<py::object>(g_errors.base);
  g_errors.invalid_argument =
      new_error(m, "InvalidArgumentError", "A bad option value (e.g. truncation='x', threads=-1).",
                py::make_tuple(base, value_error));
  g_errors.data = new_error(m, "DataError",
                            "Malformed input: bad JSON, bad messages, a bad record, a conversation over "
                            "max_length, a tokenizer or weights file with bad content.",
                            py::make_tuple(base, value_error));
  g_errors.not_found =
      new_error(m, "NotFoundError", "A missing file, folder, field or tensor (e.g. a wrong model path).",
                py::make_tuple(base, lookup_error));
  g_errors.io = new_error(m, "IoError", "A read or write failed (permissions, full disk, truncated stream).",
                          py::make_tuple(base));
  g_errors.unsupported =
      new_error(m, "UnsupportedError", "Valid input using a feature synpref does not implement.",
                py::make_tuple(base, not_implemented));
}

std::string json_dumps(py::handle obj) {
  static py::handle dumps = py::object(py::module_::import("json").attr("dumps")).release();
  return dumps(obj, py::arg("ensure_ascii") = false).cast<std::string>();
}

py::object json_loads(std::string_view text) {
  static py::handle loads = py::object(py::module_::import("json").attr("loads")).release();
  return loads(py::str(text.data(), text.size()));
}

std::vector<data::Turn> turns_from_py(py::handle messages, const std::string& where) {
  if (py::isinstance<py::str>(messages) || !py::isinstance<py::sequence>(messages)) {
    raise(data_error(where + ": expected a list of messages [{\"role\": ..., \"content\": ...}], got " +
                     std::string(py::str(messages.get_type().attr("__name__")))));
  }
  auto turns = encode::turns_from_json(json_dumps(messages));
  if (!turns.is_ok()) raise(turns.status().with_context(where));
  return std::move(turns).value();
}

py::list turns_to_py(const std::vector<data::Turn>& turns) {
  py::list out;
  for (const auto& turn : turns) {
    py::dict message;
    message["role"] = std::string(data::role_name(turn.role));
    message["content"] = turn.content;
    out.append(message);
  }
  return out;
}

bool is_path_like(py::handle obj) {
  static py::handle path_like = py::object(py::module_::import("os").attr("PathLike")).release();
  return py::isinstance<py::str>(obj) || py::isinstance(obj, path_like);
}

std::string path_from_py(py::handle path, const char* field) {
  if (!is_path_like(path)) {
    throw py::type_error(std::string(field) + ": expected a str or os.PathLike path, got " +
                         std::string(py::str(path.get_type().attr("__name__"))));
  }
  static py::handle fspath = py::object(py::module_::import("os").attr("fspath")).release();
  return fspath(path).cast<std::string>();
}

}  // namespace synpref::python

PYBIND11_MODULE(_synpref, m) {
  using namespace synpref::python;
  m.doc() =
      "synpref's engine from Python: reward-model scoring (RewardModel), tokenizers and chat "
      "templates (Tokenizer), preference-data files (read_records, write_records, convert) and the "
      "benchmark registry with official rules (load_benchmark, eval). Results are the CLI's, bit for "
      "bit; the GIL is released while the engine computes.";
  init_errors(m);
  init_tokenizer(m);
  init_reward_model(m);
  init_data(m);
  init_eval(m);
}
