#include "chat/jinja/parser.h"

#include <initializer_list>

#include "chat/jinja/builtins.h"
#include "chat/jinja/lexer.h"
#include "chat/jinja/pystr.h"
#include "synpref/common/text.h"

namespace synpref::chat::detail {

std::string positioned(const std::string& source, uint32_t pos, const char* what,
                       const std::string& message) {
  uint32_t line, col;
  line_col(source, pos, line, col);
  return std::string(what) + " at line " + std::to_string(line) + ", column " + std::to_string(col) + ": " +
         message;
}

namespace {

// Expression and statement nesting beyond this is refused (protects the C++ stack).
constexpr int kMaxNesting = 200;

class Parser {
 public:
  Parser(Program& program, std::vector<Token> tokens) : prog_(program), toks_(std::move(tokens)) {}

  Status parse() {
    prog_.sym_loop = prog_.intern("loop");
    prog_.sym_varargs = prog_.intern("varargs");
    prog_.sym_kwargs = prog_.intern("kwargs");
    return subparse(prog_.body, {});
  }

 private:
  // --- token stream ------------------------------------------------------------------------------
  const Token& cur() const { return toks_[idx_]; }
  const Token& look() const { return toks_[std::min(idx_ + 1, toks_.size() - 1)]; }
  void next() {
    if (idx_ + 1 < toks_.size()) ++idx_;
  }
  bool is_name(const Token& t, std::string_view name) const { return t.type == Tok::name && t.text == name; }
  bool is_op(const Token& t, Op op) const { return t.type == Tok::op && t.op == op; }
  bool skip_name(std::string_view name) {
    if (!is_name(cur(), name)) return false;
    next();
    return true;
  }
  bool skip_op(Op op) {
    if (!is_op(cur(), op)) return false;
    next();
    return true;
  }

  static std::string describe(const Token& t) {
    switch (t.type) {
      case Tok::data:
        return "template data";
      case Tok::variable_begin:
        return "'{{'";
      case Tok::variable_end:
        return "'}}'";
      case Tok::block_begin:
        return "'{%'";
      case Tok::block_end:
        return "'%}'";
      case Tok::name:
        return "'" + t.text + "'";
      case Tok::string:
        return "string literal";
      case Tok::integer:
        return "integer literal";
      case Tok::floating:
        return "float literal";
      case Tok::op:
        return std::string("'") + op_text(t.op) + "'";
      case Tok::eof:
        return "end of template";
    }
    return "token";
  }

  Status syntax_error(uint32_t pos, const std::string& message) const {
    return data_error(positioned(prog_.source, pos, "template syntax error", message));
  }
  Status unsupported_error(uint32_t pos, const std::string& message) const {
    return unsupported(positioned(prog_.source, pos, "unsupported template construct", message));
  }
  Status expect_op(Op op) {
    if (!is_op(cur(), op))
      return syntax_error(cur().pos, std::string("expected '") + op_text(op) + "', got " + describe(cur()));
    next();
    return Status::ok();
  }
  Status expect_type(Tok type, const char* what) {
    if (cur().type != type)
      return syntax_error(cur().pos, std::string("expected ") + what + ", got " + describe(cur()));
    next();
    return Status::ok();
  }
  Status expect_name_token(std::string& out) {
    if (cur().type != Tok::name) return syntax_error(cur().pos, "expected a name, got " + describe(cur()));
    out = cur().text;
    next();
    return Status::ok();
  }

  struct DepthGuard {
    int& depth;
    explicit DepthGuard(int& d) : depth(d) { ++depth; }
    ~DepthGuard() { --depth; }
  };
  Status check_depth() const {
    if (depth_ > kMaxNesting)
      return syntax_error(cur().pos, "nesting deeper than " + std::to_string(kMaxNesting) + " levels");
    return Status::ok();
  }

  static ExprPtr make(ExprKind kind, uint32_t pos) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->pos = pos;
    return e;
  }

