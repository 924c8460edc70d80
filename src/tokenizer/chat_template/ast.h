// Internal: tokens and syntax tree of the Jinja subset (jinja2 lexer/parser semantics).
// Immutable after parsing, so one tree can be rendered by many threads at once.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tokenizer/chat_template/value.h"

namespace mlxm::jinja {

enum class Tok {
  kData,
  kVarBegin,
  kVarEnd,
  kBlockBegin,
  kBlockEnd,
  kName,
  kString,
  kInt,
  kFloat,
  kOp,
  kEof,
};

struct Token {
  Tok type;
  std::string text;  // data, name, unescaped string, operator
  int64_t int_value = 0;
  double float_value = 0;
  int line = 1;
};

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

enum class ExprKind {
  kConst,
  kName,
  kList,
  kTuple,
  kDict,      // children: k0, v0, k1, v1, ...
  kGetattr,   // children[0].name
  kGetitem,   // children[0][children[1]]
  kSlice,     // children: start, stop, step (nullptr when absent)
  kCall,      // children[0](args...)
  kFilter,    // name; children[0] = subject (nullptr in filter blocks)
  kTest,      // name; children[0] = subject
  kNeg,
  kPos,
  kNot,
  kAnd,
  kOr,
  kBinary,    // op: + - * / // % **
  kCompare,   // children[0] then one child per op in `ops`
  kConcat,    // ~
  kCondExpr,  // children: then, cond, else (nullptr when absent)
};

struct Expr {
  ExprKind kind;
  int line = 1;
  Value value;        // kConst
  std::string name;   // kName, kGetattr attribute, kFilter/kTest name, kBinary op
  std::vector<ExprPtr> children;
  std::vector<std::string> ops;  // kCompare operators: == != < <= > >= in notin
  // Calls, filters and tests: positional args, keyword args, *args, **kwargs.
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  ExprPtr dyn_args;
  ExprPtr dyn_kwargs;
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class StmtKind {
  kData,        // text
  kOutput,      // expr
  kIf,          // expr = condition, body, else_body (elif chains become nested ifs)
  kFor,         // target, expr = iterable, filter, body, else_body
  kSet,         // target, expr
  kSetBlock,    // target, filter (a kFilter chain with null subject, or null), body
  kMacro,       // name, params, defaults, body
  kCallBlock,   // expr = the call, params/defaults = caller signature, body
  kFilterBlock, // filter, body
  kWith,        // params (targets), defaults (values), body
  kBreak,
  kContinue,
  kScope,       // body rendered as is (e.g. transformers' {% generation %})
};

struct Stmt {
  StmtKind kind;
  int line = 1;
  std::string text;
  ExprPtr target;  // kName, kTuple of names, or kGetattr for namespace refs (ns.attr)
  ExprPtr expr;
  ExprPtr filter;
  std::string name;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // aligned to the last params
  Body body;
  Body else_body;
};

struct Template {
  Body body;
};

// Throws TemplateException{kSyntax} on bad templates. Applies trim_blocks/lstrip_blocks, strips a
// single trailing newline and normalizes newlines, as transformers' jinja2 Environment does.
std::vector<Token> tokenize(const std::string& source);
std::unique_ptr<Template> parse_template(const std::string& source);

}  // namespace mlxm::jinja
