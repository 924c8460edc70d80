// Recursive-descent parser following jinja2/parser.py (same precedence and statement grammar).
#include "tokenizer/chat_template/ast.h"
#include "tokenizer/chat_template/interp.h"

namespace mlxm::jinja {
namespace {

constexpr int kMaxNesting = 200;  // expression and block nesting (guards the C++ stack)

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}

  std::unique_ptr<Template> parse() {
    auto tpl = std::make_unique<Template>();
    std::string end;
    tpl->body = subparse({}, &end);
    return tpl;
  }

 private:
  struct DepthGuard {
    explicit DepthGuard(Parser* p) : p_(p) {
      if (++p_->depth_ > kMaxNesting) p_->fail("template nesting too deep");
    }
    ~DepthGuard() { --p_->depth_; }
    Parser* p_;
  };

  const Token& cur() const { return t_[i_]; }
  const Token& look() const { return t_[std::min(i_ + 1, t_.size() - 1)]; }
  void next() {
    if (i_ + 1 < t_.size()) ++i_;
  }
  [[noreturn]] void fail(const std::string& msg) const {
    throw TemplateException{ErrorKind::kSyntax, "line " + std::to_string(cur().line) + ": " + msg};
  }
  bool is_op(const char* op) const { return cur().type == Tok::kOp && cur().text == op; }
  bool is_name(const char* n) const { return cur().type == Tok::kName && cur().text == n; }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool skip_name(const char* n) {
    if (!is_name(n)) return false;
    next();
    return true;
  }
  std::string describe() const {
    switch (cur().type) {
      case Tok::kEof: return "end of template";
      case Tok::kBlockEnd: return "end of statement block";
      case Tok::kVarEnd: return "end of print statement";
      case Tok::kData: return "template data";
      default: return "'" + cur().text + "'";
    }
  }
  void expect_op(const char* op) {
    if (!skip_op(op)) fail(std::string("expected '") + op + "', got " + describe());
  }
  std::string expect_name() {
    if (cur().type != Tok::kName) fail("expected name, got " + describe());
    std::string n = cur().text;
    next();
    return n;
  }
  void expect_name(const char* n) {
    if (!skip_name(n)) fail(std::string("expected '") + n + "', got " + describe());
  }
  void expect_block_end() {
    if (cur().type != Tok::kBlockEnd) fail("expected end of statement block, got " + describe());
    next();
  }

  ExprPtr node(ExprKind k, int line) {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    e->line = line;
    return e;
  }

  // Parses statements until a block whose first name is in `ends`; leaves that name current.
  Body subparse(const std::vector<std::string>& ends, std::string* found_end) {
    DepthGuard g(this);
    Body body;
    while (cur().type != Tok::kEof) {
      const Token& tk = cur();
      if (tk.type == Tok::kData) {
        auto st = std::make_unique<Stmt>();
        st->kind = StmtKind::kData;
        st->text = tk.text;
        st->line = tk.line;
        body.push_back(std::move(st));
        next();
      } else if (tk.type == Tok::kVarBegin) {
        next();
        auto st = std::make_unique<Stmt>();
        st->kind = StmtKind::kOutput;
        st->line = tk.line;
        st->expr = parse_tuple(false, true, {}, false);
        if (cur().type != Tok::kVarEnd) fail("expected end of print statement, got " + describe());
        next();
        body.push_back(std::move(st));
      } else if (tk.type == Tok::kBlockBegin) {
        next();
        if (cur().type == Tok::kName) {
          for (const auto& e : ends) {
            if (cur().text == e) {
              *found_end = e;
              return body;
            }
          }
        }
        body.push_back(parse_statement());
        expect_block_end();
      } else {
        fail("unexpected " + describe());
      }
    }
    if (!ends.empty()) {
      std::string list;
      for (const auto& e : ends) list += (list.empty() ? "'" : " or '") + e + "'";
      fail("Unexpected end of template. Jinja was looking for the following tags: " + list);
    }
    return body;
  }

  // After a statement header: expects %} then parses the body up to one of `ends`.
  Body parse_statements(const std::vector<std::string>& ends, std::string* found, bool drop) {
    skip_op(":");
    expect_block_end();
    std::string end;
    Body b = subparse(ends, &end);
    if (found) *found = end;
    if (drop) next();
    return b;
  }

  StmtPtr make_stmt(StmtKind k, int line) {
    auto s = std::make_unique<Stmt>();
    s->kind = k;
    s->line = line;
    return s;
  }

