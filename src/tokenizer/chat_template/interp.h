// Internal: the tree-walking renderer and the built-in filters, tests, methods and globals.
// One Renderer per render call (not shared between threads); the Template it walks is immutable.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/chat_template/ast.h"
#include "tokenizer/chat_template/value.h"

namespace mlxm::jinja {

struct Limits {
  size_t max_output_bytes = 64u << 20;   // also caps any single string or list built
  int64_t max_loop_iterations = 1'000'000;  // summed over all loops of one render
  int max_call_depth = 200;              // macro / caller nesting
  int64_t max_steps = 50'000'000;        // expression evaluations
};

// A variable scope. Frames are shared so that macros and caller() can keep the scope they were
// defined in alive only as long as needed; closures hold weak references (no cycles).
struct Frame : std::enable_shared_from_this<Frame> {
  std::unordered_map<std::string, Value> vars;
  std::shared_ptr<Frame> parent;
};

class Renderer {
 public:
  Renderer(const Limits& limits, std::shared_ptr<Frame> globals);
  std::string render(const Template& tpl);

  // Used by builtins.
  Value call_value(const Value& callee, CallArgs& args, CallKwargs& kwargs);
  Value apply_filter(const std::string& name, Value subject, CallArgs& args, CallKwargs& kwargs);
  bool apply_test(const std::string& name, const Value& subject, CallArgs& args, CallKwargs& kwargs);
  void check_size(size_t n) const;
  void count_iterations(int64_t n);
  const Limits& limits() const { return limits_; }

 private:
  void exec_body(const Body& body, Frame* f);
  void exec(const Stmt& s, Frame* f);
  void exec_for(const Stmt& s, Frame* f);
  void exec_call_block(const Stmt& s, Frame* f);
  Value eval(const Expr& e, Frame* f);
  Value eval_call(const Expr& e, Frame* f);
  void eval_args(const Expr& e, Frame* f, CallArgs* args, CallKwargs* kwargs);
  Value eval_filter(const Expr& e, Frame* f, Value subject);
  void assign(const Expr& target, Value v, Frame* f);
  Value lookup(const std::string& name, Frame* f);
  Value make_macro(const Stmt& s, Frame* def_frame);
  Value invoke_macro(const Stmt& s, const std::shared_ptr<Frame>& def_frame, CallArgs& args,
                     CallKwargs& kwargs, const Value* caller);
  std::string capture(const Body& body, Frame* f);
  void write(const std::string& s);

  const Limits& limits_;
  std::shared_ptr<Frame> root_;
  std::string* out_ = nullptr;
  int call_depth_ = 0;
  int64_t iterations_ = 0;
  int64_t steps_ = 0;
};

// Control flow for break/continue.
struct BreakSignal {};
struct ContinueSignal {};

// builtins.cpp
Value get_attr(const Value& obj, const std::string& name);
Value get_item(const Value& obj, const Value& key);
Value slice_value(const Value& obj, const Value& start, const Value& stop, const Value& step);
Value call_method(const Value& obj, const std::string& name, CallArgs& args,
                  CallKwargs& kwargs, bool* found);
std::vector<Value> iterate(const Value& v);
bool contains(const Value& container, const Value& item);
// max_bytes caps strings/lists built by + and *.
Value binary_op(const std::string& op, const Value& a, const Value& b, size_t max_bytes);
bool has_filter(const std::string& name);
bool has_test(const std::string& name);
Value run_filter(Renderer& r, const std::string& name, Value subject, CallArgs& args, CallKwargs& kwargs);
bool run_test(Renderer& r, const std::string& name, const Value& subject, CallArgs& args,
              CallKwargs& kwargs);
std::string to_json(const Value& v, const Value& indent, const Value& separators, bool sort_keys);
void install_globals(Frame* globals, const std::string& now_iso);

}  // namespace mlxm::jinja
