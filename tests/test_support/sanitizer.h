#pragma once
// Tests that size a memory budget for an exact number of tiny models cannot hold under
// AddressSanitizer: its shadow memory and quarantine of freed blocks inflate the resident
// memory the model pool measures per model (e.g. 52 MiB of "runtime" bytes for a 2.5 MiB
// model). They run in every normal build; under `make test SANITIZE=1` they are skipped.
#include <gtest/gtest.h>

namespace mlxm::test_support {
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kUnderAsan = true;
#else
inline constexpr bool kUnderAsan = false;
#endif
}  // namespace mlxm::test_support

#define MLXM_SKIP_BUDGET_TEST_UNDER_ASAN()                                                  \
  if (::mlxm::test_support::kUnderAsan)                                                     \
  GTEST_SKIP() << "ASan inflates the measured memory this budget is sized for; runs in " \
                  "normal builds"
