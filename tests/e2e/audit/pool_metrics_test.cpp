// The model-pool metrics fed at each scrape of /metrics: pool memory, model loads with their
// duration, and the budget changed live through /api/settings/server.
#include <gtest/gtest.h>

#include <filesystem>

#include "e2e/openai/openai_fixture.h"
#include "telemetry/prom_parser.h"

namespace mlxm::e2e {
namespace {

TEST(PoolMetricsE2E, LoadsAndPoolMemoryAreExported) {
  ServerProcess server(model_server(tiny_model_dir()));
  ASSERT_TRUE(server.ok()) << server.error();
  const std::string model = std::filesystem::path(tiny_model_dir()).filename().string();
  auto r = server.get("/metrics");
  ASSERT_EQ(r.status, 200);
  auto p = mlxm::testing::parse_prometheus_text(r.body);
  ASSERT_TRUE(p.ok()) << p.error << "\n" << r.body;
  const std::map<std::string, std::string> mb = {{"model", model}, {"backend", "local"}};
  EXPECT_EQ(p.value("mlx_model_loads_total", mb), 1) << r.body;
  EXPECT_EQ(p.value("mlx_model_load_duration_seconds_count", mb), 1) << r.body;
  EXPECT_GT(p.value("mlx_model_load_duration_seconds_sum", mb), 0) << r.body;
  EXPECT_GT(p.value("mlx_pool_memory_used_bytes", {}), 0) << r.body;
  EXPECT_GT(p.value("mlx_pool_memory_budget_bytes", {}), 0) << r.body;

  // A second scrape does not count the same load again; a live budget change shows up.
  auto put = server.request("PUT", "/api/settings/server", R"({"pool_budget_mb": 4096})",
                            {{"Content-Type", "application/json"}});
  ASSERT_EQ(put.status, 200) << put.body;
  auto r2 = server.get("/metrics");
  auto p2 = mlxm::testing::parse_prometheus_text(r2.body);
  ASSERT_TRUE(p2.ok()) << p2.error;
  EXPECT_EQ(p2.value("mlx_model_loads_total", mb), 1);
  EXPECT_EQ(p2.value("mlx_pool_memory_budget_bytes", {}), 4096.0 * 1024 * 1024);
}

}  // namespace
}  // namespace mlxm::e2e