  StmtPtr parse_statement() {
    DepthGuard g(this);
    if (cur().type != Tok::kName) fail("tag name expected");
    std::string kw = cur().text;
    int line = cur().line;
    if (kw == "if") return parse_if();
    if (kw == "for") return parse_for();
    if (kw == "set") return parse_set();
    if (kw == "macro") return parse_macro();
    if (kw == "call") return parse_call_block();
    if (kw == "filter") {
      next();
      auto s = make_stmt(StmtKind::kFilterBlock, line);
      s->filter = parse_filter(nullptr, true);
      s->body = parse_statements({"endfilter"}, nullptr, true);
      return s;
    }
    if (kw == "with") {
      next();
      auto s = make_stmt(StmtKind::kWith, line);
      while (cur().type != Tok::kBlockEnd) {
        if (!s->params.empty()) expect_op(",");
        s->params.push_back(expect_name());
        expect_op("=");
        s->defaults.push_back(parse_expression(true));
      }
      s->body = parse_statements({"endwith"}, nullptr, true);
      return s;
    }
    if (kw == "break" || kw == "continue") {
      if (loop_depth_ == 0) fail("'" + kw + "' outside of a loop");
      next();
      return make_stmt(kw == "break" ? StmtKind::kBreak : StmtKind::kContinue, line);
    }
    if (kw == "generation") {  // transformers' AssistantTracker extension
      next();
      auto s = make_stmt(StmtKind::kScope, line);
      s->body = parse_statements({"endgeneration"}, nullptr, true);
      return s;
    }
    if (kw == "print") {
      next();
      auto s = make_stmt(StmtKind::kOutput, line);
      s->expr = parse_tuple(false, true, {}, false);
      return s;
    }
    fail("Encountered unknown tag '" + kw + "'.");
  }

  StmtPtr parse_if() {
    int line = cur().line;
    next();
    auto s = make_stmt(StmtKind::kIf, line);
    s->expr = parse_tuple(false, false, {}, false);
    std::string end;
    s->body = parse_statements({"elif", "else", "endif"}, &end, false);
    next();  // the end token
    if (end == "elif") {
      auto nested = parse_if_tail(cur().line);
      s->else_body.push_back(std::move(nested));
    } else if (end == "else") {
      s->else_body = parse_statements({"endif"}, nullptr, true);
    }
    return s;
  }

  // An elif branch: condition already current.
  StmtPtr parse_if_tail(int line) {
    auto s = make_stmt(StmtKind::kIf, line);
    s->expr = parse_tuple(false, false, {}, false);
    std::string end;
    s->body = parse_statements({"elif", "else", "endif"}, &end, false);
    next();
    if (end == "elif") {
      s->else_body.push_back(parse_if_tail(cur().line));
    } else if (end == "else") {
      s->else_body = parse_statements({"endif"}, nullptr, true);
    }
    return s;
  }

  StmtPtr parse_for() {
    int line = cur().line;
    next();
    auto s = make_stmt(StmtKind::kFor, line);
    s->target = parse_assign_target(true, false, {"in"});
    expect_name("in");
    s->expr = parse_tuple(false, false, {"recursive"}, false);
    if (skip_name("if")) s->filter = parse_expression(true);
    if (is_name("recursive")) fail("recursive loops are not supported");
    ++loop_depth_;
    std::string end;
    s->body = parse_statements({"endfor", "else"}, &end, false);
    --loop_depth_;
    next();
    if (end == "else") s->else_body = parse_statements({"endfor"}, nullptr, true);
    return s;
  }

  StmtPtr parse_set() {
    int line = cur().line;
    next();
    ExprPtr target = parse_assign_target(true, false, {}, true);
    if (skip_op("=")) {
      auto s = make_stmt(StmtKind::kSet, line);
      s->target = std::move(target);
      s->expr = parse_tuple(false, true, {}, false);
      return s;
    }
    auto s = make_stmt(StmtKind::kSetBlock, line);
    s->target = std::move(target);
    if (is_op("|")) s->filter = parse_filter(nullptr, false);
    int saved = loop_depth_;
    loop_depth_ = 0;
    s->body = parse_statements({"endset"}, nullptr, true);
    loop_depth_ = saved;
    return s;
  }