  // --- statements --------------------------------------------------------------------------------
  // Parses template content until a block tag whose name is in `end_tags` (left as current token)
  // or the end of the template.
  Status subparse(Body& body, std::initializer_list<std::string_view> end_tags) {
    DepthGuard guard(depth_);
    SP_RETURN_IF_ERROR(check_depth());
    while (cur().type != Tok::eof) {
      const Token& t = cur();
      if (t.type == Tok::data) {
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::text;
        s->pos = t.pos;
        s->text = t.text;
        body.push_back(std::move(s));
        next();
      } else if (t.type == Tok::variable_begin) {
        uint32_t pos = t.pos;
        next();
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::output;
        s->pos = pos;
        SP_RETURN_IF_ERROR(parse_tuple(s->expr, false, true, {}, false));
        SP_RETURN_IF_ERROR(expect_type(Tok::variable_end, "'}}'"));
        body.push_back(std::move(s));
      } else if (t.type == Tok::block_begin) {
        next();
        if (cur().type == Tok::name) {
          for (auto tag : end_tags)
            if (cur().text == tag) return Status::ok();
        }
        SP_RETURN_IF_ERROR(parse_statement(body));
        SP_RETURN_IF_ERROR(expect_type(Tok::block_end, "'%}' (end of the statement)"));
      } else {
        return syntax_error(t.pos, "unexpected " + describe(t));
      }
    }
    if (end_tags.size() != 0) {
      std::string wanted;
      for (auto tag : end_tags) wanted += (wanted.empty() ? "'" : " or '") + std::string(tag) + "'";
      return syntax_error(cur().pos, "unexpected end of template, expected " + wanted + " to close the '" +
                                         open_tags_.back().first + "' at line " +
                                         line_of(open_tags_.back().second));
    }
    return Status::ok();
  }

  std::string line_of(uint32_t pos) const {
    uint32_t line, col;
    line_col(prog_.source, pos, line, col);
    return std::to_string(line);
  }

  // Statement bodies: `%}` then content until one of `end_tags`.
  Status parse_statements(Body& body, std::initializer_list<std::string_view> end_tags, const char* tag,
                          uint32_t tag_pos) {
    skip_op(Op::colon);
    SP_RETURN_IF_ERROR(expect_type(Tok::block_end, "'%}' (end of the statement)"));
    open_tags_.emplace_back(tag, tag_pos);
    Status st = subparse(body, end_tags);
    open_tags_.pop_back();
    return st;
  }

