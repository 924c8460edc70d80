// Serving settings read from the environment (model_load_options_from_env): the token delivery
// mode (MLX_SERVER_ASYNC_DELIVERY) and a bad value's error.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "serving/model_instance.h"

namespace mlxm::serving {
namespace {

using Delivery = EngineLoopOptions::Delivery;

// Sets (or, with nullptr, unsets) MLX_SERVER_ASYNC_DELIVERY for one scope.
class DeliveryEnv {
 public:
  explicit DeliveryEnv(const char* v) {
    if (v != nullptr) {
      setenv(kName, v, 1);
    } else {
      unsetenv(kName);
    }
  }
  ~DeliveryEnv() { unsetenv(kName); }

 private:
  static constexpr const char* kName = "MLX_SERVER_ASYNC_DELIVERY";
};

TEST(ModelLoadOptionsTest, DeliveryModeFromTheEnvironment) {
  struct Want {
    const char* value;
    Delivery delivery;
  };
  for (const Want& w : {Want{nullptr, Delivery::kAuto}, Want{"auto", Delivery::kAuto},
                        Want{"1", Delivery::kThread}, Want{"on", Delivery::kThread},
                        Want{"true", Delivery::kThread}, Want{"0", Delivery::kInline},
                        Want{"off", Delivery::kInline}, Want{"false", Delivery::kInline}}) {
    DeliveryEnv env(w.value);
    auto o = model_load_options_from_env();
    ASSERT_TRUE(o.ok()) << (w.value ? w.value : "(unset)") << ": " << o.status().to_string();
    EXPECT_EQ(o->loop.delivery, w.delivery) << (w.value ? w.value : "(unset)");
  }
}

TEST(ModelLoadOptionsTest, BadDeliveryModeIsAnErrorNamingTheVariable) {
  DeliveryEnv env("sometimes");
  auto o = model_load_options_from_env();
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.status().code(), StatusCode::kInvalidArgument);
  const std::string msg = o.status().to_string();
  EXPECT_NE(msg.find("MLX_SERVER_ASYNC_DELIVERY"), std::string::npos) << msg;
  EXPECT_NE(msg.find("sometimes"), std::string::npos) << msg;
}

}  // namespace
}  // namespace mlxm::serving
