// Serving settings read from the environment (model_load_options_from_env): the token delivery
// mode (MLX_SERVER_ASYNC_DELIVERY), pipelined steps (MLX_SERVER_PIPELINE) and a bad value's
// error.
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
  explicit DeliveryEnv(const char* v, const char* name = "MLX_SERVER_ASYNC_DELIVERY")
      : name_(name) {
    if (v != nullptr) {
      setenv(name_, v, 1);
    } else {
      unsetenv(name_);
    }
  }
  ~DeliveryEnv() { unsetenv(name_); }

 private:
  const char* name_;
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

TEST(ModelLoadOptionsTest, PipelineModeFromTheEnvironment) {
  using Pipeline = EngineLoopOptions::Pipeline;
  struct Want {
    const char* value;
    Pipeline pipeline;
  };
  for (const Want& w : {Want{nullptr, Pipeline::kAuto}, Want{"auto", Pipeline::kAuto},
                        Want{"1", Pipeline::kOn}, Want{"on", Pipeline::kOn},
                        Want{"0", Pipeline::kOff}, Want{"false", Pipeline::kOff}}) {
    DeliveryEnv env(w.value, "MLX_SERVER_PIPELINE");
    auto o = model_load_options_from_env();
    ASSERT_TRUE(o.ok()) << (w.value ? w.value : "(unset)") << ": " << o.status().to_string();
    EXPECT_EQ(o->loop.pipeline, w.pipeline) << (w.value ? w.value : "(unset)");
  }
  DeliveryEnv env("twice", "MLX_SERVER_PIPELINE");
  auto o = model_load_options_from_env();
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(o.status().message().find("MLX_SERVER_PIPELINE"), std::string::npos);
  EXPECT_NE(o.status().message().find("twice"), std::string::npos);
}

}  // namespace
}  // namespace mlxm::serving
