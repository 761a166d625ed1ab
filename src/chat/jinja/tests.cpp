// src/chat/jinja/tests.cpp: Jinja2's builtin tests ({% if x is name(args) %}), as jinja2.tests
// defines them.
#include <cmath>

#include "chat/jinja/builtins.h"
#include "chat/jinja/interp.h"
#include "chat/jinja/pystr.h"

namespace synpref::chat::detail {

namespace {

#define T(n, id) \
  { n, static_cast<int16_t>(TestId::id) }
constexpr NameId kTests[] = {
    T("odd", odd),
    T("even", even),
    T("divisibleby", divisibleby),
    T("defined", defined),
    T("undefined", undefined),
    T("none", none),
    T("boolean", boolean),
    T("false", false_),
    T("true", true_),
    T("integer", integer),
    T("float", float_),
    T("lower", lower),
    T("upper", upper),
    T("string", string),
    T("mapping", mapping),
    T("number", number),
    T("sequence", sequence),
    T("iterable", iterable),
    T("callable", callable),
    T("sameas", sameas),
    T("escaped", escaped),
    T("in", in),
    T("==", eq),
    T("eq", eq),
    T("equalto", eq),
    T("!=", ne),
    T("ne", ne),
    T(">", gt),
    T("gt", gt),
    T("greaterthan", gt),
    T(">=", ge),
    T("ge", ge),
    T("<", lt),
    T("lt", lt),
    T("lessthan", lt),
    T("<=", le),
    T("le", le),
    T("filter", filter),
    T("test", test),
};
#undef T

}  // namespace

int16_t test_id(std::string_view name) {
  return lookup_id(kTests, std::size(kTests), name);
}

// --- tests ------------------------------------------------------------------------------------------

Status Interp::apply_test(int16_t id, const std::string& name, const Value& v, CallArgs& a, uint32_t pos,
                          bool& out) {
  if (id < 0) return unsupported_error(pos, "the test '" + name + "' is not implemented");
  Bound b;
  const TestId t = static_cast<TestId>(id);
  switch (t) {
    case TestId::odd:
    case TestId::even:
    case TestId::divisibleby: {
      Value divisor = Value::integer(2);
      if (t == TestId::divisibleby) {
        SP_RETURN_IF_ERROR(bind(*this, name, a, {"num"}, pos, b));
        if (!b.get(0)) return error(pos, "test_divisibleby() missing 1 required positional argument: 'num'");
        divisor = *b.get(0);
      } else {
        SP_RETURN_IF_ERROR(bind(*this, name, a, {}, pos, b));
      }
      Value r;
      SP_RETURN_IF_ERROR(binary_op(BinOp::mod, v, divisor, pos, r));
      bool is_one = py_equal(r, Value::integer(1));
      bool is_zero = py_equal(r, Value::integer(0));
      out = t == TestId::odd ? is_one : is_zero;
      return Status::ok();
    }
    case TestId::defined:
      out = !v.is_undefined();
      break;
    case TestId::undefined:
      out = v.is_undefined();
      break;
    case TestId::none:
      out = v.is_none();
      break;
    case TestId::boolean:
      out = v.is_bool();
      break;
    case TestId::false_:
      out = v.is_bool() && !v.as_bool();
      break;
    case TestId::true_:
      out = v.is_bool() && v.as_bool();
      break;
    case TestId::integer:
      out = v.is_int();
      break;
    case TestId::float_:
      out = v.is_float();
      break;
    case TestId::lower:
    case TestId::upper: {
      std::string s;
      SP_RETURN_IF_ERROR(append_str(s, v, pos));
      out = t == TestId::lower ? py::is_lower(s) : py::is_upper(s);
      break;
    }
    case TestId::string:
      out = v.is_string();
      break;
    case TestId::mapping:
      out = v.is_dict();
      break;
    case TestId::number:
      out = v.is_number();
      break;
    case TestId::sequence:
      out = v.is_string() || v.is_dict() || v.is_undefined() ||
            (v.is_list() && (v.seq_kind() == SeqKind::list || v.seq_kind() == SeqKind::tuple));
      break;
    case TestId::iterable:
      out = v.is_string() || v.is_list() || v.is_dict() || v.is_undefined() ||
            v.kind() == ValueKind::iterator || v.kind() == ValueKind::loop;
      break;
    case TestId::callable:
      out = v.kind() == ValueKind::callable || v.is_undefined();
      break;
    case TestId::sameas: {
      SP_RETURN_IF_ERROR(bind(*this, name, a, {"other"}, pos, b));
      if (!b.get(0)) return error(pos, "test_sameas() missing 1 required positional argument: 'other'");
      const Value& o = *b.get(0);
      if (v.kind() != o.kind()) {
        out = false;
      } else {
        switch (v.kind()) {
          case ValueKind::none:
            out = true;
            break;
          case ValueKind::boolean:
            out = v.as_bool() == o.as_bool();
            break;
          case ValueKind::integer:
            out = v.as_int() == o.as_int() && v.as_int() >= -5 && v.as_int() <= 256;
            break;
          case ValueKind::string:
            out = v.string_ptr() == o.string_ptr();
            break;
          case ValueKind::list:
            out = v.list_data() == o.list_data();
            break;
          case ValueKind::dict:
            out = v.dict_data() == o.dict_data();
            break;
          case ValueKind::namespace_object:
          case ValueKind::loop:
          case ValueKind::iterator:
          case ValueKind::callable:
            out = py_equal(v, o);
            break;
          default:
            out = false;
        }
      }
      return Status::ok();
    }
    case TestId::escaped:
      out = false;
      break;
    case TestId::in: {
      SP_RETURN_IF_ERROR(bind(*this, name, a, {"seq"}, pos, b));
      if (!b.get(0)) return error(pos, "test_in() missing 1 required positional argument: 'seq'");
      return compare(CmpOp::in, v, *b.get(0), pos, out);
    }
    case TestId::eq:
    case TestId::ne:
    case TestId::gt:
    case TestId::ge:
    case TestId::lt:
    case TestId::le: {
      if (a.args.size() != 1 || !a.kwargs.empty())
        return error(pos, "expected 1 argument for test '" + name + "'");
      CmpOp op = t == TestId::eq   ? CmpOp::eq
                 : t == TestId::ne ? CmpOp::ne
                 : t == TestId::gt ? CmpOp::gt
                 : t == TestId::ge ? CmpOp::gteq
                 : t == TestId::lt ? CmpOp::lt
                                   : CmpOp::lteq;
      return compare(op, v, a.args[0], pos, out);
    }
    case TestId::filter:
    case TestId::test: {
      if (!v.is_string()) {
        out = false;
        return Status::ok();
      }
      out = (t == TestId::filter ? filter_id(v.as_string()) : test_id(v.as_string())) >= 0;
      return Status::ok();
    }
  }
  if (!a.args.empty() || !a.kwargs.empty()) return error(pos, "test '" + name + "' takes no arguments");
  return Status::ok();
}

}  // namespace synpref::chat::detail
