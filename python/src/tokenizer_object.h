// synpref.Tokenizer's C++ object, shared by the RewardModel binding (RewardModel.tokenizer).
#pragma once

#include <pybind11/pybind11.h>

#include <optional>
#include <string>

#include "synpref/tokenizer/tokenizer.h"

namespace synpref::python {

namespace py = pybind11;

class PyTokenizer {
 public:
  explicit PyTokenizer(tokenizer::Tokenizer tok) : tok_(std::move(tok)) {}
  // Loads a tokenizer folder with the GIL released; raises the library's error.
  static PyTokenizer load(const std::string& path);

  const tokenizer::Tokenizer& tokenizer() const { return tok_; }

  py::object apply_chat_template(py::handle messages, bool tokenize, bool add_generation_prompt,
                                 py::handle tools, py::handle documents,
                                 const std::optional<std::string>& chat_template,
                                 const std::optional<std::string>& date, py::dict kwargs) const;

 private:
  tokenizer::Tokenizer tok_;  // immutable, shared state: copies are cheap
};

}  // namespace synpref::python
