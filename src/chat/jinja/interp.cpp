#include "chat/jinja/interp.h"

#include <cmath>

#include "chat/jinja/builtins.h"
#include "chat/jinja/lexer.h"
#include "chat/jinja/parser.h"
#include "chat/jinja/pystr.h"

namespace synpref::chat::detail {

namespace {

struct GlobalDef {
  const char* name;
  BuiltinFn fn;
};
constexpr GlobalDef kGlobals[] = {
    {"range", BuiltinFn::range},
    {"dict", BuiltinFn::dict},
    {"namespace", BuiltinFn::namespace_},
    {"raise_exception", BuiltinFn::raise_exception},
    {"strftime_now", BuiltinFn::strftime_now},
    {"joiner", BuiltinFn::joiner},
    {"cycler", BuiltinFn::cycler},
    {"lipsum", BuiltinFn::lipsum},
};

// jinja2.utils.object_type_repr, as Undefined messages print it.
std::string object_type_repr(const Value& v) {
  switch (v.kind()) {
    case ValueKind::none:
      return "None";
    case ValueKind::namespace_object:
      return "jinja2.utils.Namespace object";
    case ValueKind::loop:
      return "jinja2.runtime.LoopContext object";
    case ValueKind::callable:
      if (v.callable_data()->kind == CallableData::Kind::macro) return "jinja2.runtime.Macro object";
      return std::string(type_name(v)) + " object";
    default:
      return std::string(type_name(v)) + " object";
  }
}

Value missing_attribute(const Value& obj, const std::string& name) {
  std::string msg;
  py::append_repr(msg, object_type_repr(obj));
  msg += " has no attribute ";
  py::append_repr(msg, name);
  return Value::undefined_with(std::move(msg));
}

}  // namespace

Interp::Interp(const Program& program, const RenderOptions& options) : program_(program), options_(options) {
  globals_.resize(program.symbols.size());
  for (const auto& g : kGlobals) {
    int32_t sym = program.find_symbol(g.name);
    if (sym < 0) continue;
    auto fn = std::make_shared<CallableData>();
    fn->kind = CallableData::Kind::builtin;
    fn->fn = g.fn;
    fn->name = g.name;
    globals_[static_cast<size_t>(sym)] = Value(std::shared_ptr<const CallableData>(std::move(fn)));
  }
}

Interp::~Interp() {
  for (auto& f : captured_frames_) f->vars.clear();
  for (auto& ns : namespaces_) ns->attrs.clear();
}

Status Interp::error(uint32_t pos, const std::string& message) const {
  return data_error(positioned(program_.source, pos, "template error", message));
}
Status Interp::unsupported_error(uint32_t pos, const std::string& message) const {
  return unsupported(positioned(program_.source, pos, "unsupported template construct", message));
}
Status Interp::limit_error(uint32_t pos, const std::string& message) const {
  return data_error(positioned(program_.source, pos, "template render limit exceeded", message));
}
Status Interp::undefined_error(uint32_t pos, const Value& undefined) const {
  const auto& info = undefined.undefined_info();
  return error(pos, info ? info->message : "value is undefined");
}

Status Interp::step_limit_error(uint32_t pos) const {
  if (steps_ > options_.limits.max_steps)
    return limit_error(pos, "more than " + std::to_string(options_.limits.max_steps) +
                                " evaluation steps (RenderLimits::max_steps)");
  return limit_error(pos,
                     "more than " + std::to_string(options_.limits.max_alloc_bytes) +
                         " bytes allocated for strings, lists and dicts (RenderLimits::max_alloc_bytes)");
}

Status Interp::check_size(uint64_t bytes, uint32_t pos) const {
  if (bytes > options_.limits.max_output_bytes)
    return limit_error(pos, "more than " + std::to_string(options_.limits.max_output_bytes) +
                                " bytes of output or of a single value (RenderLimits::max_output_bytes)");
  return Status::ok();
}

Value Interp::make_string(std::string s, uint32_t pos, Status& st) const {
  st = check_size(s.size(), pos);
  return Value::string(std::move(s));
}

Value Interp::new_namespace() {
  auto ns = std::make_shared<NamespaceData>();
  namespaces_.push_back(ns);
  return Value(std::move(ns));
}

Value Interp::new_iterator(std::vector<Value> items, const char* type_name) {
  charge_alloc(sizeof(IteratorData) + items.size() * sizeof(Value));
  auto it = std::make_shared<IteratorData>();
  it->items = std::move(items);
  it->type_name = type_name;
  return Value(std::move(it));
}

Result<std::string> Interp::render(const Value& context) {
  auto root = std::make_shared<Frame>();
  if (context.is_dict()) {
    for (const auto& [k, v] : context.entries()) {
      if (!k.is_string()) continue;
      int32_t sym = program_.find_symbol(k.as_string());
      if (sym >= 0) root->set(sym, v);
    }
  }
  std::string result;
  out_ = &result;
  AllocBudget* outer_budget = tls_alloc_budget;  // a render inside a render (never today) keeps its own
  tls_alloc_budget = &alloc_;
  Flow flow = Flow::normal;
  Status st = exec(program_.body, root, flow);
  tls_alloc_budget = outer_budget;
  out_ = nullptr;
  root->vars.clear();
  if (!st.is_ok()) return st;
  return result;
}

// --- statements ------------------------------------------------------------------------------------

Status Interp::emit(std::string_view text, uint32_t pos) {
  out_->append(text);
  return check_size(out_->size(), pos);
}

Status Interp::emit_value(const Value& v, uint32_t pos) {
  if (v.is_string()) {
    out_->append(v.as_string());
  } else {
    SP_RETURN_IF_ERROR(append_str(*out_, v, pos));
  }
  return check_size(out_->size(), pos);
}

Status Interp::exec(const Body& body, const FramePtr& frame, Flow& flow) {
  for (const auto& s : body) {
    SP_RETURN_IF_ERROR(exec_stmt(*s, frame, flow));
    if (flow != Flow::normal) return Status::ok();
  }
  return Status::ok();
}

Status Interp::render_body(const Body& body, const FramePtr& frame, std::string& out) {
  std::string* saved = out_;
  out_ = &out;
  Flow flow = Flow::normal;
  Status st = exec(body, frame, flow);
  out_ = saved;
  return st;
}

namespace {
FramePtr child_frame(const FramePtr& parent) {
  auto f = std::make_shared<Frame>();
  f->parent = parent;
  return f;
}
}  // namespace

Status Interp::eval_filter_call(const FilterCall& f, Value v, const FramePtr& frame, Value& out) {
  CallArgs args;
  for (const auto& a : f.args) {
    args.args.emplace_back();
    SP_RETURN_IF_ERROR(eval(*a, frame, args.args.back()));
  }
  for (const auto& kw : f.kwargs) {
    Value val;
    SP_RETURN_IF_ERROR(eval(*kw.value, frame, val));
    args.kwargs.emplace_back(kw.name, std::move(val));
  }
  return apply_filter(f.id, f.name, v, args, f.pos, out);
}

Status Interp::exec_stmt(const Stmt& s, const FramePtr& frame, Flow& flow) {
  if (!take_step()) return step_limit_error(s.pos);
  switch (s.kind) {
    case StmtKind::text:
      return emit(s.text, s.pos);
    case StmtKind::output: {
      Value v;
      SP_RETURN_IF_ERROR(eval(*s.expr, frame, v));
      return emit_value(v, s.expr->pos);
    }
    case StmtKind::if_: {
      for (const auto& [cond, body] : s.branches) {
        Value c;
        SP_RETURN_IF_ERROR(eval(*cond, frame, c));
        if (truthy(c)) return exec(body, frame, flow);
      }
      return exec(s.else_body, frame, flow);
    }
    case StmtKind::for_:
      return exec_for(s, frame);
    case StmtKind::set: {
      Value v;
      SP_RETURN_IF_ERROR(eval(*s.expr, frame, v));
      return assign(s.target, v, frame);
    }
    case StmtKind::set_block: {
      std::string text;
      SP_RETURN_IF_ERROR(render_body(s.body, child_frame(frame), text));
      Value v = Value::string(std::move(text));
      for (const auto& f : s.filters) {
        Value next;
        SP_RETURN_IF_ERROR(eval_filter_call(f, std::move(v), frame, next));
        v = std::move(next);
      }
      return assign(s.target, v, frame);
    }
    case StmtKind::macro: {
      auto m = std::make_shared<CallableData>();
      m->kind = CallableData::Kind::macro;
      m->name = s.macro_name;
      m->macro = &s;
      m->closure = frame;
      captured_frames_.push_back(frame);
      frame->set(s.macro_symbol, Value(std::shared_ptr<const CallableData>(std::move(m))));
      return Status::ok();
    }
    case StmtKind::filter_block: {
      std::string text;
      SP_RETURN_IF_ERROR(render_body(s.body, child_frame(frame), text));
      Value v = Value::string(std::move(text));
      for (const auto& f : s.filters) {
        Value next;
        SP_RETURN_IF_ERROR(eval_filter_call(f, std::move(v), frame, next));
        v = std::move(next);
      }
      return emit_value(v, s.pos);
    }
    case StmtKind::with: {
      std::vector<Value> values(s.with_values.size());
      for (size_t i = 0; i < values.size(); ++i)
        SP_RETURN_IF_ERROR(eval(*s.with_values[i], frame, values[i]));
      FramePtr inner = child_frame(frame);
      for (size_t i = 0; i < values.size(); ++i)
        SP_RETURN_IF_ERROR(assign(s.with_targets[i], values[i], inner));
      return exec(s.body, inner, flow);
    }
    case StmtKind::break_:
      flow = Flow::break_loop;
      return Status::ok();
    case StmtKind::continue_:
      flow = Flow::continue_loop;
      return Status::ok();
    case StmtKind::scope:
      return exec(s.body, child_frame(frame), flow);
  }
  return Status::ok();
}

Status Interp::assign(const AssignTarget& t, const Value& v, const FramePtr& frame) {
  switch (t.kind) {
    case AssignTarget::Kind::name:
      frame->set(t.symbols[0], v);
      return Status::ok();
    case AssignTarget::Kind::tuple: {
      std::shared_ptr<const std::vector<Value>> items;
      if (v.is_undefined()) return undefined_error(t.pos, v);
      SP_RETURN_IF_ERROR(iterate(v, t.pos, items));
      const size_t n = t.symbols.size();
      if (items->size() < n)
        return error(t.pos, "not enough values to unpack (expected " + std::to_string(n) + ", got " +
                                std::to_string(items->size()) + ")");
      if (items->size() > n)
        return error(t.pos, "too many values to unpack (expected " + std::to_string(n) + ")");
      for (size_t i = 0; i < n; ++i) frame->set(t.symbols[i], (*items)[i]);
      return Status::ok();
    }
    case AssignTarget::Kind::ns_attr: {
      Value ns = lookup(t.ns_symbol, frame);
      if (ns.kind() != ValueKind::namespace_object)
        return error(t.pos, "cannot assign attribute on non-namespace object");
      auto& data = *ns.namespace_data();
      if (Value* slot = data.find(t.attr))
        *slot = v;
      else
        data.attrs.emplace_back(t.attr, v);
      return Status::ok();
    }
  }
  return Status::ok();
}

Status Interp::exec_for(const Stmt& s, const FramePtr& frame) {
  Value iterable;
  SP_RETURN_IF_ERROR(eval(*s.expr, frame, iterable));
  std::shared_ptr<const std::vector<Value>> items;
  SP_RETURN_IF_ERROR(iterate(iterable, s.expr->pos, items));

  if (s.loop_filter) {
    auto kept = std::make_shared<std::vector<Value>>();
    FramePtr test_frame = child_frame(frame);
    for (const auto& item : *items) {
      if (++iterations_ > options_.limits.max_loop_iterations)
        return limit_error(s.pos, "more than " + std::to_string(options_.limits.max_loop_iterations) +
                                      " loop iterations (RenderLimits::max_loop_iterations)");
      if (test_frame.use_count() > 1) test_frame = child_frame(frame);
      test_frame->vars.clear();
      SP_RETURN_IF_ERROR(assign(s.target, item, test_frame));
      Value keep;
      SP_RETURN_IF_ERROR(eval(*s.loop_filter, test_frame, keep));
      if (truthy(keep)) kept->push_back(item);
    }
    items = std::move(kept);
  }

  if (items->empty()) {
    Flow flow = Flow::normal;
    return exec(s.else_body, child_frame(frame), flow);
  }

  auto loop = std::make_shared<LoopData>();
  loop->items = items;
  Value loop_value(loop);
  FramePtr iter_frame;
  for (size_t i = 0; i < items->size(); ++i) {
    if (++iterations_ > options_.limits.max_loop_iterations)
      return limit_error(s.pos, "more than " + std::to_string(options_.limits.max_loop_iterations) +
                                    " loop iterations (RenderLimits::max_loop_iterations)");
    // Each iteration gets a fresh scope (Jinja2 semantics); reuse the allocation unless a macro
    // defined in the previous iteration still holds it.
    if (!iter_frame || iter_frame.use_count() > 1)
      iter_frame = child_frame(frame);
    else
      iter_frame->vars.clear();
    SP_RETURN_IF_ERROR(assign(s.target, (*items)[i], iter_frame));
    iter_frame->set(program_.sym_loop, loop_value);
    loop->index0 = static_cast<int64_t>(i);
    Flow flow = Flow::normal;
    SP_RETURN_IF_ERROR(exec(s.body, iter_frame, flow));
    if (flow == Flow::break_loop) break;
  }
  return Status::ok();
}

// --- expressions -----------------------------------------------------------------------------------

Value Interp::lookup(int32_t symbol, const FramePtr& frame) const {
  for (Frame* f = frame.get(); f; f = f->parent.get())
    if (Value* v = f->find_local(symbol)) return *v;
  const Value& g = globals_[static_cast<size_t>(symbol)];
  if (!g.is_undefined()) return g;
  std::string msg;
  py::append_repr(msg, program_.symbols[static_cast<size_t>(symbol)]);
  msg += " is undefined";
  return Value::undefined_with(std::move(msg));
}

Status Interp::eval_args(const Expr& e, const FramePtr& frame, CallArgs& args) {
  args.args.reserve(e.args.size());
  for (const auto& a : e.args) {
    args.args.emplace_back();
    SP_RETURN_IF_ERROR(eval(*a, frame, args.args.back()));
  }
  if (e.dyn_args) {
    Value extra;
    SP_RETURN_IF_ERROR(eval(*e.dyn_args, frame, extra));
    std::shared_ptr<const std::vector<Value>> items;
    SP_RETURN_IF_ERROR(iterate(extra, e.dyn_args->pos, items));
    for (const auto& item : *items) args.args.push_back(item);
  }
  for (const auto& kw : e.kwargs) {
    Value val;
    SP_RETURN_IF_ERROR(eval(*kw.value, frame, val));
    args.kwargs.emplace_back(kw.name, std::move(val));
  }
  if (e.dyn_kwargs) {
    Value extra;
    SP_RETURN_IF_ERROR(eval(*e.dyn_kwargs, frame, extra));
    if (!extra.is_dict()) return error(e.dyn_kwargs->pos, "argument after ** must be a mapping");
    for (const auto& [k, v] : extra.entries()) {
      if (!k.is_string()) return error(e.dyn_kwargs->pos, "keywords must be strings");
      args.kwargs.emplace_back(k.as_string(), v);
    }
  }
  return Status::ok();
}

Status Interp::eval_call(const Expr& e, const FramePtr& frame, Value& out) {
  const Expr& callee_expr = *e.target;
  Value callee;
  if (callee_expr.kind == ExprKind::getattr) {
    // obj.method(...): dispatch directly instead of materializing a bound method.
    Value obj;
    SP_RETURN_IF_ERROR(eval(*callee_expr.target, frame, obj));
    Method m;
    if (!obj.is_undefined() && find_method(obj, callee_expr.name, m)) {
      CallArgs args;
      SP_RETURN_IF_ERROR(eval_args(e, frame, args));
      return call_method(obj, m, callee_expr.name, args, e.pos, out);
    }
    SP_RETURN_IF_ERROR(getattr(obj, callee_expr.value, callee_expr.pos, callee));
  } else {
    SP_RETURN_IF_ERROR(eval(callee_expr, frame, callee));
  }
  CallArgs args;
  SP_RETURN_IF_ERROR(eval_args(e, frame, args));
  return call_value(callee, args, e.pos, out);
}

Status Interp::eval(const Expr& e, const FramePtr& frame, Value& out) {
  if (!take_step()) return step_limit_error(e.pos);
  switch (e.kind) {
    case ExprKind::constant:
      out = e.value;
      return Status::ok();
    case ExprKind::name:
      out = lookup(e.symbol, frame);
      return Status::ok();
    case ExprKind::getattr: {
      Value obj;
      SP_RETURN_IF_ERROR(eval(*e.target, frame, obj));
      return getattr(obj, e.value, e.pos, out);
    }
    case ExprKind::getitem: {
      Value obj;
      SP_RETURN_IF_ERROR(eval(*e.target, frame, obj));
      const Expr& key = *e.args[0];
      if (key.kind == ExprKind::slice) {
        Value parts[3] = {Value::none(), Value::none(), Value::none()};
        for (int i = 0; i < 3; ++i)
          if (key.args[static_cast<size_t>(i)])
            SP_RETURN_IF_ERROR(eval(*key.args[static_cast<size_t>(i)], frame, parts[i]));
        return slice(obj, parts[0], parts[1], parts[2], e.pos, out);
      }
      Value k;
      SP_RETURN_IF_ERROR(eval(key, frame, k));
      return getitem(obj, k, e.pos, out);
    }
    case ExprKind::slice:
      return unsupported_error(e.pos, "slices inside a tuple subscript");
    case ExprKind::call:
      return eval_call(e, frame, out);
    case ExprKind::filter: {
      Value v;
      SP_RETURN_IF_ERROR(eval(*e.target, frame, v));
      CallArgs args;
      SP_RETURN_IF_ERROR(eval_args(e, frame, args));
      return apply_filter(e.builtin, e.name, v, args, e.pos, out);
    }
    case ExprKind::test: {
      Value v;
      SP_RETURN_IF_ERROR(eval(*e.target, frame, v));
      CallArgs args;
      SP_RETURN_IF_ERROR(eval_args(e, frame, args));
      bool result = false;
      SP_RETURN_IF_ERROR(apply_test(e.builtin, e.name, v, args, e.pos, result));
      out = Value::boolean(result);
      return Status::ok();
    }
    case ExprKind::neg:
    case ExprKind::pos: {
      Value v;
      SP_RETURN_IF_ERROR(eval(*e.target, frame, v));
      const bool neg = e.kind == ExprKind::neg;
      int64_t i;
      if (v.is_undefined()) return undefined_error(e.pos, v);
      if (as_index(v, i)) {
        if (neg && i == INT64_MIN) return unsupported_error(e.pos, "integer overflow (beyond 64 bits)");
        out = Value::integer(neg ? -i : i);
        return Status::ok();
      }
      if (v.is_float()) {
        out = Value::floating(neg ? -v.as_float() : v.as_float());
        return Status::ok();
      }
      return error(
          e.pos, std::string("bad operand type for unary ") + (neg ? "-" : "+") + ": '" + type_name(v) + "'");
    }
    case ExprKind::not_: {
      Value v;
      SP_RETURN_IF_ERROR(eval(*e.target, frame, v));
      out = Value::boolean(!truthy(v));
      return Status::ok();
    }
    case ExprKind::binary: {
      Value a, b;
      SP_RETURN_IF_ERROR(eval(*e.args[0], frame, a));
      SP_RETURN_IF_ERROR(eval(*e.args[1], frame, b));
      return binary_op(e.bin_op, a, b, e.pos, out);
    }
    case ExprKind::concat: {
      std::string s;
      for (const auto& a : e.args) {
        Value v;
        SP_RETURN_IF_ERROR(eval(*a, frame, v));
        SP_RETURN_IF_ERROR(append_str(s, v, a->pos));
        SP_RETURN_IF_ERROR(check_size(s.size(), e.pos));
      }
      out = Value::string(std::move(s));
      return Status::ok();
    }
    case ExprKind::compare: {
      Value left;
      SP_RETURN_IF_ERROR(eval(*e.args[0], frame, left));
      for (size_t i = 0; i < e.cmp_ops.size(); ++i) {
        Value right;
        SP_RETURN_IF_ERROR(eval(*e.args[i + 1], frame, right));
        bool r = false;
        SP_RETURN_IF_ERROR(compare(e.cmp_ops[i], left, right, e.pos, r));
        if (!r) {
          out = Value::boolean(false);
          return Status::ok();
        }
        left = std::move(right);
      }
      out = Value::boolean(true);
      return Status::ok();
    }
    case ExprKind::and_:
    case ExprKind::or_: {
      SP_RETURN_IF_ERROR(eval(*e.args[0], frame, out));
      if (truthy(out) == (e.kind == ExprKind::or_)) return Status::ok();
      return eval(*e.args[1], frame, out);
    }
    case ExprKind::cond: {
      Value c;
      SP_RETURN_IF_ERROR(eval(*e.args[0], frame, c));
      if (truthy(c)) return eval(*e.args[1], frame, out);
      if (e.args[2]) return eval(*e.args[2], frame, out);
      uint32_t line, col;
      line_col(program_.source, e.pos, line, col);
      out = Value::undefined_with("the inline if-expression on line " + std::to_string(line) +
                                  " evaluated to false and no else section was defined.");
      return Status::ok();
    }
    case ExprKind::list:
    case ExprKind::tuple: {
      std::vector<Value> items(e.args.size());
      for (size_t i = 0; i < items.size(); ++i) SP_RETURN_IF_ERROR(eval(*e.args[i], frame, items[i]));
      out = Value::list(std::move(items), e.kind == ExprKind::tuple ? SeqKind::tuple : SeqKind::list);
      return Status::ok();
    }
    case ExprKind::dict: {
      std::vector<std::pair<Value, Value>> entries(e.args.size() / 2);
      for (size_t i = 0; i < entries.size(); ++i) {
        SP_RETURN_IF_ERROR(eval(*e.args[2 * i], frame, entries[i].first));
        if (!is_hashable(entries[i].first))
          return error(e.args[2 * i]->pos,
                       std::string("unhashable type: '") + type_name(entries[i].first) + "'");
        SP_RETURN_IF_ERROR(eval(*e.args[2 * i + 1], frame, entries[i].second));
      }
      out = Value::dict(std::move(entries));
      return Status::ok();
    }
  }
  return Status::ok();
}

// --- object protocol -------------------------------------------------------------------------------

Status Interp::iterate(const Value& v, uint32_t pos, std::shared_ptr<const std::vector<Value>>& out) {
  switch (v.kind()) {
    case ValueKind::list:
      out = std::shared_ptr<const std::vector<Value>>(v.list_data(), &v.list_data()->items);
      return Status::ok();
    case ValueKind::dict: {
      auto keys = std::make_shared<std::vector<Value>>();
      keys->reserve(v.entries().size());
      for (const auto& [k, val] : v.entries()) keys->push_back(k);
      out = std::move(keys);
      return Status::ok();
    }
    case ValueKind::string: {
      auto chars = std::make_shared<std::vector<Value>>();
      const std::string& s = v.as_string();
      for (size_t i = 0; i < s.size();) {
        size_t start = i;
        py::decode(s, i);
        chars->push_back(Value::string(s.substr(start, i - start)));
      }
      out = std::move(chars);
      return Status::ok();
    }
    case ValueKind::undefined:
      out = std::make_shared<std::vector<Value>>();
      return Status::ok();
    case ValueKind::iterator: {
      auto& it = *v.iterator_data();
      auto rest = std::make_shared<std::vector<Value>>(it.items.begin() + static_cast<std::ptrdiff_t>(it.pos),
                                                       it.items.end());
      it.pos = it.items.size();
      out = std::move(rest);
      return Status::ok();
    }
    case ValueKind::loop:
      return unsupported_error(pos, "iterating over the loop object");
    default:
      return error(pos, std::string("'") + type_name(v) + "' object is not iterable");
  }
}

Status Interp::getattr(const Value& obj, const Value& name_value, uint32_t pos, Value& out) {
  const std::string& name = name_value.as_string();
  switch (obj.kind()) {
    case ValueKind::undefined:
      return undefined_error(pos, obj);
    case ValueKind::namespace_object: {
      if (Value* v = obj.namespace_data()->find(name)) {
        out = *v;
        return Status::ok();
      }
      out = missing_attribute(obj, name);
      return Status::ok();
    }
    case ValueKind::loop: {
      const auto& l = *obj.loop_data();
      const int64_t n = static_cast<int64_t>(l.items->size());
      const int64_t i = l.index0;
      if (name == "index")
        out = Value::integer(i + 1);
      else if (name == "index0")
        out = Value::integer(i);
      else if (name == "revindex")
        out = Value::integer(n - i);
      else if (name == "revindex0")
        out = Value::integer(n - i - 1);
      else if (name == "first")
        out = Value::boolean(i == 0);
      else if (name == "last")
        out = Value::boolean(i == n - 1);
      else if (name == "length")
        out = Value::integer(n);
      else if (name == "depth")
        out = Value::integer(1);
      else if (name == "depth0")
        out = Value::integer(0);
      else if (name == "previtem")
        out = i > 0 ? (*l.items)[static_cast<size_t>(i - 1)]
                    : Value::undefined_with("there is no previous item");
      else if (name == "nextitem")
        out = i + 1 < n ? (*l.items)[static_cast<size_t>(i + 1)]
                        : Value::undefined_with("there is no next item");
      else
        break;
      return Status::ok();
    }
    case ValueKind::dict:
      break;  // methods first (below), then keys
    default:
      break;
  }
  Method m;
  if (find_method(obj, name, m)) {
    auto bound = std::make_shared<CallableData>();
    bound->kind = CallableData::Kind::method;
    bound->method = m;
    bound->name = name;
    bound->receiver = obj;
    out = Value(std::shared_ptr<const CallableData>(std::move(bound)));
    return Status::ok();
  }
  if (obj.is_dict()) {
    if (const Value* v = obj.find(name)) {
      out = *v;
      return Status::ok();
    }
  }
  out = missing_attribute(obj, name);
  return Status::ok();
}

Status Interp::getitem(const Value& obj, const Value& key, uint32_t pos, Value& out) {
  auto no_element = [&]() {
    if (key.is_string()) return missing_attribute(obj, key.as_string());
    std::string msg = object_type_repr(obj) + " has no element ";
    Status ignored = append_repr(msg, key, pos);
    (void)ignored;
    return Value::undefined_with(std::move(msg));
  };
  switch (obj.kind()) {
    case ValueKind::undefined:
      return undefined_error(pos, obj);
    case ValueKind::dict: {
      if (is_hashable(key)) {
        int64_t at = obj.dict_data()->find(key);
        if (at >= 0) {
          out = obj.entries()[static_cast<size_t>(at)].second;
          return Status::ok();
        }
      }
      break;
    }
    case ValueKind::list: {
      SeqKind k = obj.seq_kind();
      int64_t idx;
      if ((k == SeqKind::list || k == SeqKind::tuple) && as_index(key, idx)) {
        const auto& items = obj.items();
        const int64_t n = static_cast<int64_t>(items.size());
        if (idx < 0) idx += n;
        if (idx >= 0 && idx < n) {
          out = items[static_cast<size_t>(idx)];
          return Status::ok();
        }
        out = no_element();
        return Status::ok();
      }
      break;
    }
    case ValueKind::string: {
      int64_t idx;
      if (as_index(key, idx)) {
        const std::string& s = obj.as_string();
        auto offsets = py::code_point_offsets(s);
        const int64_t n = static_cast<int64_t>(offsets.size()) - 1;
        if (idx < 0) idx += n;
        if (idx >= 0 && idx < n) {
          size_t b = offsets[static_cast<size_t>(idx)];
          out = Value::string(s.substr(b, offsets[static_cast<size_t>(idx) + 1] - b));
          return Status::ok();
        }
        out = no_element();
        return Status::ok();
      }
      break;
    }
    default:
      break;
  }
  // obj[key] failed: a string key falls back to attribute lookup (sandbox getitem).
  if (key.is_string() && !obj.is_dict()) return getattr(obj, key, pos, out);
  if (key.is_string()) {
    Method m;
    if (find_method(obj, key.as_string(), m)) return getattr(obj, key, pos, out);
  }
  out = no_element();
  return Status::ok();
}

Status Interp::slice(const Value& obj, const Value& start_v, const Value& stop_v, const Value& step_v,
                     uint32_t pos, Value& out) {
  if (obj.is_undefined()) return undefined_error(pos, obj);
  auto undefined_slice = [&]() {
    out = Value::undefined_with(object_type_repr(obj) + " has no element slice");
    return Status::ok();
  };
  int64_t start = 0, stop = 0, step = 1;
  bool has_start = !start_v.is_none(), has_stop = !stop_v.is_none(), has_step = !step_v.is_none();
  if ((has_start && !as_index(start_v, start)) || (has_stop && !as_index(stop_v, stop)) ||
      (has_step && !as_index(step_v, step)))
    return undefined_slice();
  if (has_step && step == 0) return error(pos, "slice step cannot be zero");
  const bool is_seq = obj.is_list() && (obj.seq_kind() == SeqKind::list || obj.seq_kind() == SeqKind::tuple);
  if (!is_seq && !obj.is_string()) return undefined_slice();

  std::vector<size_t> offsets;
  int64_t n;
  if (obj.is_string()) {
    offsets = py::code_point_offsets(obj.as_string());
    n = static_cast<int64_t>(offsets.size()) - 1;
  } else {
    n = static_cast<int64_t>(obj.items().size());
  }
  // PySlice_AdjustIndices
  if (!has_start) {
    start = step < 0 ? n - 1 : 0;
  } else if (start < 0) {
    start += n;
    if (start < 0) start = step < 0 ? -1 : 0;
  } else if (start >= n) {
    start = step < 0 ? n - 1 : n;
  }
  if (!has_stop) {
    stop = step < 0 ? -1 : n;
  } else if (stop < 0) {
    stop += n;
    if (stop < 0) stop = step < 0 ? -1 : 0;
  } else if (stop >= n) {
    stop = step < 0 ? n - 1 : n;
  }
  std::vector<int64_t> picks;
  if (step > 0) {
    for (int64_t i = start; i < stop; i += step) picks.push_back(i);
  } else {
    for (int64_t i = start; i > stop; i += step) picks.push_back(i);
  }
  if (obj.is_string()) {
    const std::string& s = obj.as_string();
    std::string r;
    if (step == 1 && !picks.empty()) {
      r = s.substr(
          offsets[static_cast<size_t>(picks.front())],
          offsets[static_cast<size_t>(picks.back()) + 1] - offsets[static_cast<size_t>(picks.front())]);
    } else {
      for (int64_t i : picks) {
        size_t b = offsets[static_cast<size_t>(i)];
        r.append(s, b, offsets[static_cast<size_t>(i) + 1] - b);
      }
    }
    out = Value::string(std::move(r));
    return Status::ok();
  }
  std::vector<Value> items;
  items.reserve(picks.size());
  for (int64_t i : picks) items.push_back(obj.items()[static_cast<size_t>(i)]);
  out = Value::list(std::move(items), obj.seq_kind());
  return Status::ok();
}

Status Interp::call_value(const Value& callee, CallArgs& args, uint32_t pos, Value& out) {
  if (callee.is_undefined()) return undefined_error(pos, callee);
  if (callee.kind() != ValueKind::callable)
    return error(pos, std::string("'") + type_name(callee) + "' object is not callable");
  const CallableData& c = *callee.callable_data();
  switch (c.kind) {
    case CallableData::Kind::macro:
      return call_macro(c, args, pos, out);
    case CallableData::Kind::builtin:
      return call_builtin(c, args, pos, out);
    case CallableData::Kind::method:
      return call_method(c.receiver, c.method, c.name, args, pos, out);
  }
  return Status::ok();
}

Status Interp::call_macro(const CallableData& macro, CallArgs& args, uint32_t pos, Value& out) {
  const Stmt& m = *macro.macro;
  if (call_depth_ >= options_.limits.max_call_depth)
    return limit_error(pos, "macro calls nested deeper than " +
                                std::to_string(options_.limits.max_call_depth) +
                                " (RenderLimits::max_call_depth)");
  FramePtr frame = child_frame(macro.closure);
  const size_t n = m.params.size();
  std::vector<bool> bound(n, false);
  std::vector<Value> varargs;
  for (size_t i = 0; i < args.args.size(); ++i) {
    if (i < n) {
      frame->set(m.params[i], args.args[i]);
      bound[i] = true;
    } else {
      varargs.push_back(args.args[i]);
    }
  }
  if (!varargs.empty() && !m.uses_varargs)
    return error(pos,
                 "macro '" + m.macro_name + "' takes not more than " + std::to_string(n) + " argument(s)");
  std::vector<std::pair<Value, Value>> extra_kwargs;
  for (auto& [name, value] : args.kwargs) {
    size_t idx = n;
    for (size_t i = 0; i < n; ++i)
      if (m.param_names[i] == name) idx = i;
    if (idx < n) {
      if (bound[idx])
        return error(pos, "macro '" + m.macro_name + "' got multiple values for argument '" + name + "'");
      frame->set(m.params[idx], value);
      bound[idx] = true;
    } else if (m.uses_kwargs) {
      extra_kwargs.emplace_back(Value::string(name), value);
    } else {
      return error(pos, "macro '" + m.macro_name + "' takes no keyword argument '" + name + "'");
    }
  }
  const size_t first_default = n - m.defaults.size();
  ++call_depth_;
  Status st;
  for (size_t i = 0; i < n && st.is_ok(); ++i) {
    if (bound[i]) continue;
    if (i >= first_default) {
      Value v;
      st = eval(*m.defaults[i - first_default], frame, v);
      frame->set(m.params[i], std::move(v));
    } else {
      frame->set(m.params[i], Value::undefined_with("parameter '" + m.param_names[i] + "' was not provided"));
    }
  }
  if (m.uses_varargs) frame->set(program_.sym_varargs, Value::tuple(std::move(varargs)));
  if (m.uses_kwargs) frame->set(program_.sym_kwargs, Value::dict(std::move(extra_kwargs)));
  std::string text;
  if (st.is_ok()) st = render_body(m.body, frame, text);
  --call_depth_;
  SP_RETURN_IF_ERROR(st);
  out = Value::string(std::move(text));
  return Status::ok();
}

// --- operators ---------------------------------------------------------------------------------------

namespace {

bool numeric(const Value& v, bool& is_int, int64_t& i, double& d) {
  if (as_index(v, i)) {
    is_int = true;
    d = static_cast<double>(i);
    return true;
  }
  if (v.is_float()) {
    is_int = false;
    d = v.as_float();
    return true;
  }
  return false;
}

const char* op_symbol(BinOp op) {
  switch (op) {
    case BinOp::add:
      return "+";
    case BinOp::sub:
      return "-";
    case BinOp::mul:
      return "*";
    case BinOp::div:
      return "/";
    case BinOp::floordiv:
      return "//";
    case BinOp::mod:
      return "%";
    case BinOp::pow:
      return "** or pow()";
  }
  return "?";
}

// CPython's float_divmod.
void float_divmod(double vx, double wx, double& floordiv, double& mod) {
  mod = std::fmod(vx, wx);
  double div = (vx - mod) / wx;
  if (mod != 0.0) {
    if ((wx < 0) != (mod < 0)) {
      mod += wx;
      div -= 1.0;
    }
  } else {
    mod = std::copysign(0.0, wx);
  }
  if (div != 0.0) {
    floordiv = std::floor(div);
    if (div - floordiv > 0.5) floordiv += 1.0;
  } else {
    floordiv = std::copysign(0.0, vx / wx);
  }
}

}  // namespace

Status Interp::binary_op(BinOp op, const Value& a, const Value& b, uint32_t pos, Value& out) const {
  if (a.is_undefined()) return undefined_error(pos, a);
  if (op == BinOp::mod && a.is_string()) {
    // str % x: CPython formats without consulting x's __rmod__, so even an undefined x works.
    std::string s;
    SP_RETURN_IF_ERROR(percent_format(*this, a.as_string(), b, pos, s));
    SP_RETURN_IF_ERROR(check_size(s.size(), pos));
    out = Value::string(std::move(s));
    return Status::ok();
  }
  if (b.is_undefined()) return undefined_error(pos, b);
  bool ai = false, bi = false;
  int64_t ia = 0, ib = 0;
  double da = 0, db = 0;
  if (numeric(a, ai, ia, da) && numeric(b, bi, ib, db)) {
    const bool ints = ai && bi;
    auto overflow = [&]() {
      return unsupported_error(pos, "integer overflow (Python ints are unbounded; synpref uses 64 bits)");
    };
    switch (op) {
      case BinOp::add:
      case BinOp::sub:
      case BinOp::mul: {
        if (ints) {
          int64_t r;
          bool ovf = op == BinOp::add   ? __builtin_add_overflow(ia, ib, &r)
                     : op == BinOp::sub ? __builtin_sub_overflow(ia, ib, &r)
                                        : __builtin_mul_overflow(ia, ib, &r);
          if (ovf) return overflow();
          out = Value::integer(r);
        } else {
          out = Value::floating(op == BinOp::add ? da + db : op == BinOp::sub ? da - db : da * db);
        }
        return Status::ok();
      }
      case BinOp::div:
        if (db == 0.0) return error(pos, ints ? "division by zero" : "float division by zero");
        out = Value::floating(da / db);
        return Status::ok();
      case BinOp::floordiv:
      case BinOp::mod: {
        if (ints) {
          if (ib == 0) return error(pos, "integer division or modulo by zero");
          if (ia == INT64_MIN && ib == -1) return overflow();
          int64_t q = ia / ib, r = ia % ib;
          if (r != 0 && ((r < 0) != (ib < 0))) {
            r += ib;
            q -= 1;
          }
          out = Value::integer(op == BinOp::floordiv ? q : r);
          return Status::ok();
        }
        if (db == 0.0)
          return error(pos, op == BinOp::floordiv ? "float floor division by zero" : "float modulo");
        double fd, md;
        float_divmod(da, db, fd, md);
        out = Value::floating(op == BinOp::floordiv ? fd : md);
        return Status::ok();
      }
      case BinOp::pow: {
        if (ints && ib >= 0) {
          int64_t result = 1, base = ia, e = ib;
          while (e > 0) {
            if (e & 1)
              if (__builtin_mul_overflow(result, base, &result)) return overflow();
            e >>= 1;
            if (e > 0 && __builtin_mul_overflow(base, base, &base)) return overflow();
          }
          out = Value::integer(result);
          return Status::ok();
        }
        if (da == 0.0 && db < 0) return error(pos, "0.0 cannot be raised to a negative power");
        if (da < 0 && db != std::trunc(db))
          return unsupported_error(pos,
                                   "a negative number to a fractional power (a complex number in Python)");
        double r = std::pow(da, db);
        if (std::isinf(r) && std::isfinite(da) && std::isfinite(db))
          return error(pos, "(34, 'Numerical result out of range')");
        out = Value::floating(r);
        return Status::ok();
      }
    }
  }
  if (a.is_string() && b.is_string() && op == BinOp::add) {
    SP_RETURN_IF_ERROR(check_size(a.as_string().size() + b.as_string().size(), pos));
    std::string s;
    s.reserve(a.as_string().size() + b.as_string().size());
    s += a.as_string();
    s += b.as_string();
    out = Value::string(std::move(s));
    return Status::ok();
  }
  if (op == BinOp::mul) {
    const Value* seq = nullptr;
    int64_t times = 0;
    if ((a.is_string() || a.is_list()) && as_index(b, times)) seq = &a;
    if ((b.is_string() || b.is_list()) && as_index(a, times)) seq = &b;
    if (seq && (seq->is_string() || seq->seq_kind() == SeqKind::list || seq->seq_kind() == SeqKind::tuple)) {
      if (times < 0) times = 0;
      if (seq->is_string()) {
        const std::string& s = seq->as_string();
        if (!s.empty() && static_cast<uint64_t>(times) > options_.limits.max_output_bytes / s.size())
          return check_size(UINT64_MAX, pos);
        std::string r;
        r.reserve(s.size() * static_cast<size_t>(times));
        for (int64_t i = 0; i < times; ++i) r += s;
        out = Value::string(std::move(r));
      } else {
        const auto& items = seq->items();
        if (!items.empty() && static_cast<uint64_t>(times) > options_.limits.max_output_bytes / items.size())
          return check_size(UINT64_MAX, pos);
        std::vector<Value> r;
        r.reserve(items.size() * static_cast<size_t>(times));
        for (int64_t i = 0; i < times; ++i) r.insert(r.end(), items.begin(), items.end());
        out = Value::list(std::move(r), seq->seq_kind());
      }
      return Status::ok();
    }
  }
  if (op == BinOp::add && a.is_list() && b.is_list() && a.seq_kind() == b.seq_kind() &&
      (a.seq_kind() == SeqKind::list || a.seq_kind() == SeqKind::tuple)) {
    std::vector<Value> r = a.items();
    r.insert(r.end(), b.items().begin(), b.items().end());
    out = Value::list(std::move(r), a.seq_kind());
    return Status::ok();
  }
  if (op == BinOp::add && a.is_string())
    return error(pos, std::string("can only concatenate str (not \"") + type_name(b) + "\") to str");
  if (op == BinOp::add && a.is_list() && (a.seq_kind() == SeqKind::list || a.seq_kind() == SeqKind::tuple))
    return error(pos, std::string("can only concatenate ") + type_name(a) + " (not \"" + type_name(b) +
                          "\") to " + type_name(a));
  return error(pos, std::string("unsupported operand type(s) for ") + op_symbol(op) + ": '" + type_name(a) +
                        "' and '" + type_name(b) + "'");
}

namespace {

// Three-way comparison for orderable values; false when Python would raise TypeError.
bool order(const Value& a, const Value& b, int& cmp, bool& unordered_nan) {
  bool ai, bi;
  int64_t ia, ib;
  double da, db;
  unordered_nan = false;
  if (numeric(a, ai, ia, da) && numeric(b, bi, ib, db)) {
    if (ai && bi) {
      cmp = ia < ib ? -1 : ia > ib ? 1 : 0;
      return true;
    }
    if (std::isnan(da) || std::isnan(db)) {
      unordered_nan = true;
      cmp = 0;
      return true;
    }
    if (ai || bi) {
      // int vs float: compare exactly where it matters.
      if (py_equal(a, b)) {
        cmp = 0;
        return true;
      }
    }
    cmp = da < db ? -1 : da > db ? 1 : 0;
    return true;
  }
  if (a.is_string() && b.is_string()) {
    int c = a.as_string().compare(b.as_string());
    cmp = c < 0 ? -1 : c > 0 ? 1 : 0;
    return true;
  }
  return false;
}

}  // namespace

Status Interp::compare(CmpOp op, const Value& a, const Value& b, uint32_t pos, bool& out) {
  switch (op) {
    case CmpOp::eq:
      out = py_equal(a, b);
      return Status::ok();
    case CmpOp::ne:
      out = !py_equal(a, b);
      return Status::ok();
    case CmpOp::in:
    case CmpOp::notin: {
      bool found = false;
      charge_work(b.is_list() ? b.items().size() : b.is_dict() ? b.entries().size() : 0);  // a linear scan
      switch (b.kind()) {
        case ValueKind::string:
          if (!a.is_string())
            return error(pos,
                         std::string("'in <string>' requires string as left operand, not ") + type_name(a));
          found = b.as_string().find(a.as_string()) != std::string::npos;
          break;
        case ValueKind::list:
          for (const auto& item : b.items())
            if (py_equal(item, a)) {
              found = true;
              break;
            }
          break;
        case ValueKind::dict:
          if (!is_hashable(a)) return error(pos, std::string("unhashable type: '") + type_name(a) + "'");
          found = b.dict_data()->find(a) >= 0;
          break;
        case ValueKind::undefined:
          break;  // Undefined iterates as empty
        case ValueKind::iterator: {
          auto& it = *b.iterator_data();
          while (it.pos < it.items.size()) {
            if (py_equal(it.items[it.pos++], a)) {
              found = true;
              break;
            }
          }
          break;
        }
        default:
          return error(pos, std::string("argument of type '") + type_name(b) + "' is not iterable");
      }
      out = op == CmpOp::in ? found : !found;
      return Status::ok();
    }
    default:
      break;
  }
  if (a.is_undefined()) return undefined_error(pos, a);
  if (b.is_undefined()) return undefined_error(pos, b);
  const char* sym = op == CmpOp::lt ? "<" : op == CmpOp::lteq ? "<=" : op == CmpOp::gt ? ">" : ">=";
  auto decide = [&](int cmp) {
    switch (op) {
      case CmpOp::lt:
        return cmp < 0;
      case CmpOp::lteq:
        return cmp <= 0;
      case CmpOp::gt:
        return cmp > 0;
      default:
        return cmp >= 0;
    }
  };
  int cmp = 0;
  bool nan = false;
  if (order(a, b, cmp, nan)) {
    out = nan ? false : decide(cmp);
    return Status::ok();
  }
  if (a.is_list() && b.is_list() && a.seq_kind() == b.seq_kind() &&
      (a.seq_kind() == SeqKind::list || a.seq_kind() == SeqKind::tuple)) {
    const auto& x = a.items();
    const auto& y = b.items();
    size_t i = 0;
    while (i < x.size() && i < y.size() && py_equal(x[i], y[i])) ++i;
    if (i < x.size() && i < y.size()) return compare(op, x[i], y[i], pos, out);
    out = decide(x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0);
    return Status::ok();
  }
  return error(pos, std::string("'") + sym + "' not supported between instances of '" + type_name(a) +
                        "' and '" + type_name(b) + "'");
}

Status Interp::less(const Value& a, const Value& b, uint32_t pos, bool& out) const {
  return const_cast<Interp*>(this)->compare(CmpOp::lt, a, b, pos, out);
}

}  // namespace synpref::chat::detail
