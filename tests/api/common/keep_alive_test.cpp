#include "api/common/keep_alive.h"

#include <gtest/gtest.h>

namespace mlxm::api {
namespace {

using std::chrono::seconds;

std::optional<seconds> ka(const nlohmann::json& v, std::optional<ApiError>* err = nullptr) {
  std::optional<seconds> out;
  auto e = parse_keep_alive({{"keep_alive", v}}, &out);
  if (err) *err = e;
  return e ? std::nullopt : out;
}

TEST(KeepAlive, NumbersAreSecondsAndDurationsFollowGo) {
  EXPECT_EQ(ka(30), seconds(30));
  EXPECT_EQ(ka(0), seconds(0));
  EXPECT_EQ(ka(-1), seconds(-1));
  EXPECT_EQ(ka(1.5), seconds(2));  // rounds up: never shorter than asked
  EXPECT_EQ(ka("5m"), seconds(300));
  EXPECT_EQ(ka("1h30m"), seconds(5400));
  EXPECT_EQ(ka("250ms"), seconds(1));
  EXPECT_EQ(ka("0"), seconds(0));
  EXPECT_EQ(ka("-1m"), seconds(-60));
  EXPECT_EQ(ka(" 45 "), seconds(45));
  EXPECT_EQ(ka("1.5h"), seconds(5400));
}

TEST(KeepAlive, AbsentOrNullLeavesItUnset) {
  std::optional<seconds> out = seconds(9);
  EXPECT_FALSE(parse_keep_alive(nlohmann::json::object(), &out));
  EXPECT_FALSE(out.has_value());
  EXPECT_FALSE(parse_keep_alive({{"keep_alive", nullptr}}, &out));
  EXPECT_FALSE(out.has_value());
}

TEST(KeepAlive, MalformedValuesAre400NamingTheField) {
  for (const nlohmann::json& bad :
       {nlohmann::json("5 minutes"), nlohmann::json("m"), nlohmann::json("5x"), nlohmann::json(""),
        nlohmann::json("1h-5m"), nlohmann::json(true), nlohmann::json::array({1}),
        nlohmann::json(1e300), nlohmann::json("99999999h")}) {
    std::optional<ApiError> err;
    EXPECT_FALSE(ka(bad, &err).has_value()) << bad.dump();
    ASSERT_TRUE(err.has_value()) << bad.dump();
    EXPECT_EQ(err->http_status, 400);
    EXPECT_EQ(err->param, "keep_alive");
  }
}

}  // namespace
}  // namespace mlxm::api
