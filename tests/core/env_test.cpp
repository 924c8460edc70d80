#include "core/env.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace mlxm {
namespace {

class EnvTest : public ::testing::Test {
 protected:
  void TearDown() override { unsetenv("MLXM_TEST_VAR"); }
  void set(const char* v) { setenv("MLXM_TEST_VAR", v, 1); }
};

TEST_F(EnvTest, UnsetGivesFallback) {
  EXPECT_EQ(env_int("MLXM_TEST_VAR", 7).value(), 7);
  EXPECT_EQ(env_string("MLXM_TEST_VAR", "x"), "x");
  EXPECT_TRUE(env_bool("MLXM_TEST_VAR", true).value());
}

TEST_F(EnvTest, IntegersParsedAndChecked) {
  set("42");
  EXPECT_EQ(env_int("MLXM_TEST_VAR", 0).value(), 42);
  set("42x");
  auto r = env_int("MLXM_TEST_VAR", 0);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("MLXM_TEST_VAR"), std::string::npos);
  set("70000");
  EXPECT_FALSE(env_int("MLXM_TEST_VAR", 0, 1, 65535).ok());
}

TEST_F(EnvTest, DoublesRejectGarbage) {
  set("2.5");
  EXPECT_DOUBLE_EQ(env_double("MLXM_TEST_VAR", 0).value(), 2.5);
  set("abc");
  EXPECT_FALSE(env_double("MLXM_TEST_VAR", 0).ok());
  set("nan");
  EXPECT_FALSE(env_double("MLXM_TEST_VAR", 0).ok());
}

TEST_F(EnvTest, Booleans) {
  set("FALSE");
  EXPECT_FALSE(env_bool("MLXM_TEST_VAR", true).value());
  set("yes");
  EXPECT_TRUE(env_bool("MLXM_TEST_VAR", false).value());
  set("maybe");
  auto r = env_bool("MLXM_TEST_VAR", false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("MLXM_TEST_VAR"), std::string::npos);
}

TEST_F(EnvTest, ListsCommaOrJson) {
  set("a, b,,c");
  EXPECT_EQ(env_list("MLXM_TEST_VAR").value(), (std::vector<std::string>{"a", "b", "c"}));
  set("[\"org/x\", \"y\"]");
  EXPECT_EQ(env_list("MLXM_TEST_VAR").value(), (std::vector<std::string>{"org/x", "y"}));
  set("[\"unterminated]");
  EXPECT_FALSE(env_list("MLXM_TEST_VAR").ok());
}

}  // namespace
}  // namespace mlxm