  void parse_signature(Stmt* s) {
    expect_op("(");
    while (!is_op(")")) {
      if (!s->params.empty()) expect_op(",");
      s->params.push_back(expect_name());
      if (skip_op("=")) {
        s->defaults.push_back(parse_expression(true));
      } else if (!s->defaults.empty()) {
        fail("non-default argument follows default argument");
      }
    }
    expect_op(")");
  }

  StmtPtr parse_macro() {
    int line = cur().line;
    next();
    auto s = make_stmt(StmtKind::kMacro, line);
    s->name = expect_name();
    parse_signature(s.get());
    int saved = loop_depth_;
    loop_depth_ = 0;
    s->body = parse_statements({"endmacro"}, nullptr, true);
    loop_depth_ = saved;
    return s;
  }

  StmtPtr parse_call_block() {
    int line = cur().line;
    next();
    auto s = make_stmt(StmtKind::kCallBlock, line);
    if (is_op("(")) parse_signature(s.get());
    s->expr = parse_expression(true);
    if (s->expr->kind != ExprKind::kCall) fail("expected call");
    int saved = loop_depth_;
    loop_depth_ = 0;
    s->body = parse_statements({"endcall"}, nullptr, true);
    loop_depth_ = saved;
    return s;
  }

  ExprPtr parse_assign_target(bool with_tuple, bool name_only, const std::vector<std::string>& extra_end,
                              bool with_namespace = false) {
    int line = cur().line;
    if (with_namespace && cur().type == Tok::kName && look().type == Tok::kOp && look().text == ".") {
      auto ns = node(ExprKind::kName, line);
      ns->name = expect_name();
      next();  // dot
      auto e = node(ExprKind::kGetattr, line);
      e->name = expect_name();
      e->children.push_back(std::move(ns));
      return e;
    }
    if (name_only) {
      auto e = node(ExprKind::kName, line);
      e->name = expect_name();
      return e;
    }
    ExprPtr t = with_tuple ? parse_tuple(true, true, extra_end, false) : parse_primary();
    auto check = [&](const Expr& x) {
      if (x.kind != ExprKind::kName) fail("can't assign to this expression");
      if (x.name == "true" || x.name == "false" || x.name == "none" || x.name == "True" ||
          x.name == "False" || x.name == "None") {
        fail("can't assign to constant");
      }
    };
    if (t->kind == ExprKind::kTuple) {
      for (auto& c : t->children) check(*c);
    } else {
      check(*t);
    }
    return t;
  }

  bool is_tuple_end(const std::vector<std::string>& extra_end) const {
    Tok ty = cur().type;
    if (ty == Tok::kVarEnd || ty == Tok::kBlockEnd || ty == Tok::kEof || is_op(")")) return true;
    if (ty == Tok::kName) {
      for (const auto& e : extra_end) {
        if (cur().text == e) return true;
      }
    }
    return false;
  }

  ExprPtr parse_tuple(bool simplified, bool with_condexpr, const std::vector<std::string>& extra_end,
                      bool explicit_parens) {
    int line = cur().line;
    std::vector<ExprPtr> args;
    bool is_tuple = false;
    while (true) {
      if (!args.empty()) expect_op(",");
      if (is_tuple_end(extra_end)) break;
      if (simplified) {
        args.push_back(parse_primary());
      } else {
        args.push_back(parse_expression(with_condexpr));
      }
      if (is_op(",")) {
        is_tuple = true;
      } else {
        break;
      }
    }
    if (!is_tuple) {
      if (!args.empty()) return std::move(args[0]);
      if (!explicit_parens) fail("Expected an expression, got " + describe());
    }
    auto e = node(ExprKind::kTuple, line);
    e->children = std::move(args);
    return e;
  }

  ExprPtr parse_expression(bool with_condexpr) {
    DepthGuard g(this);
    return with_condexpr ? parse_condexpr() : parse_or();
  }

  ExprPtr parse_condexpr() {
    int line = cur().line;
    ExprPtr e1 = parse_or();
    while (skip_name("if")) {
      ExprPtr e2 = parse_or();
      ExprPtr e3;
      if (skip_name("else")) e3 = parse_condexpr();
      auto c = node(ExprKind::kCondExpr, line);
      c->children.push_back(std::move(e1));
      c->children.push_back(std::move(e2));
      c->children.push_back(std::move(e3));
      e1 = std::move(c);
    }
    return e1;
  }

  ExprPtr binary(ExprKind k, ExprPtr a, ExprPtr b, int line, std::string op = {}) {
    auto e = node(k, line);
    e->name = std::move(op);
    e->children.push_back(std::move(a));
    e->children.push_back(std::move(b));
    return e;
  }