  Status parse_statement(Body& body) {
    const Token& t = cur();
    if (t.type != Tok::name) return syntax_error(t.pos, "expected a tag name, got " + describe(t));
    const std::string tag = t.text;
    const uint32_t pos = t.pos;
    if (tag == "for") return parse_for(body);
    if (tag == "if") return parse_if(body);
    if (tag == "set") return parse_set(body);
    if (tag == "macro") return parse_macro(body);
    if (tag == "with") return parse_with(body);
    if (tag == "filter") return parse_filter_block(body);
    if (tag == "print") return parse_print(body);
    if (tag == "generation") return parse_generation(body);
    if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) return syntax_error(pos, "'" + tag + "' outside of a for loop");
      next();
      auto s = std::make_unique<Stmt>();
      s->kind = tag == "break" ? StmtKind::break_ : StmtKind::continue_;
      s->pos = pos;
      body.push_back(std::move(s));
      return Status::ok();
    }
    static const char* kUnsupported[] = {"block",      "extends", "include", "import",    "from", "call",
                                         "autoescape", "do",      "trans",   "pluralize", "debug"};
    for (const char* u : kUnsupported)
      if (tag == u) return unsupported_error(pos, "the '" + tag + "' tag is not supported");
    if (tag.rfind("end", 0) == 0 || tag == "else" || tag == "elif")
      return syntax_error(
          pos, "unexpected '" + tag + "' tag" +
                   (open_tags_.empty() ? std::string(" (no open block)")
                                       : " (the innermost open block is '" + open_tags_.back().first +
                                             "' at line " + line_of(open_tags_.back().second) + ")"));
    return syntax_error(pos, "unknown tag '" + tag + "'");
  }

  Status parse_for(Body& body) {
    auto s = std::make_unique<Stmt>();
    s->kind = StmtKind::for_;
    s->pos = cur().pos;
    next();
    SP_RETURN_IF_ERROR(parse_assign_target(s->target, /*with_tuple=*/true, /*name_only=*/false,
                                           /*with_namespace=*/false, {"in"}));
    if (!skip_name("in")) return syntax_error(cur().pos, "expected 'in', got " + describe(cur()));
    SP_RETURN_IF_ERROR(parse_tuple(s->expr, false, false, {"recursive"}, false));
    if (skip_name("if")) SP_RETURN_IF_ERROR(parse_expression(s->loop_filter, true));
    if (is_name(cur(), "recursive"))
      return unsupported_error(cur().pos, "recursive for loops are not supported");
    ++loop_depth_;
    Status st = parse_statements(s->body, {"endfor", "else"}, "for", s->pos);
    --loop_depth_;
    SP_RETURN_IF_ERROR(st);
    if (is_name(cur(), "else")) {
      next();
      SP_RETURN_IF_ERROR(parse_statements(s->else_body, {"endfor"}, "for", s->pos));
    }
    next();  // endfor
    body.push_back(std::move(s));
    return Status::ok();
  }

  Status parse_if(Body& body) {
    auto s = std::make_unique<Stmt>();
    s->kind = StmtKind::if_;
    s->pos = cur().pos;
    next();
    while (true) {
      ExprPtr cond;
      SP_RETURN_IF_ERROR(parse_tuple(cond, false, false, {}, false));
      Body branch;
      SP_RETURN_IF_ERROR(parse_statements(branch, {"elif", "else", "endif"}, "if", s->pos));
      s->branches.emplace_back(std::move(cond), std::move(branch));
      if (is_name(cur(), "elif")) {
        next();
        continue;
      }
      if (is_name(cur(), "else")) {
        next();
        SP_RETURN_IF_ERROR(parse_statements(s->else_body, {"endif"}, "if", s->pos));
      }
      break;
    }
    next();  // endif
    body.push_back(std::move(s));
    return Status::ok();
  }

  Status parse_set(Body& body) {
    auto s = std::make_unique<Stmt>();
    s->pos = cur().pos;
    next();
    SP_RETURN_IF_ERROR(parse_assign_target(s->target, true, false, /*with_namespace=*/true, {}));
    if (skip_op(Op::assign)) {
      s->kind = StmtKind::set;
      SP_RETURN_IF_ERROR(parse_tuple(s->expr, false, true, {}, false));
      body.push_back(std::move(s));
      return Status::ok();
    }
    s->kind = StmtKind::set_block;
    while (is_op(cur(), Op::pipe)) {
      next();
      SP_RETURN_IF_ERROR(parse_filter_call(s->filters));
    }
    SP_RETURN_IF_ERROR(parse_statements(s->body, {"endset"}, "set", s->pos));
    next();  // endset
    body.push_back(std::move(s));
    return Status::ok();
  }

  Status parse_with(Body& body) {
    auto s = std::make_unique<Stmt>();
    s->kind = StmtKind::with;
    s->pos = cur().pos;
    next();
    while (cur().type != Tok::block_end) {
      if (!s->with_targets.empty()) SP_RETURN_IF_ERROR(expect_op(Op::comma));
      AssignTarget target;
      SP_RETURN_IF_ERROR(parse_assign_target(target, true, false, false, {}));
      SP_RETURN_IF_ERROR(expect_op(Op::assign));
      ExprPtr value;
      SP_RETURN_IF_ERROR(parse_expression(value, true));
      s->with_targets.push_back(std::move(target));
      s->with_values.push_back(std::move(value));
    }
    SP_RETURN_IF_ERROR(parse_statements(s->body, {"endwith"}, "with", s->pos));
    next();
    body.push_back(std::move(s));
    return Status::ok();
  }

  Status parse_filter_block(Body& body) {
    auto s = std::make_unique<Stmt>();
    s->kind = StmtKind::filter_block;
    s->pos = cur().pos;
    next();
    SP_RETURN_IF_ERROR(parse_filter_call(s->filters));
    while (is_op(cur(), Op::pipe)) {
      next();
      SP_RETURN_IF_ERROR(parse_filter_call(s->filters));
    }
    SP_RETURN_IF_ERROR(parse_statements(s->body, {"endfilter"}, "filter", s->pos));
    next();
    body.push_back(std::move(s));
    return Status::ok();
  }

  Status parse_print(Body& body) {
    next();
    bool first = true;
    while (cur().type != Tok::block_end) {
      if (!first) SP_RETURN_IF_ERROR(expect_op(Op::comma));
      first = false;
      auto s = std::make_unique<Stmt>();
      s->kind = StmtKind::output;
      s->pos = cur().pos;
      SP_RETURN_IF_ERROR(parse_expression(s->expr, true));
      body.push_back(std::move(s));
    }
    return Status::ok();
  }

  Status parse_generation(Body& body) {
    auto s = std::make_unique<Stmt>();
    s->kind = StmtKind::scope;
    s->pos = cur().pos;
    next();
    SP_RETURN_IF_ERROR(parse_statements(s->body, {"endgeneration"}, "generation", s->pos));
    next();
    body.push_back(std::move(s));
    return Status::ok();
  }

  Status parse_macro(Body& body) {
    auto s = std::make_unique<Stmt>();
    s->kind = StmtKind::macro;
    s->pos = cur().pos;
    next();
    SP_RETURN_IF_ERROR(expect_name_token(s->macro_name));
    s->macro_symbol = prog_.intern(s->macro_name);
    SP_RETURN_IF_ERROR(expect_op(Op::lparen));
    while (!is_op(cur(), Op::rparen)) {
      if (!s->params.empty()) SP_RETURN_IF_ERROR(expect_op(Op::comma));
      std::string param;
      SP_RETURN_IF_ERROR(expect_name_token(param));
      s->param_names.push_back(param);
      s->params.push_back(prog_.intern(param));
      if (skip_op(Op::assign)) {
        ExprPtr def;
        SP_RETURN_IF_ERROR(parse_expression(def, true));
        s->defaults.push_back(std::move(def));
      } else if (!s->defaults.empty()) {
        return syntax_error(cur().pos, "non-default argument follows default argument");
      }
    }
    next();  // ')'
    macro_stack_.push_back(s.get());
    int saved_loop_depth = loop_depth_;
    loop_depth_ = 0;
    Status st = parse_statements(s->body, {"endmacro"}, "macro", s->pos);
    loop_depth_ = saved_loop_depth;
    macro_stack_.pop_back();
    SP_RETURN_IF_ERROR(st);
    next();
    body.push_back(std::move(s));
    return Status::ok();
  }

  Status parse_assign_target(AssignTarget& target, bool with_tuple, bool name_only, bool with_namespace,
                             std::initializer_list<std::string_view> extra_end) {
    target.pos = cur().pos;
    if (with_namespace && cur().type == Tok::name && is_op(look(), Op::dot)) {
      target.kind = AssignTarget::Kind::ns_attr;
      target.ns_symbol = prog_.intern(cur().text);
      next();
      next();
      return expect_name_token(target.attr);
    }
    auto read_name = [&](int32_t& symbol) -> Status {
      if (cur().type != Tok::name) return syntax_error(cur().pos, "can't assign to " + describe(cur()));
      const std::string& n = cur().text;
      if (n == "true" || n == "false" || n == "True" || n == "False" || n == "none" || n == "None")
        return syntax_error(cur().pos, "can't assign to the constant '" + n + "'");
      symbol = prog_.intern(n);
      next();
      return Status::ok();
    };
    int32_t first;
    if (!name_only && with_tuple && is_op(cur(), Op::lparen))
      return unsupported_error(cur().pos, "parenthesized assignment targets are not supported");
    SP_RETURN_IF_ERROR(read_name(first));
    target.kind = AssignTarget::Kind::name;
    target.symbols.push_back(first);
    if (name_only || !with_tuple) return Status::ok();
    while (is_op(cur(), Op::comma)) {
      next();
      target.kind = AssignTarget::Kind::tuple;
      bool end = cur().type == Tok::block_end || cur().type == Tok::variable_end || is_op(cur(), Op::rparen);
      for (auto e : extra_end) end |= is_name(cur(), e);
      if (end || is_op(cur(), Op::assign)) break;
      int32_t sym;
      SP_RETURN_IF_ERROR(read_name(sym));
      target.symbols.push_back(sym);
    }
    return Status::ok();
  }

  // --- expressions -------------------------------------------------------------------------------
  bool is_tuple_end(std::initializer_list<std::string_view> extra_end) const {
    const Token& t = cur();
    if (t.type == Tok::variable_end || t.type == Tok::block_end || is_op(t, Op::rparen)) return true;
    for (auto e : extra_end)
      if (is_name(t, e)) return true;
    return false;
  }

  Status parse_tuple(ExprPtr& out, bool simplified, bool with_condexpr,
                     std::initializer_list<std::string_view> extra_end, bool explicit_parentheses) {
    uint32_t pos = cur().pos;
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) SP_RETURN_IF_ERROR(expect_op(Op::comma));
      if (is_tuple_end(extra_end)) break;
      ExprPtr item;
      if (simplified) {
        SP_RETURN_IF_ERROR(parse_primary(item));
      } else {
        SP_RETURN_IF_ERROR(parse_expression(item, with_condexpr));
      }
      items.push_back(std::move(item));
      if (is_op(cur(), Op::comma))
        is_tuple = true;
      else
        break;
    }
    if (!is_tuple) {
      if (!items.empty()) {
        out = std::move(items[0]);
        return Status::ok();
      }
      if (!explicit_parentheses)
        return syntax_error(cur().pos, "expected an expression, got " + describe(cur()));
    }
    out = make(ExprKind::tuple, pos);
    out->args = std::move(items);
    return Status::ok();
  }

  Status parse_expression(ExprPtr& out, bool with_condexpr) {
    DepthGuard guard(depth_);
    SP_RETURN_IF_ERROR(check_depth());
    if (!with_condexpr) return parse_or(out);
    uint32_t pos = cur().pos;
    SP_RETURN_IF_ERROR(parse_or(out));
    while (skip_name("if")) {
      auto cond = make(ExprKind::cond, pos);
      ExprPtr test;
      SP_RETURN_IF_ERROR(parse_or(test));
      ExprPtr else_expr;
      if (skip_name("else")) SP_RETURN_IF_ERROR(parse_expression(else_expr, true));
      cond->args.push_back(std::move(test));
      cond->args.push_back(std::move(out));
      cond->args.push_back(std::move(else_expr));
      out = std::move(cond);
    }
    return Status::ok();
  }

  Status parse_or(ExprPtr& out) {
    SP_RETURN_IF_ERROR(parse_and(out));
    while (is_name(cur(), "or")) {
      auto e = make(ExprKind::or_, cur().pos);
      next();
      ExprPtr right;
      SP_RETURN_IF_ERROR(parse_and(right));
      e->args.push_back(std::move(out));
      e->args.push_back(std::move(right));
      out = std::move(e);
    }
    return Status::ok();
  }

  Status parse_and(ExprPtr& out) {
    SP_RETURN_IF_ERROR(parse_not(out));
    while (is_name(cur(), "and")) {
      auto e = make(ExprKind::and_, cur().pos);
      next();
      ExprPtr right;
      SP_RETURN_IF_ERROR(parse_not(right));
      e->args.push_back(std::move(out));
      e->args.push_back(std::move(right));
      out = std::move(e);
    }
    return Status::ok();
  }

  Status parse_not(ExprPtr& out) {
    if (is_name(cur(), "not")) {
      DepthGuard guard(depth_);
      SP_RETURN_IF_ERROR(check_depth());
      auto e = make(ExprKind::not_, cur().pos);
      next();
      SP_RETURN_IF_ERROR(parse_not(e->target));
      out = std::move(e);
      return Status::ok();
    }
    return parse_compare(out);
  }

  Status parse_compare(ExprPtr& out) {
    uint32_t pos = cur().pos;
    ExprPtr first;
    SP_RETURN_IF_ERROR(parse_math1(first));
    ExprPtr cmp;
    while (true) {
      CmpOp op;
      const Token& t = cur();
      if (t.type == Tok::op && (t.op == Op::eq || t.op == Op::ne || t.op == Op::lt || t.op == Op::lteq ||
                                t.op == Op::gt || t.op == Op::gteq)) {
        op = t.op == Op::eq     ? CmpOp::eq
             : t.op == Op::ne   ? CmpOp::ne
             : t.op == Op::lt   ? CmpOp::lt
             : t.op == Op::lteq ? CmpOp::lteq
             : t.op == Op::gt   ? CmpOp::gt
                                : CmpOp::gteq;
        next();
      } else if (is_name(t, "in")) {
        op = CmpOp::in;
        next();
      } else if (is_name(t, "not") && is_name(look(), "in")) {
        op = CmpOp::notin;
        next();
        next();
      } else {
        break;
      }
      if (!cmp) {
        cmp = make(ExprKind::compare, pos);
        cmp->args.push_back(std::move(first));
      }
      ExprPtr operand;
      SP_RETURN_IF_ERROR(parse_math1(operand));
      cmp->cmp_ops.push_back(op);
      cmp->args.push_back(std::move(operand));
    }
    out = cmp ? std::move(cmp) : std::move(first);
    return Status::ok();
  }

  Status parse_binary_chain(ExprPtr& out, Status (Parser::*sub)(ExprPtr&), std::initializer_list<Op> ops) {
    SP_RETURN_IF_ERROR((this->*sub)(out));
    while (cur().type == Tok::op) {
      Op op = cur().op;
      bool match = false;
      for (Op o : ops) match |= o == op;
      if (!match) break;
      auto e = make(ExprKind::binary, cur().pos);
      e->bin_op = op == Op::add        ? BinOp::add
                  : op == Op::sub      ? BinOp::sub
                  : op == Op::mul      ? BinOp::mul
                  : op == Op::div      ? BinOp::div
                  : op == Op::floordiv ? BinOp::floordiv
                  : op == Op::mod      ? BinOp::mod
                                       : BinOp::pow;
      next();
      ExprPtr right;
      SP_RETURN_IF_ERROR((this->*sub)(right));
      e->args.push_back(std::move(out));
      e->args.push_back(std::move(right));
      out = std::move(e);
    }
    return Status::ok();
  }

  Status parse_math1(ExprPtr& out) {
    return parse_binary_chain(out, &Parser::parse_concat, {Op::add, Op::sub});
  }

  Status parse_concat(ExprPtr& out) {
    uint32_t pos = cur().pos;
    SP_RETURN_IF_ERROR(parse_math2(out));
    if (!is_op(cur(), Op::tilde)) return Status::ok();
    auto e = make(ExprKind::concat, pos);
    e->args.push_back(std::move(out));
    while (skip_op(Op::tilde)) {
      ExprPtr item;
      SP_RETURN_IF_ERROR(parse_math2(item));
      e->args.push_back(std::move(item));
    }
    out = std::move(e);
    return Status::ok();
  }

  Status parse_math2(ExprPtr& out) {
    return parse_binary_chain(out, &Parser::parse_pow, {Op::mul, Op::div, Op::floordiv, Op::mod});
  }

  Status parse_pow(ExprPtr& out) {
    return parse_binary_chain(out, &Parser::parse_unary_with_filter, {Op::pow});
  }

  Status parse_unary_with_filter(ExprPtr& out) { return parse_unary(out, true); }

  Status parse_unary(ExprPtr& out, bool with_filter) {
    DepthGuard guard(depth_);
    SP_RETURN_IF_ERROR(check_depth());
    if (is_op(cur(), Op::sub) || is_op(cur(), Op::add)) {
      auto e = make(is_op(cur(), Op::sub) ? ExprKind::neg : ExprKind::pos, cur().pos);
      next();
      SP_RETURN_IF_ERROR(parse_unary(e->target, false));
      out = std::move(e);
    } else {
      SP_RETURN_IF_ERROR(parse_primary(out));
    }
    SP_RETURN_IF_ERROR(parse_postfix(out));
    if (with_filter) SP_RETURN_IF_ERROR(parse_filter_expr(out));
    return Status::ok();
  }

  Status parse_primary(ExprPtr& out) {
    DepthGuard guard(depth_);
    SP_RETURN_IF_ERROR(check_depth());
    const Token& t = cur();
    switch (t.type) {
      case Tok::name: {
        if (t.text == "true" || t.text == "True" || t.text == "false" || t.text == "False") {
          out = make(ExprKind::constant, t.pos);
          out->value = Value::boolean(t.text == "true" || t.text == "True");
        } else if (t.text == "none" || t.text == "None") {
          out = make(ExprKind::constant, t.pos);
          out->value = Value::none();
        } else {
          out = make(ExprKind::name, t.pos);
          out->name = t.text;
          out->symbol = prog_.intern(t.text);
          if (!macro_stack_.empty()) {
            if (out->symbol == prog_.sym_varargs) macro_stack_.back()->uses_varargs = true;
            if (out->symbol == prog_.sym_kwargs) macro_stack_.back()->uses_kwargs = true;
          }
        }
        next();
        return Status::ok();
      }
      case Tok::string: {
        out = make(ExprKind::constant, t.pos);
        std::string s = t.text;
        next();
        while (cur().type == Tok::string) {
          s += cur().text;
          next();
        }
        out->value = Value::string(std::move(s));
        return Status::ok();
      }
      case Tok::integer:
        out = make(ExprKind::constant, t.pos);
        out->value = Value::integer(t.int_value);
        next();
        return Status::ok();
      case Tok::floating:
        out = make(ExprKind::constant, t.pos);
        out->value = Value::floating(t.float_value);
        next();
        return Status::ok();
      case Tok::op:
        if (t.op == Op::lparen) {
          next();
          SP_RETURN_IF_ERROR(parse_tuple(out, false, true, {}, true));
          return expect_op(Op::rparen);
        }
        if (t.op == Op::lbracket) return parse_list(out);
        if (t.op == Op::lbrace) return parse_dict(out);
        break;
      default:
        break;
    }
    return syntax_error(t.pos, "unexpected " + describe(t));
  }

  Status parse_list(ExprPtr& out) {
    out = make(ExprKind::list, cur().pos);
    next();
    while (!is_op(cur(), Op::rbracket)) {
      if (!out->args.empty()) SP_RETURN_IF_ERROR(expect_op(Op::comma));
      if (is_op(cur(), Op::rbracket)) break;
      ExprPtr item;
      SP_RETURN_IF_ERROR(parse_expression(item, true));
      out->args.push_back(std::move(item));
    }
    return expect_op(Op::rbracket);
  }

  Status parse_dict(ExprPtr& out) {
    out = make(ExprKind::dict, cur().pos);
    next();
    while (!is_op(cur(), Op::rbrace)) {
      if (!out->args.empty()) SP_RETURN_IF_ERROR(expect_op(Op::comma));
      if (is_op(cur(), Op::rbrace)) break;
      ExprPtr key, value;
      SP_RETURN_IF_ERROR(parse_expression(key, true));
      SP_RETURN_IF_ERROR(expect_op(Op::colon));
      SP_RETURN_IF_ERROR(parse_expression(value, true));
      out->args.push_back(std::move(key));
      out->args.push_back(std::move(value));
    }
    return expect_op(Op::rbrace);
  }

  Status parse_postfix(ExprPtr& node) {
    while (true) {
      if (is_op(cur(), Op::dot) || is_op(cur(), Op::lbracket)) {
        SP_RETURN_IF_ERROR(parse_subscript(node));
      } else if (is_op(cur(), Op::lparen)) {
        SP_RETURN_IF_ERROR(parse_call(node));
      } else {
        return Status::ok();
      }
    }
  }

  Status parse_filter_expr(ExprPtr& node) {
    while (true) {
      if (is_op(cur(), Op::pipe)) {
        next();
        std::vector<FilterCall> calls;
        SP_RETURN_IF_ERROR(parse_filter_call(calls));
        auto e = make(ExprKind::filter, calls[0].pos);
        e->name = std::move(calls[0].name);
        e->value = Value::string(e->name);
        e->builtin = calls[0].id;
        e->args = std::move(calls[0].args);
        e->kwargs = std::move(calls[0].kwargs);
        e->target = std::move(node);
        node = std::move(e);
      } else if (is_name(cur(), "is")) {
        SP_RETURN_IF_ERROR(parse_test(node));
      } else if (is_op(cur(), Op::lparen)) {
        SP_RETURN_IF_ERROR(parse_call(node));
      } else {
        return Status::ok();
      }
    }
  }

  Status parse_dotted_name(std::string& name) {
    SP_RETURN_IF_ERROR(expect_name_token(name));
    while (is_op(cur(), Op::dot)) {
      next();
      std::string part;
      SP_RETURN_IF_ERROR(expect_name_token(part));
      name += "." + part;
    }
    return Status::ok();
  }

  Status parse_filter_call(std::vector<FilterCall>& calls) {
    FilterCall call;
    call.pos = cur().pos;
    SP_RETURN_IF_ERROR(parse_dotted_name(call.name));
    call.id = filter_id(call.name);
    if (is_op(cur(), Op::lparen)) {
      ExprPtr dyn_args, dyn_kwargs;
      SP_RETURN_IF_ERROR(parse_call_args(call.args, call.kwargs, dyn_args, dyn_kwargs));
      if (dyn_args || dyn_kwargs)
        return unsupported_error(call.pos, "*args/**kwargs in filter calls are not supported");
    }
    calls.push_back(std::move(call));
    return Status::ok();
  }

  Status parse_test(ExprPtr& node) {
    uint32_t pos = cur().pos;
    next();  // is
    bool negated = skip_name("not");
    auto e = make(ExprKind::test, pos);
    SP_RETURN_IF_ERROR(parse_dotted_name(e->name));
    e->builtin = test_id(e->name);
    e->value = Value::string(e->name);
    const Token& t = cur();
    if (is_op(t, Op::lparen)) {
      ExprPtr dyn_args, dyn_kwargs;
      SP_RETURN_IF_ERROR(parse_call_args(e->args, e->kwargs, dyn_args, dyn_kwargs));
      if (dyn_args || dyn_kwargs)
        return unsupported_error(pos, "*args/**kwargs in test calls are not supported");
    } else if ((t.type == Tok::name || t.type == Tok::string || t.type == Tok::integer ||
                t.type == Tok::floating || is_op(t, Op::lparen) || is_op(t, Op::lbracket) ||
                is_op(t, Op::lbrace)) &&
               !is_name(t, "else") && !is_name(t, "or") && !is_name(t, "and")) {
      if (is_name(t, "is")) return syntax_error(t.pos, "you cannot chain multiple tests with 'is'");
      ExprPtr arg;
      SP_RETURN_IF_ERROR(parse_primary(arg));
      SP_RETURN_IF_ERROR(parse_postfix(arg));
      e->args.push_back(std::move(arg));
    }
    e->target = std::move(node);
    if (negated) {
      auto n = make(ExprKind::not_, pos);
      n->target = std::move(e);
      node = std::move(n);
    } else {
      node = std::move(e);
    }
    return Status::ok();
  }

  Status parse_subscript(ExprPtr& node) {
    const Token& t = cur();
    uint32_t pos = t.pos;
    if (is_op(t, Op::dot)) {
      next();
      const Token& attr = cur();
      if (attr.type == Tok::name) {
        auto e = make(ExprKind::getattr, pos);
        e->name = attr.text;
        e->value = Value::string(attr.text);
        e->target = std::move(node);
        node = std::move(e);
        next();
        return Status::ok();
      }
      if (attr.type != Tok::integer) return syntax_error(attr.pos, "expected a name or number after '.'");
      auto e = make(ExprKind::getitem, pos);
      auto idx = make(ExprKind::constant, attr.pos);
      idx->value = Value::integer(attr.int_value);
      e->target = std::move(node);
      e->args.push_back(std::move(idx));
      node = std::move(e);
      next();
      return Status::ok();
    }
    next();  // '['
    std::vector<ExprPtr> items;
    while (!is_op(cur(), Op::rbracket)) {
      if (!items.empty()) SP_RETURN_IF_ERROR(expect_op(Op::comma));
      ExprPtr item;
      SP_RETURN_IF_ERROR(parse_subscribed(item));
      items.push_back(std::move(item));
    }
    SP_RETURN_IF_ERROR(expect_op(Op::rbracket));
    if (items.empty()) return syntax_error(pos, "expected a subscript expression");
    auto e = make(ExprKind::getitem, pos);
    e->target = std::move(node);
    if (items.size() == 1) {
      e->args.push_back(std::move(items[0]));
    } else {
      auto tup = make(ExprKind::tuple, pos);
      tup->args = std::move(items);
      e->args.push_back(std::move(tup));
    }
    node = std::move(e);
    return Status::ok();
  }

  Status parse_subscribed(ExprPtr& out) {
    uint32_t pos = cur().pos;
    ExprPtr start;
    if (is_op(cur(), Op::colon)) {
      next();
    } else {
      SP_RETURN_IF_ERROR(parse_expression(start, true));
      if (!is_op(cur(), Op::colon)) {
        out = std::move(start);
        return Status::ok();
      }
      next();
    }
    auto e = make(ExprKind::slice, pos);
    ExprPtr stop, step;
    if (!is_op(cur(), Op::colon) && !is_op(cur(), Op::rbracket) && !is_op(cur(), Op::comma))
      SP_RETURN_IF_ERROR(parse_expression(stop, true));
    if (is_op(cur(), Op::colon)) {
      next();
      if (!is_op(cur(), Op::rbracket) && !is_op(cur(), Op::comma))
        SP_RETURN_IF_ERROR(parse_expression(step, true));
    }
    e->args.push_back(std::move(start));
    e->args.push_back(std::move(stop));
    e->args.push_back(std::move(step));
    out = std::move(e);
    return Status::ok();
  }

  Status parse_call_args(std::vector<ExprPtr>& args, std::vector<Kwarg>& kwargs, ExprPtr& dyn_args,
                         ExprPtr& dyn_kwargs) {
    uint32_t pos = cur().pos;
    SP_RETURN_IF_ERROR(expect_op(Op::lparen));
    bool require_comma = false;
    auto invalid = [&] { return syntax_error(pos, "invalid syntax for function call expression"); };
    while (!is_op(cur(), Op::rparen)) {
      if (require_comma) {
        SP_RETURN_IF_ERROR(expect_op(Op::comma));
        if (is_op(cur(), Op::rparen)) break;
      }
      if (is_op(cur(), Op::mul)) {
        if (dyn_args || dyn_kwargs) return invalid();
        next();
        SP_RETURN_IF_ERROR(parse_expression(dyn_args, true));
      } else if (is_op(cur(), Op::pow)) {
        if (dyn_kwargs) return invalid();
        next();
        SP_RETURN_IF_ERROR(parse_expression(dyn_kwargs, true));
      } else if (cur().type == Tok::name && is_op(look(), Op::assign)) {
        if (dyn_kwargs) return invalid();
        Kwarg kw;
        kw.name = cur().text;
        next();
        next();
        SP_RETURN_IF_ERROR(parse_expression(kw.value, true));
        kwargs.push_back(std::move(kw));
      } else {
        if (dyn_args || dyn_kwargs || !kwargs.empty()) return invalid();
        ExprPtr arg;
        SP_RETURN_IF_ERROR(parse_expression(arg, true));
        args.push_back(std::move(arg));
      }
      require_comma = true;
    }
    return expect_op(Op::rparen);
  }

  Status parse_call(ExprPtr& node) {
    auto e = make(ExprKind::call, cur().pos);
    SP_RETURN_IF_ERROR(parse_call_args(e->args, e->kwargs, e->dyn_args, e->dyn_kwargs));
    e->target = std::move(node);
    node = std::move(e);
    return Status::ok();
  }

  Program& prog_;
  std::vector<Token> toks_;
  size_t idx_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
  std::vector<Stmt*> macro_stack_;
  std::vector<std::pair<std::string, uint32_t>> open_tags_;
};

}  // namespace

Result<std::shared_ptr<Program>> parse_template(std::string source) {
  auto program = std::make_shared<Program>();
  if (size_t bad = text::first_invalid_utf8(source); bad != std::string::npos)
    return data_error("template is not valid UTF-8 (first invalid byte at offset " + std::to_string(bad) +
                      ")");
  program->source = normalize_source(source);
  SP_ASSIGN_OR_RETURN(auto tokens, tokenize(program->source));
  Parser parser(*program, std::move(tokens));
  SP_RETURN_IF_ERROR(parser.parse());
  return program;
}

}  // namespace synpref::chat::detail
