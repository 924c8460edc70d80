// minigtest: the small subset of GoogleTest that tests/engine/cuda uses, for the standalone
// GPU check (tools/gpu/check.sh) on machines without GoogleTest. Same macro spellings and
// semantics for: TEST, ASSERT_/EXPECT_ {TRUE, FALSE, EQ, NE, LT, LE, GT, GE}, ADD_FAILURE,
// FAIL, GTEST_SKIP, each accepting `<< message`, and ASSERT_NO_FATAL_FAILURE (stricter: any
// failure inside returns). ASSERT_* returns from the current (void) function.
// Not thread-safe (tests run one at a time on the main thread).
#pragma once

#include <cstdio>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

namespace minigtest {

struct TestCase {
  const char* suite;
  const char* name;
  void (*fn)();
};

inline std::vector<TestCase>& registry() {
  static std::vector<TestCase> r;
  return r;
}

struct State {
  int failures = 0;
  bool skipped = false;
};

inline State& state() {
  static State s;
  return s;
}

struct Registrar {
  Registrar(const char* suite, const char* name, void (*fn)()) {
    registry().push_back({suite, name, fn});
  }
};

class Message {
 public:
  template <typename T>
  Message& operator<<(const T& v) {
    if constexpr (std::is_enum_v<T>) {
      os_ << static_cast<long long>(v);
    } else {
      os_ << v;
    }
    return *this;
  }
  std::string str() const { return os_.str(); }

 private:
  std::ostringstream os_;
};

class FailureHelper {
 public:
  FailureHelper(const char* file, int line, std::string summary)
      : file_(file), line_(line), summary_(std::move(summary)) {}
  void operator=(const Message& m) const {
    ++state().failures;
    std::printf("%s:%d: Failure\n%s\n%s\n", file_, line_, summary_.c_str(), m.str().c_str());
  }

 private:
  const char* file_;
  int line_;
  std::string summary_;
};

class SkipHelper {
 public:
  SkipHelper(const char* file, int line) : file_(file), line_(line) {}
  void operator=(const Message& m) const {
    state().skipped = true;
    std::printf("%s:%d: Skipped\n%s\n", file_, line_, m.str().c_str());
  }

 private:
  const char* file_;
  int line_;
};

template <typename T>
std::string show(const T& v) {
  std::ostringstream os;
  if constexpr (std::is_enum_v<T>) {
    os << static_cast<long long>(v);
  } else if constexpr (requires { os << v; }) {
    os << v;
  } else {
    os << "(value)";
  }
  return os.str();
}

template <typename A, typename B>
std::string compare_failure(const char* op, const char* ea, const char* eb, const A& a,
                            const B& b) {
  return std::string("Expected: (") + ea + ") " + op + " (" + eb + "), actual: " + show(a) +
         " vs " + show(b);
}

// "" when pred(a, b) holds, else the failure text.
template <typename P, typename A, typename B>
std::string compare(P pred, const char* op, const char* ea, const char* eb, const A& a,
                    const B& b) {
  return pred(a, b) ? std::string() : compare_failure(op, ea, eb, a, b);
}

}  // namespace minigtest

#define MG_CAT_(a, b) a##b
#define MG_CAT(a, b) MG_CAT_(a, b)

#define TEST(suite, name)                                                              \
  static void MG_CAT(suite, MG_CAT(_, MG_CAT(name, _body)))();                         \
  static ::minigtest::Registrar MG_CAT(suite, MG_CAT(_, MG_CAT(name, _reg)))(          \
      #suite, #name, &MG_CAT(suite, MG_CAT(_, MG_CAT(name, _body))));                  \
  static void MG_CAT(suite, MG_CAT(_, MG_CAT(name, _body)))()

#define MG_FAIL_AT_(summary) ::minigtest::FailureHelper(__FILE__, __LINE__, summary) = ::minigtest::Message()

// `switch (0) case 0: default:` keeps a caller's `if (...) ASSERT_X(...); else` unambiguous.
#define MG_BOOL_(cond, text, on_fail) \
  switch (0)                          \
  case 0:                             \
  default:                            \
    if (static_cast<bool>(cond)) {    \
    } else                            \
      on_fail MG_FAIL_AT_(std::string("Value of: ") + text)

#define MG_CMP_(op, a, b, on_fail)                                                           \
  switch (0)                                                                                 \
  case 0:                                                                                    \
  default:                                                                                   \
    if (const std::string mg_msg_ = ::minigtest::compare(                                    \
            [](const auto& mg_x_, const auto& mg_y_) { return mg_x_ op mg_y_; }, #op, #a, #b, \
            (a), (b));                                                                       \
        mg_msg_.empty()) {                                                                   \
    } else                                                                                   \
      on_fail MG_FAIL_AT_(mg_msg_)

#define MG_RETURN_ return
#define MG_NOTHING_

#define ASSERT_TRUE(c) MG_BOOL_(c, #c " is false", MG_RETURN_)
#define ASSERT_FALSE(c) MG_BOOL_(!(c), #c " is true", MG_RETURN_)
#define EXPECT_TRUE(c) MG_BOOL_(c, #c " is false", MG_NOTHING_)
#define EXPECT_FALSE(c) MG_BOOL_(!(c), #c " is true", MG_NOTHING_)
#define ASSERT_EQ(a, b) MG_CMP_(==, a, b, MG_RETURN_)
#define ASSERT_NE(a, b) MG_CMP_(!=, a, b, MG_RETURN_)
#define ASSERT_LT(a, b) MG_CMP_(<, a, b, MG_RETURN_)
#define ASSERT_LE(a, b) MG_CMP_(<=, a, b, MG_RETURN_)
#define ASSERT_GT(a, b) MG_CMP_(>, a, b, MG_RETURN_)
#define ASSERT_GE(a, b) MG_CMP_(>=, a, b, MG_RETURN_)
#define EXPECT_EQ(a, b) MG_CMP_(==, a, b, MG_NOTHING_)
#define EXPECT_NE(a, b) MG_CMP_(!=, a, b, MG_NOTHING_)
#define EXPECT_LT(a, b) MG_CMP_(<, a, b, MG_NOTHING_)
#define EXPECT_LE(a, b) MG_CMP_(<=, a, b, MG_NOTHING_)
#define EXPECT_GT(a, b) MG_CMP_(>, a, b, MG_NOTHING_)
#define EXPECT_GE(a, b) MG_CMP_(>=, a, b, MG_NOTHING_)
#define ADD_FAILURE() MG_FAIL_AT_("Failed")
#define FAIL() return MG_FAIL_AT_("Failed")
// Stricter than GoogleTest: any failure inside `stmt` (EXPECT_* too) returns from the caller.
#define ASSERT_NO_FATAL_FAILURE(stmt)                                     \
  do {                                                                    \
    const int mg_before_ = ::minigtest::state().failures;                 \
    stmt;                                                                 \
    if (::minigtest::state().failures > mg_before_) return;               \
  } while (0)
#define GTEST_SKIP() return ::minigtest::SkipHelper(__FILE__, __LINE__) = ::minigtest::Message()
