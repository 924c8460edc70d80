// Statement execution and expression evaluation with jinja2's scoping: a for-loop iteration, a
// macro call and a with-block get their own scope; if-blocks do not.
#include <cmath>

#include "tokenizer/chat_template/interp.h"

namespace mlxm::jinja {
namespace {

[[noreturn]] void limit_error(const std::string& msg) {
  throw TemplateException{ErrorKind::kLimit, msg};
}

std::shared_ptr<Frame> child_of(Frame* f) {
  auto c = std::make_shared<Frame>();
  c->parent = f->shared_from_this();
  return c;
}

}  // namespace

Renderer::Renderer(const Limits& limits, std::shared_ptr<Frame> globals) : limits_(limits) {
  root_ = std::make_shared<Frame>();
  root_->parent = std::move(globals);
}

void Renderer::check_size(size_t n) const {
  if (n > limits_.max_output_bytes) limit_error("template output exceeds the size limit");
}

void Renderer::count_iterations(int64_t n) {
  iterations_ += n;
  if (iterations_ > limits_.max_loop_iterations) limit_error("template exceeds the loop iteration limit");
}

void Renderer::write(const std::string& s) {
  out_->append(s);
  check_size(out_->size());
}

std::string Renderer::render(const Template& tpl) {
  std::string out;
  out_ = &out;
  try {
    exec_body(tpl.body, root_.get());
  } catch (const BreakSignal&) {
  } catch (const ContinueSignal&) {
  }
  return out;
}

std::string Renderer::capture(const Body& body, Frame* f) {
  std::string buf;
  std::string* saved = out_;
  out_ = &buf;
  try {
    exec_body(body, f);
  } catch (...) {
    out_ = saved;
    throw;
  }
  out_ = saved;
  return buf;
}

void Renderer::exec_body(const Body& body, Frame* f) {
  for (const auto& s : body) exec(*s, f);
}

Value Renderer::lookup(const std::string& name, Frame* f) {
  for (Frame* p = f; p; p = p->parent.get()) {
    auto it = p->vars.find(name);
    if (it != p->vars.end()) return it->second;
  }
  return Value::undefined("'" + name + "' is undefined");
}

void Renderer::assign(const Expr& target, Value v, Frame* f) {
  if (target.kind == ExprKind::kName) {
    f->vars[target.name] = std::move(v);
    return;
  }
  if (target.kind == ExprKind::kGetattr) {  // {% set ns.attr = v %}
    Value ns = lookup(target.children[0]->name, f);
    if (ns.kind != Kind::kNamespace) throw_runtime("cannot assign attribute on non-namespace object");
    ns.dict->set(Value::string(target.name), std::move(v));
    return;
  }
  // tuple unpacking
  std::vector<Value> items = iterate(v);
  size_t n = target.children.size();
  if (items.size() < n) {
    throw_runtime("not enough values to unpack (expected " + std::to_string(n) + ", got " +
                  std::to_string(items.size()) + ")");
  }
  if (items.size() > n) throw_runtime("too many values to unpack (expected " + std::to_string(n) + ")");
  for (size_t k = 0; k < n; ++k) assign(*target.children[k], std::move(items[k]), f);
}

void Renderer::exec(const Stmt& s, Frame* f) {
  switch (s.kind) {
    case StmtKind::kData:
      write(s.text);
      return;
    case StmtKind::kOutput: {
      Value v = eval(*s.expr, f);
      write(to_str(v));
      return;
    }
    case StmtKind::kIf:
      if (truthy(eval(*s.expr, f))) {
        exec_body(s.body, f);
      } else {
        exec_body(s.else_body, f);
      }
      return;
    case StmtKind::kFor:
      exec_for(s, f);
      return;
    case StmtKind::kSet:
      assign(*s.target, eval(*s.expr, f), f);
      return;
    case StmtKind::kSetBlock: {
      Value v = Value::string(capture(s.body, f));
      if (s.filter) v = eval_filter(*s.filter, f, std::move(v));
      assign(*s.target, std::move(v), f);
      return;
    }
    case StmtKind::kMacro:
      f->vars[s.name] = make_macro(s, f);
      return;
    case StmtKind::kCallBlock:
      exec_call_block(s, f);
      return;
    case StmtKind::kFilterBlock: {
      Value v = Value::string(capture(s.body, f));
      write(to_str(eval_filter(*s.filter, f, std::move(v))));
      return;
    }
    case StmtKind::kWith: {
      auto c = child_of(f);
      for (size_t k = 0; k < s.params.size(); ++k) c->vars[s.params[k]] = eval(*s.defaults[k], f);
      exec_body(s.body, c.get());
      return;
    }
    case StmtKind::kBreak:
      throw BreakSignal{};
    case StmtKind::kContinue:
      throw ContinueSignal{};
    case StmtKind::kScope:
      exec_body(s.body, f);
      return;
  }
}

void Renderer::exec_for(const Stmt& s, Frame* f) {
  Value iterable = eval(*s.expr, f);
  std::vector<Value> items = iterate(iterable);
  if (s.filter) {
    std::vector<Value> kept;
    for (Value& item : items) {
      count_iterations(1);
      auto c = child_of(f);
      assign(*s.target, item, c.get());
      if (truthy(eval(*s.filter, c.get()))) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) {
    auto c = child_of(f);
    exec_body(s.else_body, c.get());
    return;
  }
  const int64_t n = static_cast<int64_t>(items.size());
  for (int64_t k = 0; k < n; ++k) {
    count_iterations(1);
    auto c = child_of(f);
    Value loop = Value::make_dict();
    auto set = [&](const char* key, Value v) { loop.dict->items.emplace_back(Value::string(key), std::move(v)); };
    set("index", Value::integer(k + 1));
    set("index0", Value::integer(k));
    set("revindex", Value::integer(n - k));
    set("revindex0", Value::integer(n - k - 1));
    set("first", Value::boolean(k == 0));
    set("last", Value::boolean(k == n - 1));
    set("length", Value::integer(n));
    set("depth", Value::integer(1));
    set("depth0", Value::integer(0));
    set("previtem", k > 0 ? items[static_cast<size_t>(k - 1)] : Value::undefined("there is no previous item"));
    set("nextitem", k + 1 < n ? items[static_cast<size_t>(k + 1)] : Value::undefined("there is no next item"));
    set("cycle", Value::callable("cycle", [k](CallArgs& args, CallKwargs&) -> Value {
          if (args.empty()) throw_runtime("no items for cycling given");
          return args[static_cast<size_t>(k) % args.size()];
        }));
    c->vars["loop"] = std::move(loop);
    assign(*s.target, items[static_cast<size_t>(k)], c.get());
    try {
      exec_body(s.body, c.get());
    } catch (const BreakSignal&) {
      return;
    } catch (const ContinueSignal&) {
    }
  }
}

Value Renderer::make_macro(const Stmt& s, Frame* def_frame) {
  std::weak_ptr<Frame> weak = def_frame->shared_from_this();
  const Stmt* sp = &s;
  return Value::callable(s.name, [this, sp, weak](CallArgs& args, CallKwargs& kwargs) -> Value {
    auto frame = weak.lock();
    if (!frame) throw_runtime("macro '" + sp->name + "' called outside of its scope");
    Value caller;
    for (auto it = kwargs.begin(); it != kwargs.end(); ++it) {
      if (it->first == "caller") {
        caller = it->second;
        kwargs.erase(it);
        break;
      }
    }
    return invoke_macro(*sp, frame, args, kwargs, caller.is_undefined() ? nullptr : &caller);
  });
}

Value Renderer::invoke_macro(const Stmt& s, const std::shared_ptr<Frame>& def_frame, CallArgs& args,
                             CallKwargs& kwargs, const Value* caller) {
  if (++call_depth_ > limits_.max_call_depth) {
    --call_depth_;
    limit_error("maximum macro recursion depth exceeded");
  }
  struct Guard {
    int* d;
    ~Guard() { --*d; }
  } guard{&call_depth_};
  auto c = std::make_shared<Frame>();
  c->parent = def_frame;
  size_t n_params = s.params.size();
  size_t first_default = n_params - s.defaults.size();
  std::vector<bool> bound(n_params, false);
  for (size_t k = 0; k < args.size() && k < n_params; ++k) {
    c->vars[s.params[k]] = args[k];
    bound[k] = true;
  }
  Value kw_rest = Value::make_dict();
  for (auto& [key, v] : kwargs) {
    size_t k = 0;
    while (k < n_params && s.params[k] != key) ++k;
    if (k < n_params) {
      if (bound[k]) throw_runtime("macro '" + s.name + "' got multiple values for argument '" + key + "'");
      c->vars[key] = v;
      bound[k] = true;
    } else {
      kw_rest.dict->set(Value::string(key), v);
    }
  }
  for (size_t k = 0; k < n_params; ++k) {
    if (bound[k]) continue;
    if (k >= first_default) {
      c->vars[s.params[k]] = eval(*s.defaults[k - first_default], c.get());
    } else {
      c->vars[s.params[k]] = Value::undefined("parameter '" + s.params[k] + "' was not provided");
    }
  }
  List extra;
  for (size_t k = n_params; k < args.size(); ++k) extra.push_back(args[k]);
  c->vars["varargs"] = Value::make_list(std::move(extra), true);
  c->vars["kwargs"] = kw_rest;
  if (caller) c->vars["caller"] = *caller;
  return Value::string(capture(s.body, c.get()));
}

void Renderer::exec_call_block(const Stmt& s, Frame* f) {
  std::weak_ptr<Frame> weak = f->shared_from_this();
  const Stmt* sp = &s;
  Value caller = Value::callable("caller", [this, sp, weak](CallArgs& args, CallKwargs& kwargs) -> Value {
    auto frame = weak.lock();
    if (!frame) throw_runtime("caller() used outside of its call block");
    const Stmt& use = *sp;
    if (++call_depth_ > limits_.max_call_depth) {
      --call_depth_;
      throw TemplateException{ErrorKind::kLimit, "maximum macro recursion depth exceeded"};
    }
    struct Guard {
      int* d;
      ~Guard() { --*d; }
    } guard{&call_depth_};
    auto c = std::make_shared<Frame>();
    c->parent = frame;
    size_t first_default = use.params.size() - use.defaults.size();
    for (size_t k = 0; k < use.params.size(); ++k) {
      if (k < args.size()) {
        c->vars[use.params[k]] = args[k];
      } else {
        bool found = false;
        for (auto& [key, v] : kwargs) {
          if (key == use.params[k]) {
            c->vars[key] = v;
            found = true;
          }
        }
        if (!found) {
          c->vars[use.params[k]] = k >= first_default ? eval(*use.defaults[k - first_default], c.get())
                                                      : Value::undefined("parameter '" + use.params[k] + "' was not provided");
        }
      }
    }
    return Value::string(capture(use.body, c.get()));
  });
  const Expr& call = *s.expr;
  Value callee = eval(*call.children[0], f);
  CallArgs args;
  CallKwargs kwargs;
  eval_args(call, f, &args, &kwargs);
  kwargs.emplace_back("caller", caller);
  write(to_str(call_value(callee, args, kwargs)));
}

Value Renderer::call_value(const Value& callee, CallArgs& args, CallKwargs& kwargs) {
  if (callee.is_undefined()) fail_undefined(callee);
  if (callee.kind != Kind::kCallable) throw_runtime("'" + type_name(callee) + "' object is not callable");
  return callee.fn->fn(args, kwargs);
}

void Renderer::eval_args(const Expr& e, Frame* f, CallArgs* args, CallKwargs* kwargs) {
  for (const auto& a : e.args) args->push_back(eval(*a, f));
  for (const auto& [k, a] : e.kwargs) kwargs->emplace_back(k, eval(*a, f));
  if (e.dyn_args) {
    for (Value& v : iterate(eval(*e.dyn_args, f))) args->push_back(std::move(v));
  }
  if (e.dyn_kwargs) {
    Value d = eval(*e.dyn_kwargs, f);
    if (!d.is_mapping()) throw_runtime("argument after ** must be a mapping");
    for (auto& [k, v] : d.dict->items) {
      if (!k.is_string()) throw_runtime("keywords must be strings");
      kwargs->emplace_back(k.s, v);
    }
  }
}

Value Renderer::eval_call(const Expr& e, Frame* f) {
  const Expr& callee = *e.children[0];
  CallArgs args;
  CallKwargs kwargs;
  if (callee.kind == ExprKind::kGetattr) {
    Value obj = eval(*callee.children[0], f);
    eval_args(e, f, &args, &kwargs);
    bool found = false;
    Value r = call_method(obj, callee.name, args, kwargs, &found);
    if (found) return r;
    Value fn = get_attr(obj, callee.name);
    return call_value(fn, args, kwargs);
  }
  Value fn = eval(callee, f);
  eval_args(e, f, &args, &kwargs);
  return call_value(fn, args, kwargs);
}

Value Renderer::apply_filter(const std::string& name, Value subject, CallArgs& args, CallKwargs& kwargs) {
  return run_filter(*this, name, std::move(subject), args, kwargs);
}

bool Renderer::apply_test(const std::string& name, const Value& subject, CallArgs& args, CallKwargs& kwargs) {
  return run_test(*this, name, subject, args, kwargs);
}

Value Renderer::eval_filter(const Expr& e, Frame* f, Value subject) {
  // e is a filter chain whose innermost subject is null (filter blocks, set blocks).
  if (e.children[0]) subject = eval_filter(*e.children[0], f, std::move(subject));
  CallArgs args;
  CallKwargs kwargs;
  eval_args(e, f, &args, &kwargs);
  return run_filter(*this, e.name, std::move(subject), args, kwargs);
}

Value Renderer::eval(const Expr& e, Frame* f) {
  if (++steps_ > limits_.max_steps) limit_error("template exceeds the evaluation step limit");
  switch (e.kind) {
    case ExprKind::kConst:
      return e.value;
    case ExprKind::kName:
      return lookup(e.name, f);
    case ExprKind::kList:
    case ExprKind::kTuple: {
      List items;
      for (const auto& c : e.children) items.push_back(eval(*c, f));
      return Value::make_list(std::move(items), e.kind == ExprKind::kTuple);
    }
    case ExprKind::kDict: {
      Value d = Value::make_dict();
      for (size_t k = 0; k + 1 < e.children.size(); k += 2) {
        Value key = eval(*e.children[k], f);
        hash_key(key);  // unhashable keys fail like Python
        d.dict->set(std::move(key), eval(*e.children[k + 1], f));
      }
      return d;
    }
    case ExprKind::kGetattr:
      return get_attr(eval(*e.children[0], f), e.name);
    case ExprKind::kGetitem: {
      Value obj = eval(*e.children[0], f);
      const Expr& idx = *e.children[1];
      if (idx.kind == ExprKind::kSlice) {
        auto part = [&](size_t k) { return idx.children[k] ? eval(*idx.children[k], f) : Value::none(); };
        Value a = part(0), b = part(1), c = part(2);
        return slice_value(obj, a, b, c);
      }
      return get_item(obj, eval(idx, f));
    }
    case ExprKind::kSlice:
      throw_runtime("slice outside of a subscript");
    case ExprKind::kCall:
      return eval_call(e, f);
    case ExprKind::kFilter: {
      Value subject = e.children[0] ? eval(*e.children[0], f) : Value::undefined();
      CallArgs args;
      CallKwargs kwargs;
      eval_args(e, f, &args, &kwargs);
      return run_filter(*this, e.name, std::move(subject), args, kwargs);
    }
    case ExprKind::kTest: {
      Value subject = eval(*e.children[0], f);
      CallArgs args;
      CallKwargs kwargs;
      eval_args(e, f, &args, &kwargs);
      return Value::boolean(run_test(*this, e.name, subject, args, kwargs));
    }
    case ExprKind::kNeg:
    case ExprKind::kPos: {
      Value v = eval(*e.children[0], f);
      require_defined(v);
      if (!v.is_number()) {
        throw_runtime(std::string("bad operand type for unary ") + (e.kind == ExprKind::kNeg ? "-" : "+") +
                      ": '" + type_name(v) + "'");
      }
      if (e.kind == ExprKind::kPos) return v.kind == Kind::kBool ? Value::integer(v.as_int()) : v;
      if (v.kind == Kind::kFloat) return Value::number(-v.f);
      if (v.as_int() == INT64_MIN) throw_runtime("integer overflow");
      return Value::integer(-v.as_int());
    }
    case ExprKind::kNot:
      return Value::boolean(!truthy(eval(*e.children[0], f)));
    case ExprKind::kAnd: {
      Value a = eval(*e.children[0], f);
      return truthy(a) ? eval(*e.children[1], f) : a;
    }
    case ExprKind::kOr: {
      Value a = eval(*e.children[0], f);
      return truthy(a) ? a : eval(*e.children[1], f);
    }
    case ExprKind::kBinary: {
      Value a = eval(*e.children[0], f);
      Value b = eval(*e.children[1], f);
      return binary_op(e.name, a, b, limits_.max_output_bytes);
    }
    case ExprKind::kConcat: {
      std::string s;
      for (const auto& c : e.children) {
        s += to_str(eval(*c, f));
        check_size(s.size());
      }
      return Value::string(std::move(s));
    }
    case ExprKind::kCompare: {
      Value left = eval(*e.children[0], f);
      for (size_t k = 0; k < e.ops.size(); ++k) {
        Value right = eval(*e.children[k + 1], f);
        const std::string& op = e.ops[k];
        bool r;
        if (op == "==") r = values_equal(left, right);
        else if (op == "!=") r = !values_equal(left, right);
        else if (op == "<") r = value_less(left, right);
        else if (op == ">") r = value_less(right, left);
        else if (op == "<=") r = value_less(left, right) || values_equal(left, right);
        else if (op == ">=") r = value_less(right, left) || values_equal(left, right);
        else if (op == "in") r = contains(right, left);
        else r = !contains(right, left);
        if (!r) return Value::boolean(false);
        left = std::move(right);
      }
      return Value::boolean(true);
    }
    case ExprKind::kCondExpr: {
      if (truthy(eval(*e.children[1], f))) return eval(*e.children[0], f);
      if (e.children[2]) return eval(*e.children[2], f);
      return Value::undefined("the inline if-expression evaluated to false and no else section was defined.");
    }
  }
  return Value::undefined();
}

}  // namespace mlxm::jinja
