// src/chat/jinja/parser.h: tokens -> Program, following jinja2.parser.Parser's grammar and precedence.
#pragma once

#include <memory>
#include <string>

#include "chat/jinja/ast.h"
#include "synpref/common/status.h"

namespace synpref::chat::detail {

// Parses a template source (raw, as given by the user). Errors name line and column; statements
// this interpreter does not implement (extends, include, import, call blocks, recursive loops...)
// are "unsupported template construct" errors.
Result<std::shared_ptr<Program>> parse_template(std::string source);

// Formats "<what> at line L, column C: <message>" for a position in `program.source`.
std::string positioned(const std::string& source, uint32_t pos, const char* what, const std::string& message);

}  // namespace synpref::chat::detail
