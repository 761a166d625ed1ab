// Shared helpers of the synpref Python module (python/src/*.cpp): library errors as Python
// exceptions, JSON text to and from Python objects, and the registration entry points.
//
// GIL rule: every function here needs the GIL. Compute runs inside `py::gil_scoped_release`
// blocks that touch no Python object; their Status is raised after the GIL is taken back.
#pragma once

#include <pybind11/pybind11.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "synpref/common/status.h"
#include "synpref/data/record.h"

namespace synpref::python {

namespace py = pybind11;

// Raises the exception class of `status.code()` (synpref.DataError, ...) with the library's
// message. Precondition: !status.is_ok().
[[noreturn]] void raise(const Status& status);

inline void check(const Status& status) {
  if (!status.is_ok()) raise(status);
}

template <typename T>
T unwrap(Result<T> result) {
  if (!result.is_ok()) raise(result.status());
  return std::move(result).value();
}

// json.dumps(obj, ensure_ascii=False) and json.loads(text): Python's own JSON, so every value a
// user can serialize reaches the library's JSON readers exactly as a JSONL file would.
std::string json_dumps(py::handle obj);
py::object json_loads(std::string_view text);

// A message list [{"role", "content"}, ...] -> turns, validated by the library's reader of the
// same JSON (encode::turns_from_json); errors are prefixed with `where` (e.g. "conversations[3]").
std::vector<data::Turn> turns_from_py(py::handle messages, const std::string& where);
// Turns -> [{"role": ..., "content": ...}].
py::list turns_to_py(const std::vector<data::Turn>& turns);

// A str or os.PathLike -> its path text; anything else is a TypeError naming `field`.
std::string path_from_py(py::handle path, const char* field);
bool is_path_like(py::handle obj);

void init_errors(py::module_& m);
void init_tokenizer(py::module_& m);
void init_reward_model(py::module_& m);
void init_data(py::module_& m);
void init_eval(py::module_& m);

}  // namespace synpref::python