  ExprPtr parse_or() {
    int line = cur().line;
    ExprPtr l = parse_and();
    while (skip_name("or")) l = binary(ExprKind::kOr, std::move(l), parse_and(), line);
    return l;
  }

  ExprPtr parse_and() {
    int line = cur().line;
    ExprPtr l = parse_not();
    while (skip_name("and")) l = binary(ExprKind::kAnd, std::move(l), parse_not(), line);
    return l;
  }

  ExprPtr parse_not() {
    DepthGuard g(this);
    if (is_name("not")) {
      int line = cur().line;
      next();
      auto e = node(ExprKind::kNot, line);
      e->children.push_back(parse_not());
      return e;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    int line = cur().line;
    ExprPtr e = parse_math1();
    ExprPtr cmp;
    while (true) {
      std::string op;
      if (cur().type == Tok::kOp && (cur().text == "==" || cur().text == "!=" || cur().text == "<" ||
                                     cur().text == "<=" || cur().text == ">" || cur().text == ">=")) {
        op = cur().text;
        next();
      } else if (skip_name("in")) {
        op = "in";
      } else if (is_name("not") && look().type == Tok::kName && look().text == "in") {
        next();
        next();
        op = "notin";
      } else {
        break;
      }
      if (!cmp) {
        cmp = node(ExprKind::kCompare, line);
        cmp->children.push_back(std::move(e));
      }
      cmp->ops.push_back(op);
      cmp->children.push_back(parse_math1());
    }
    return cmp ? std::move(cmp) : std::move(e);
  }

  ExprPtr parse_math1() {
    int line = cur().line;
    ExprPtr l = parse_concat();
    while (is_op("+") || is_op("-")) {
      std::string op = cur().text;
      next();
      l = binary(ExprKind::kBinary, std::move(l), parse_concat(), line, op);
    }
    return l;
  }

  ExprPtr parse_concat() {
    int line = cur().line;
    ExprPtr first = parse_math2();
    if (!is_op("~")) return first;
    auto e = node(ExprKind::kConcat, line);
    e->children.push_back(std::move(first));
    while (skip_op("~")) e->children.push_back(parse_math2());
    return e;
  }

  ExprPtr parse_math2() {
    int line = cur().line;
    ExprPtr l = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      std::string op = cur().text;
      next();
      l = binary(ExprKind::kBinary, std::move(l), parse_pow(), line, op);
    }
    return l;
  }

  ExprPtr parse_pow() {
    int line = cur().line;
    ExprPtr l = parse_unary(true);
    while (skip_op("**")) l = binary(ExprKind::kBinary, std::move(l), parse_unary(true), line, "**");
    return l;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard g(this);
    int line = cur().line;
    ExprPtr n;
    if (is_op("-") || is_op("+")) {
      bool neg = cur().text == "-";
      next();
      n = node(neg ? ExprKind::kNeg : ExprKind::kPos, line);
      n->children.push_back(parse_unary(false));
    } else {
      n = parse_primary();
    }
    n = parse_postfix(std::move(n));
    if (with_filter) n = parse_filter_expr(std::move(n));
    return n;
  }

  ExprPtr parse_primary() {
    DepthGuard g(this);
    const Token& tk = cur();
    int line = tk.line;
    if (tk.type == Tok::kName) {
      ExprPtr e;
      if (tk.text == "true" || tk.text == "True" || tk.text == "false" || tk.text == "False") {
        e = node(ExprKind::kConst, line);
        e->value = Value::boolean(tk.text == "true" || tk.text == "True");
      } else if (tk.text == "none" || tk.text == "None") {
        e = node(ExprKind::kConst, line);
        e->value = Value::none();
      } else {
        e = node(ExprKind::kName, line);
        e->name = tk.text;
      }
      next();
      return e;
    }
    if (tk.type == Tok::kString) {
      std::string s;
      while (cur().type == Tok::kString) {
        s += cur().text;
        next();
      }
      auto e = node(ExprKind::kConst, line);
      e->value = Value::string(std::move(s));
      return e;
    }
    if (tk.type == Tok::kInt || tk.type == Tok::kFloat) {
      auto e = node(ExprKind::kConst, line);
      e->value = tk.type == Tok::kInt ? Value::integer(tk.int_value) : Value::number(tk.float_value);
      next();
      return e;
    }
    if (is_op("(")) {
      next();
      ExprPtr e = parse_tuple(false, true, {}, true);
      expect_op(")");
      return e;
    }
    if (is_op("[")) {
      next();
      auto e = node(ExprKind::kList, line);
      while (!is_op("]")) {
        if (!e->children.empty()) expect_op(",");
        if (is_op("]")) break;
        e->children.push_back(parse_expression(true));
      }
      expect_op("]");
      return e;
    }
    if (is_op("{")) {
      next();
      auto e = node(ExprKind::kDict, line);
      while (!is_op("}")) {
        if (!e->children.empty()) expect_op(",");
        if (is_op("}")) break;
        e->children.push_back(parse_expression(true));
        expect_op(":");
        e->children.push_back(parse_expression(true));
      }
      expect_op("}");
      return e;
    }
    fail("unexpected " + describe());
  }

