// src/chat/jinja/interp.h: the tree-walking evaluator (interp.cpp: statements and expressions;
// filters.cpp, tests.cpp, methods.cpp: the builtins; format.cpp: Python str/repr/json, % and format).
//
// Semantics follow CPython + Jinja2 as transformers runs them: Python truthiness, equality and
// ordering, Jinja2's Undefined (printable and falsy, an error on most other uses), the sandbox's
// getattr/getitem fallbacks, per-iteration loop scopes, macros closing over their defining scope.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/jinja/ast.h"
#include "chat/jinja/value_internal.h"
#include "synpref/chat/template.h"
#include "synpref/common/status.h"

namespace synpref::chat::detail {

// A variable scope: the template's top level, one iteration of a for loop, a macro call, a with or
// filter block. Frames are shared because a macro keeps the frame it was defined in.
struct Frame {
  std::vector<std::pair<int32_t, Value>> vars;
  std::shared_ptr<Frame> parent;

  Value* find_local(int32_t symbol) {
    for (auto& [s, v] : vars)
      if (s == symbol) return &v;
    return nullptr;
  }
  void set(int32_t symbol, Value v) {
    if (Value* slot = find_local(symbol))
      *slot = std::move(v);
    else
      vars.emplace_back(symbol, std::move(v));
  }
};

using FramePtr = std::shared_ptr<Frame>;

struct CallArgs {
  std::vector<Value> args;
  std::vector<std::pair<std::string, Value>> kwargs;
};

enum class Flow : uint8_t { normal, break_loop, continue_loop };

// Python type names, as error messages print them.
const char* type_name(const Value& v);
bool truthy(const Value& v);
// Python ==, and hashable-key equality (same thing for the kinds we have).
bool py_equal(const Value& a, const Value& b);
bool is_hashable(const Value& v);

class Interp {
 public:
  Interp(const Program& program, const RenderOptions& options);
  ~Interp();
  Interp(const Interp&) = delete;
  Interp& operator=(const Interp&) = delete;

  Result<std::string> render(const Value& context);

  // --- used by the builtins (filters.cpp, tests.cpp, methods.cpp, format.cpp) ---
  Status eval(const Expr& e, const FramePtr& frame, Value& out);
  Status error(uint32_t pos, const std::string& message) const;              // a Jinja2 runtime error
  Status unsupported_error(uint32_t pos, const std::string& message) const;  // not implemented here
  Status undefined_error(uint32_t pos, const Value& undefined) const;
  Status limit_error(uint32_t pos, const std::string& message) const;
  // One unit of work (a statement or expression node): false when RenderLimits::max_steps or
  // max_alloc_bytes is exceeded (step_limit_error says which).
  bool take_step() {
    return ++steps_ <= options_.limits.max_steps && alloc_.used <= options_.limits.max_alloc_bytes;
  }
  Status step_limit_error(uint32_t pos) const;
  // Work a single node does in a loop of its own (a linear scan): counted as that many steps, so
  // `x in big_list` in a long loop is bounded by max_steps too.
  void charge_work(uint64_t units) { steps_ += units; }

  // Python str(v) / repr(v) appended to out (errors for objects Python prints by address).
  Status append_str(std::string& out, const Value& v, uint32_t pos) const;
  Status append_repr(std::string& out, const Value& v, uint32_t pos) const;
  Result<Value> to_str_value(const Value& v, uint32_t pos) const;  // str(v) as a Value (no copy for str)
  // json.dumps(v, ensure_ascii, indent, separators, sort_keys) appended to out.
  struct JsonOptions {
    bool ensure_ascii = false;
    bool pretty = false;  // indent is not None
    std::string indent;
    std::string item_sep = ", ";
    std::string key_sep = ": ";
    bool sort_keys = false;
  };
  Status append_json(std::string& out, const Value& v, const JsonOptions& opts, uint32_t pos,
                     int depth) const;

  // Iteration: the items a for loop (or list()) sees. Consumes iterators.
  Status iterate(const Value& v, uint32_t pos, std::shared_ptr<const std::vector<Value>>& out);
  Status getattr(const Value& obj, const Value& name, uint32_t pos, Value& out);
  Status getitem(const Value& obj, const Value& key, uint32_t pos, Value& out);
  Status call_value(const Value& callee, CallArgs& args, uint32_t pos, Value& out);
  Status call_method(const Value& receiver, Method m, const std::string& name, CallArgs& args, uint32_t pos,
                     Value& out);
  Status apply_filter(int16_t id, const std::string& name, const Value& v, CallArgs& args, uint32_t pos,
                      Value& out);
  Status apply_test(int16_t id, const std::string& name, const Value& v, CallArgs& args, uint32_t pos,
                    bool& out);
  Status binary_op(BinOp op, const Value& a, const Value& b, uint32_t pos, Value& out) const;
  Status compare(CmpOp op, const Value& a, const Value& b, uint32_t pos, bool& out);
  // Python a < b (TypeError for unorderable kinds).
  Status less(const Value& a, const Value& b, uint32_t pos, bool& out) const;
  // The method named `name` of obj's type, or false.
  bool find_method(const Value& obj, std::string_view name, Method& m) const;

  Value make_string(std::string s, uint32_t pos, Status& st) const;  // checks the size limit
  Status check_size(uint64_t bytes, uint32_t pos) const;
  Value new_namespace();
  Value new_iterator(std::vector<Value> items, const char* type_name);

  const RenderOptions& options() const { return options_; }
  const Program& program() const { return program_; }

 private:
  Status exec(const Body& body, const FramePtr& frame, Flow& flow);
  Status exec_stmt(const Stmt& s, const FramePtr& frame, Flow& flow);
  Status exec_for(const Stmt& s, const FramePtr& frame);
  Status assign(const AssignTarget& t, const Value& v, const FramePtr& frame);
  Status render_body(const Body& body, const FramePtr& frame, std::string& out);
  Status emit(std::string_view text, uint32_t pos);
  Status emit_value(const Value& v, uint32_t pos);
  Value lookup(int32_t symbol, const FramePtr& frame) const;
  Status eval_call(const Expr& e, const FramePtr& frame, Value& out);
  Status eval_args(const Expr& e, const FramePtr& frame, CallArgs& args);
  Status eval_filter_call(const FilterCall& f, Value v, const FramePtr& frame, Value& out);
  Status call_macro(const CallableData& macro, CallArgs& args, uint32_t pos, Value& out);
  Status call_builtin(const CallableData& fn, CallArgs& args, uint32_t pos, Value& out);
  Status slice(const Value& obj, const Value& start, const Value& stop, const Value& step, uint32_t pos,
               Value& out);

  const Program& program_;
  const RenderOptions& options_;
  std::string* out_ = nullptr;  // the buffer {{ }} and text write to (swapped for macros/set blocks)
  uint32_t call_depth_ = 0;
  uint64_t iterations_ = 0;
  uint64_t steps_ = 0;
  AllocBudget alloc_;
  std::vector<Value> globals_;  // by symbol: builtin functions (undefined where none)
  // Objects that can be part of reference cycles (a macro stored in the frame it closes over, a
  // namespace holding itself); cleared when the render ends so shared_ptr cycles are broken.
  std::vector<FramePtr> captured_frames_;
  std::vector<std::shared_ptr<NamespaceData>> namespaces_;
};

}  // namespace synpref::chat::detail
