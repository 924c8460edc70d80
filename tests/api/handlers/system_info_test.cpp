#include "api/handlers/system_info.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/cpu_features.h"

namespace mlxm::handlers {
namespace {

TEST(SystemInfo, ParsesMeminfo) {
  auto j =
      parse_meminfo("MemTotal:       16318480 kB\nMemFree:  1 kB\nMemAvailable:   9000000 kB\n");
  EXPECT_EQ(j["total_bytes"], int64_t{16318480} * 1024);
  EXPECT_EQ(j["available_bytes"], int64_t{9000000} * 1024);
  auto no_avail = parse_meminfo("MemTotal: 10 kB\n");
  EXPECT_EQ(no_avail["total_bytes"], 10240);
  EXPECT_TRUE(no_avail["available_bytes"].is_null());
  EXPECT_TRUE(parse_meminfo("").is_null());
  EXPECT_TRUE(parse_meminfo("garbage\nMemFree: x\n").is_null());
}

TEST(SystemInfo, RouteReportsBuildCpuMemoryAndGpus) {
  http::Router router;
  const int64_t started = unix_ms() - 5000;
  register_system_info_route(
      router, {.version = "9.8.7",
               .build_type = "Release",
               .cuda_compiled = true,
               .gpus =
                   [] {
                     return nlohmann::json::array({{{"name", "Fake GPU"}, {"total_bytes", 1024}}});
                   },
               .cuda_unavailable_reason = [] { return std::string(); },
               .started_ms = started});
  auto m = router.match("GET", "/api/system");
  ASSERT_EQ(m.kind, http::RouteMatch::Kind::kFound);
  http::HttpRequest req;
  req.method = "GET";
  req.path = "/api/system";
  auto r = m.route->handler(req);
  EXPECT_EQ(r.status, 200);
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["version"], "9.8.7");
  EXPECT_EQ(j["build_type"], "Release");
  EXPECT_EQ(j["cuda"]["compiled"], true);
  ASSERT_EQ(j["cuda"]["devices"].size(), 1u);
  EXPECT_EQ(j["cuda"]["devices"][0]["name"], "Fake GPU");
  EXPECT_TRUE(j["cuda"]["unavailable_reason"].is_null());
  const CpuFeatures& f = cpu_features();
  EXPECT_EQ(j["cpu"]["logical_cores"], f.n_logical_cores);
  EXPECT_EQ(j["cpu"]["model"], f.model_name);
  std::string joined;
  for (const auto& name : j["cpu"]["features"])
    joined += (joined.empty() ? "" : " ") + name.get<std::string>();
  EXPECT_EQ(joined, cpu_features_string(f));
  ASSERT_TRUE(j["memory"].is_object());  // Linux: /proc/meminfo is there
  EXPECT_GT(j["memory"]["total_bytes"].get<int64_t>(), 0);
  EXPECT_EQ(j["process"]["pid"], static_cast<int64_t>(getpid()));
  EXPECT_GT(j["process"]["rss_bytes"].get<int64_t>(), 0);
  EXPECT_GE(j["process"]["uptime_s"].get<int64_t>(), 4);
  EXPECT_EQ(j["process"]["started_at"], started / 1000);
}

TEST(SystemInfo, NoGpuFunctionMeansEmptyDeviceList) {
  SystemInfoDeps deps;
  deps.version = "1";
  auto j = system_info_json(deps);
  EXPECT_EQ(j["cuda"]["compiled"], false);
  EXPECT_TRUE(j["cuda"]["devices"].is_array());
  EXPECT_TRUE(j["cuda"]["devices"].empty());
  EXPECT_FALSE(j["process"].contains("uptime_s"));
  EXPECT_FALSE(j["cuda"].contains("unavailable_reason"));
  deps.cuda_unavailable_reason = [] { return std::string("built without CUDA"); };
  EXPECT_EQ(system_info_json(deps)["cuda"]["unavailable_reason"], "built without CUDA");
}

}  // namespace
}  // namespace mlxm::handlers
