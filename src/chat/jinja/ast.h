// src/chat/jinja/ast.h: the parsed template (Jinja2's node types, reduced to what chat templates use).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "synpref/chat/value.h"

namespace synpref::chat::detail {

enum class ExprKind : uint8_t {
  constant,  // value
  name,      // symbol
  getattr,   // target.name
  getitem,   // target[args[0]]
  slice,     // args[0..2] = start, stop, step (each may be null); only inside getitem
  call,      // target(args..., kwargs...)
  filter,    // target | name(args..., kwargs...)
  test,      // target is name(args..., kwargs...)
  neg,
  pos,
  not_,
  binary,   // args[0] op args[1]
  concat,   // args joined with ~
  compare,  // args[0] cmp_ops[0] args[1] cmp_ops[1] args[2] ...
  and_,
  or_,
  cond,  // args[1] if args[0] else args[2] (args[2] may be null)
  list,
  tuple,
  dict,  // args = key0, value0, key1, value1, ...
};

enum class BinOp : uint8_t { add, sub, mul, div, floordiv, mod, pow };
enum class CmpOp : uint8_t { eq, ne, lt, lteq, gt, gteq, in, notin };

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Kwarg {
  std::string name;
  ExprPtr value;
};

struct Expr {
  ExprKind kind = ExprKind::constant;
  uint32_t pos = 0;      // byte offset in the normalized source
  Value value;           // constant; for getattr/filter/test: the name as a string Value
  int32_t symbol = -1;   // name
  std::string name;      // name / attribute / filter / test
  int16_t builtin = -1;  // filter or test id (-1: unknown, reported when evaluated)
  BinOp bin_op = BinOp::add;
  std::vector<CmpOp> cmp_ops;
  ExprPtr target;             // operand, callee, object
  std::vector<ExprPtr> args;  // operands, items, positional arguments
  std::vector<Kwarg> kwargs;
  ExprPtr dyn_args;    // f(*x)
  ExprPtr dyn_kwargs;  // f(**x)
};

enum class StmtKind : uint8_t {
  text,    // template data
  output,  // {{ expr }}
  if_,
  for_,
  set,        // {% set target = expr %}
  set_block,  // {% set target | filters %}body{% endset %}
  macro,
  filter_block,  // {% filter f %}body{% endfilter %}
  with,
  break_,
  continue_,
  scope,  // {% generation %}body{% endgeneration %}: body in its own scope
};

struct AssignTarget {
  enum class Kind : uint8_t { name, tuple, ns_attr };
  Kind kind = Kind::name;
  uint32_t pos = 0;
  std::vector<int32_t> symbols;  // name: one; tuple: one per element
  int32_t ns_symbol = -1;        // ns_attr: the namespace variable
  std::string attr;              // ns_attr: the attribute
};

struct FilterCall {
  std::string name;
  int16_t id = -1;
  uint32_t pos = 0;
  std::vector<ExprPtr> args;
  std::vector<Kwarg> kwargs;
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Stmt {
  StmtKind kind = StmtKind::text;
  uint32_t pos = 0;
  std::string text;
  ExprPtr expr;                                    // output, set value, for iterable
  std::vector<std::pair<ExprPtr, Body>> branches;  // if/elif conditions and bodies
  Body body;
  Body else_body;
  AssignTarget target;              // set, set_block, for
  ExprPtr loop_filter;              // {% for x in xs if cond %}
  std::vector<FilterCall> filters;  // set_block, filter_block
  // macro
  std::string macro_name;
  int32_t macro_symbol = -1;
  std::vector<int32_t> params;
  std::vector<std::string> param_names;
  std::vector<ExprPtr> defaults;  // for the last defaults.size() params
  bool uses_varargs = false;
  bool uses_kwargs = false;
  // with
  std::vector<AssignTarget> with_targets;
  std::vector<ExprPtr> with_values;
};

// Names used by a template are interned to dense ids so variable lookup compares integers.
struct Program {
  std::string source;  // normalized (see normalize_source)
  Body body;
  std::vector<std::string> symbols;
  std::unordered_map<std::string, int32_t> symbol_ids;
  int32_t sym_loop = -1, sym_varargs = -1, sym_kwargs = -1;

  int32_t intern(const std::string& name) {
    auto [it, inserted] = symbol_ids.emplace(name, static_cast<int32_t>(symbols.size()));
    if (inserted) symbols.push_back(name);
    return it->second;
  }
  int32_t find_symbol(const std::string& name) const {
    auto it = symbol_ids.find(name);
    return it == symbol_ids.end() ? -1 : it->second;
  }
};

}  // namespace synpref::chat::detail