  ExprPtr parse_postfix(ExprPtr n) {
    while (true) {
      if (is_op(".") || is_op("[")) {
        n = parse_subscript(std::move(n));
      } else if (is_op("(")) {
        n = parse_call(std::move(n));
      } else {
        return n;
      }
    }
  }

  ExprPtr parse_filter_expr(ExprPtr n) {
    while (true) {
      if (is_op("|")) {
        n = parse_filter(std::move(n), false);
      } else if (is_name("is")) {
        n = parse_test(std::move(n));
      } else if (is_op("(")) {
        n = parse_call(std::move(n));
      } else {
        return n;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr n) {
    DepthGuard g(this);
    int line = cur().line;
    bool dot = is_op(".");
    next();
    if (dot) {
      if (cur().type == Tok::kName) {
        auto e = node(ExprKind::kGetattr, line);
        e->name = cur().text;
        next();
        e->children.push_back(std::move(n));
        return e;
      }
      if (cur().type != Tok::kInt) fail("expected name or number");
      auto idx = node(ExprKind::kConst, line);
      idx->value = Value::integer(cur().int_value);
      next();
      auto e = node(ExprKind::kGetitem, line);
      e->children.push_back(std::move(n));
      e->children.push_back(std::move(idx));
      return e;
    }
    std::vector<ExprPtr> args;
    while (!is_op("]")) {
      if (!args.empty()) expect_op(",");
      args.push_back(parse_subscribed());
    }
    expect_op("]");
    auto e = node(ExprKind::kGetitem, line);
    e->children.push_back(std::move(n));
    if (args.size() == 1) {
      e->children.push_back(std::move(args[0]));
    } else {
      auto t = node(ExprKind::kTuple, line);
      t->children = std::move(args);
      e->children.push_back(std::move(t));
    }
    return e;
  }

  ExprPtr parse_subscribed() {
    int line = cur().line;
    std::vector<ExprPtr> parts;
    if (is_op(":")) {
      next();
      parts.push_back(nullptr);
    } else {
      ExprPtr e = parse_expression(true);
      if (!is_op(":")) return e;
      next();
      parts.push_back(std::move(e));
    }
    if (is_op(":")) {
      parts.push_back(nullptr);
    } else if (!is_op("]") && !is_op(",")) {
      parts.push_back(parse_expression(true));
    } else {
      parts.push_back(nullptr);
    }
    if (is_op(":")) {
      next();
      if (!is_op("]") && !is_op(",")) {
        parts.push_back(parse_expression(true));
      } else {
        parts.push_back(nullptr);
      }
    } else {
      parts.push_back(nullptr);
    }
    auto s = node(ExprKind::kSlice, line);
    s->children = std::move(parts);
    return s;
  }

  void parse_call_args(Expr* e) {
    expect_op("(");
    bool require_comma = false;
    while (!is_op(")")) {
      if (require_comma) {
        expect_op(",");
        if (is_op(")")) break;
      }
      if (is_op("*")) {
        if (e->dyn_args || e->dyn_kwargs) fail("invalid syntax for function call expression");
        next();
        e->dyn_args = parse_expression(true);
      } else if (is_op("**")) {
        if (e->dyn_kwargs) fail("invalid syntax for function call expression");
        next();
        e->dyn_kwargs = parse_expression(true);
      } else if (cur().type == Tok::kName && look().type == Tok::kOp && look().text == "=") {
        if (e->dyn_kwargs) fail("invalid syntax for function call expression");
        std::string key = cur().text;
        next();
        next();
        e->kwargs.emplace_back(key, parse_expression(true));
      } else {
        if (e->dyn_args || e->dyn_kwargs || !e->kwargs.empty()) {
          fail("invalid syntax for function call expression");
        }
        e->args.push_back(parse_expression(true));
      }
      require_comma = true;
    }
    expect_op(")");
  }

  ExprPtr parse_call(ExprPtr n) {
    DepthGuard g(this);
    auto e = node(ExprKind::kCall, cur().line);
    e->children.push_back(std::move(n));
    parse_call_args(e.get());
    return e;
  }

  ExprPtr parse_filter(ExprPtr n, bool start_inline) {
    DepthGuard g(this);
    while (is_op("|") || start_inline) {
      if (!start_inline) next();
      auto e = node(ExprKind::kFilter, cur().line);
      e->name = expect_name();
      while (is_op(".")) {
        next();
        e->name += "." + expect_name();
      }
      if (is_op("(")) parse_call_args(e.get());
      e->children.push_back(std::move(n));
      n = std::move(e);
      start_inline = false;
    }
    return n;
  }

  ExprPtr parse_test(ExprPtr n) {
    DepthGuard g(this);
    int line = cur().line;
    next();  // is
    bool negated = skip_name("not");
    auto e = node(ExprKind::kTest, line);
    e->name = expect_name();
    while (is_op(".")) {
      next();
      e->name += "." + expect_name();
    }
    if (is_op("(")) {
      parse_call_args(e.get());
    } else if ((cur().type == Tok::kName || cur().type == Tok::kString || cur().type == Tok::kInt ||
                cur().type == Tok::kFloat || is_op("(") || is_op("[") || is_op("{")) &&
               !is_name("else") && !is_name("or") && !is_name("and")) {
      if (is_name("is")) fail("You cannot chain multiple tests with is");
      ExprPtr arg = parse_postfix(parse_primary());
      e->args.push_back(std::move(arg));
    }
    e->children.push_back(std::move(n));
    if (!negated) return e;
    auto nt = node(ExprKind::kNot, line);
    nt->children.push_back(std::move(e));
    return nt;
  }

  std::vector<Token> t_;
  size_t i_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

// jinja2 resolves filters and tests at compile time, except inside if-statements and inline if
// expressions ("soft" frames), where an unknown name fails only when evaluated.
void validate_expr(const Expr* e, bool soft);

void validate_body(const Body& body, bool soft);

void validate_stmt(const Stmt& s, bool soft) {
  switch (s.kind) {
    case StmtKind::kIf:
      validate_expr(s.expr.get(), true);
      validate_body(s.body, true);
      validate_body(s.else_body, true);
      return;
    case StmtKind::kFor:
      validate_expr(s.expr.get(), soft);
      validate_expr(s.filter.get(), false);
      validate_body(s.body, false);
      validate_body(s.else_body, false);
      return;
    case StmtKind::kScope:
      validate_body(s.body, soft);
      return;
    default:
      validate_expr(s.expr.get(), soft);
      validate_expr(s.filter.get(), soft);
      for (const auto& d : s.defaults) validate_expr(d.get(), false);
      validate_body(s.body, false);
      validate_body(s.else_body, false);
  }
}

void validate_body(const Body& body, bool soft) {
  for (const auto& s : body) validate_stmt(*s, soft);
}

void validate_expr(const Expr* e, bool soft) {
  if (!e) return;
  if (e->kind == ExprKind::kCondExpr) soft = true;
  if (!soft && e->kind == ExprKind::kFilter && !has_filter(e->name)) {
    throw TemplateException{ErrorKind::kSyntax, "line " + std::to_string(e->line) + ": No filter named '" + e->name + "'."};
  }
  if (!soft && e->kind == ExprKind::kTest && !has_test(e->name)) {
    throw TemplateException{ErrorKind::kSyntax, "line " + std::to_string(e->line) + ": No test named '" + e->name + "'."};
  }
  for (const auto& c : e->children) validate_expr(c.get(), soft);
  for (const auto& c : e->args) validate_expr(c.get(), soft);
  for (const auto& [k, c] : e->kwargs) validate_expr(c.get(), soft);
  validate_expr(e->dyn_args.get(), soft);
  validate_expr(e->dyn_kwargs.get(), soft);
}

}  // namespace

std::unique_ptr<Template> parse_template(const std::string& source) {
  auto tpl = Parser(tokenize(source)).parse();
  validate_body(tpl->body, false);
  return tpl;
}

}  // namespace mlxm::jinja
