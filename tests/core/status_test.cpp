#include "core/status.h"

#include <gtest/gtest.h>

namespace mlxm {
namespace {

Result<int> half(int x) {
  if (x % 2 != 0) return invalid_argument("odd: " + std::to_string(x));
  return x / 2;
}

Result<int> quarter(int x) {
  MLXM_ASSIGN_OR_RETURN(int h, half(x));
  return half(h);
}

Status check_even(int x) {
  MLXM_RETURN_IF_ERROR(half(x).status());
  return ok_status();
}

TEST(StatusTest, OkAndErrors) {
  EXPECT_TRUE(ok_status().ok());
  Status s = not_found("model x");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.to_string(), "NotFound: model x");
  EXPECT_EQ(s.with_context("loading").message(), "loading: model x");
}

TEST(StatusTest, ResultPropagates) {
  EXPECT_EQ(quarter(8).value(), 2);
  auto r = quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "odd: 3");
  EXPECT_TRUE(check_even(4).ok());
  EXPECT_EQ(check_even(5).code(), StatusCode::kInvalidArgument);
}

TEST(StatusDeathTest, ValueOfErrorAborts) {
  auto r = half(3);
  EXPECT_DEATH((void)r.value(), "MLXM_CHECK failed");
}

}  // namespace
}  // namespace mlxm
