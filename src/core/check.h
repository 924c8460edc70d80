// Always-on invariant checks: a failed check is a bug; it prints file:line and aborts.
#pragma once

namespace mlxm::detail {
[[noreturn]] void check_failed(const char* file, int line, const char* expr, const char* msg);
}  // namespace mlxm::detail

#define MLXM_CHECK(cond)                                                       \
  do {                                                                         \
    if (__builtin_expect(!(cond), 0))                                          \
      ::mlxm::detail::check_failed(__FILE__, __LINE__, #cond, nullptr);        \
  } while (0)

#define MLXM_CHECK_MSG(cond, msg)                                              \
  do {                                                                         \
    if (__builtin_expect(!(cond), 0))                                          \
      ::mlxm::detail::check_failed(__FILE__, __LINE__, #cond, (msg));          \
  } while (0)
