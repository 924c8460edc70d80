#include "pool/model_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "pool/memory.h"
#include "pool/pool_test_util.h"
#include "serving/model_instance.h"
#include "test_support/sanitizer.h"

namespace fs = std::filesystem;

namespace mlxm::pool {
namespace {

using testing::TempDir;

constexpr size_t kKvBytes = 160ull << 20;  // KV reservation per model: dominates the accounting

class PoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(tmp_ / "models");
    for (int i = 0; i < 3; ++i) testing::make_tiny_model(tmp_ / ("models/m" + std::to_string(i)), 10 + i);
    rcfg_.model_dirs = {tmp_ / "models"};
    pcfg_.load_options.engine.kv_budget_bytes = kKvBytes;
    pcfg_.load_options.engine.n_threads = 1;
    pcfg_.load_options.max_model_len_cap = 256;
    pcfg_.evict_wait = std::chrono::milliseconds(100);
  }
  // A budget that fits two models and not three: 2.5 x the KV reservation, with the small
  // measured weights + runtime bytes well inside the half-model slack.
  std::unique_ptr<ModelPool> make_pool(uint64_t budget = kKvBytes * 5 / 2) {
    pcfg_.budget_bytes = budget;
    return std::make_unique<ModelPool>(pcfg_, rcfg_);
  }
  static std::vector<std::string> loaded_ids(ModelPool& p) {
    std::vector<std::string> ids;
    for (const auto& m : p.status().models) {
      if (m.state == "loaded") ids.push_back(m.id);
    }
    return ids;
  }

  TempDir tmp_;
  ResolverConfig rcfg_;
  PoolConfig pcfg_;
};

TEST_F(PoolTest, AccountsMeasuredBytes) {
  auto pool = make_pool(4ull << 30);
  auto m = pool->get("m0");
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  auto st = pool->model_status("m0");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->state, "loaded");
  EXPECT_EQ(st->weight_bytes, (*m)->loop().engine().weight_bytes());
  EXPECT_EQ(st->kv_bytes, (*m)->loop().engine().kv_bytes());
  EXPECT_GE(st->kv_bytes, kKvBytes - (1 << 20));
  EXPECT_EQ(st->bytes, st->weight_bytes + st->kv_bytes + st->runtime_bytes);
  EXPECT_GT(st->weight_bytes, 0u);
  if (!test_support::kUnderAsan) {  // test_support/sanitizer.h
    EXPECT_LT(st->weight_bytes + st->runtime_bytes, kKvBytes / 4) << "slack of the budget tests";
  }
  EXPECT_EQ(pool->status().used_bytes, st->bytes);
}

TEST_F(PoolTest, KvSizedForSequencesTimesContext) {
  pcfg_.load_options.kv_sequences = 3;  // 3 sequences x the served context (256, the cap)
  pcfg_.load_options.scheduler.max_model_len = 0;  // the model's own length, capped
  auto pool = make_pool(4ull << 30);
  auto m = pool->get("m1");
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  const auto& eng = (*m)->loop().engine();
  EXPECT_EQ((*m)->max_model_len(), 256);
  const int64_t block = eng.block_size();
  EXPECT_EQ(eng.n_kv_blocks(), (3 * 256 + block - 1) / block);
  // The pool's estimate before loading is what the engine then reserved.
  auto planned = serving::planned_kv_bytes(tmp_ / "models/m1", pcfg_.load_options);
  ASSERT_TRUE(planned.ok()) << planned.status().to_string();
  EXPECT_EQ(*planned, eng.kv_bytes());
  auto st = pool->model_status("m1");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->kv_bytes, eng.kv_bytes());
  // A missing config.json is an error, not a guess.
  EXPECT_FALSE(serving::planned_kv_bytes(tmp_ / "nowhere", pcfg_.load_options).ok());
}

TEST(DeviceBudget, DefaultLeavesTenPercentAndEnvStillWins) {
  unsetenv("MLX_SERVER_MAX_MEMORY_GB");
  unsetenv("MLX_SERVER_MEMORY_LIMIT_PERCENT");
  const uint64_t total = 100ull << 30;
  auto b = device_memory_budget_from_env(total);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->bytes, total - total / 10);
  EXPECT_EQ(b->source, "default (GPU memory)");
  auto small = device_memory_budget_from_env(4ull << 30);  // 1 GiB floor
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->bytes, 3ull << 30);
  setenv("MLX_SERVER_MEMORY_LIMIT_PERCENT", "50", 1);
  auto pct = device_memory_budget_from_env(total);
  unsetenv("MLX_SERVER_MEMORY_LIMIT_PERCENT");
  ASSERT_TRUE(pct.ok());
  EXPECT_EQ(pct->bytes, total / 2);
  EXPECT_EQ(pct->source, "MLX_SERVER_MEMORY_LIMIT_PERCENT (GPU memory)");
}

TEST_F(PoolTest, EvictsLeastRecentlyUsed) {
  MLXM_SKIP_BUDGET_TEST_UNDER_ASAN();
  auto pool = make_pool();
  ASSERT_TRUE(pool->get("m0").ok());
  ASSERT_TRUE(pool->get("m1").ok());
  ASSERT_TRUE(pool->get("m0").ok());  // m1 is now the least recently used
  ASSERT_TRUE(pool->get("m2").ok());
  auto ids = loaded_ids(*pool);
  EXPECT_EQ(ids, (std::vector<std::string>{"m0", "m2"}));
  EXPECT_EQ(pool->status().n_evictions, 1u);
  ASSERT_TRUE(pool->get("m1").ok());  // evicts m0 (m2 used after it)
  EXPECT_EQ(loaded_ids(*pool), (std::vector<std::string>{"m1", "m2"}));
  EXPECT_LE(pool->status().used_bytes, pool->status().budget_bytes);
}

TEST_F(PoolTest, PinnedModelsAreNeverEvicted) {
  MLXM_SKIP_BUDGET_TEST_UNDER_ASAN();
  auto pool = make_pool();
  ASSERT_TRUE(pool->preload("m0").ok());
  ASSERT_TRUE(pool->get("m1").ok());
  ASSERT_TRUE(pool->get("m2").ok());  // m0 is older but pinned: m1 goes
  EXPECT_EQ(loaded_ids(*pool), (std::vector<std::string>{"m0", "m2"}));
  ASSERT_TRUE(pool->get("m1").ok());
  EXPECT_EQ(loaded_ids(*pool), (std::vector<std::string>{"m0", "m1"}));
  ASSERT_TRUE(pool->unload("m0").ok());  // unpins and frees
  EXPECT_EQ(loaded_ids(*pool), (std::vector<std::string>{"m1"}));
}

TEST_F(PoolTest, ModelsInUseAreNeverEvictedAndNothingEvictableIs503) {
  MLXM_SKIP_BUDGET_TEST_UNDER_ASAN();
  auto pool = make_pool();
  auto a = pool->get("m0");
  auto b = pool->get("m1");
  ASSERT_TRUE(a.ok() && b.ok());
  // Both held (as handlers hold them during a request): m2 cannot fit.
  auto c = pool->get("m2");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(c.status().message().find("m0 (in use)"), std::string::npos) << c.status().message();
  EXPECT_EQ(loaded_ids(*pool), (std::vector<std::string>{"m0", "m1"}));  // nothing was evicted
  EXPECT_TRUE(pool->model_status("m2").status().code() == StatusCode::kUnavailable);
  b->reset();  // m1's request ended
  auto c2 = pool->get("m2");
  ASSERT_TRUE(c2.ok()) << c2.status().to_string();
  EXPECT_EQ(loaded_ids(*pool), (std::vector<std::string>{"m0", "m2"}));
}

TEST_F(PoolTest, ModelLargerThanBudgetIsRejected) {
  auto pool = make_pool(kKvBytes / 2);
  auto r = pool->get("m0");
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(r.status().message().find("whole memory budget"), std::string::npos);
  EXPECT_EQ(pool->status().used_bytes, 0u);
}

TEST_F(PoolTest, ConcurrentFirstRequestsShareOneLoad) {
  auto pool = make_pool();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  std::vector<serving::ModelInstance*> got(6, nullptr);
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] {
      auto m = pool->get("m1");
      if (m.ok()) {
        ++ok;
        got[i] = m->get();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 6);
  for (auto* p : got) EXPECT_EQ(p, got[0]);
  EXPECT_EQ(pool->status().n_loads, 1u);
}

TEST_F(PoolTest, FailedLoadReportsCauseAndLeavesPoolConsistent) {
  MLXM_SKIP_BUDGET_TEST_UNDER_ASAN();
  fs::create_directories(tmp_ / "models/bad");
  std::ofstream(tmp_ / "models/bad/config.json") << "{\"architectures\": [\"NopeForCausalLM\"]}";
  auto pool = make_pool();
  ASSERT_TRUE(pool->get("m0").ok());
  auto r = pool->get("bad");
  ASSERT_FALSE(r.ok());
  auto s = pool->status();
  EXPECT_EQ(s.n_load_failures, 1u);
  ASSERT_TRUE(s.last_errors.count("bad"));
  EXPECT_EQ(loaded_ids(*pool), (std::vector<std::string>{"m0"}));
  EXPECT_EQ(s.used_bytes, s.models[0].bytes);
  ASSERT_TRUE(pool->get("m1").ok());  // the pool still works
}

TEST_F(PoolTest, UnloadOfModelInUseFreesWhenReleased) {
  auto pool = make_pool();
  auto a = pool->get("m0");
  ASSERT_TRUE(a.ok());
  auto freed = pool->unload("m0");
  ASSERT_TRUE(freed.ok());
  EXPECT_FALSE(*freed);
  {
    auto s = pool->status();  // (holds the instance while in scope, as a handler would)
    ASSERT_EQ(s.models.size(), 1u);
    EXPECT_EQ(s.models[0].state, "unloading");
    EXPECT_GT(s.used_bytes, 0u);  // still counted
  }
  std::weak_ptr<serving::ModelInstance> weak = *a;
  a->reset();
  EXPECT_TRUE(testing::eventually_true([&] { return pool->status().models.empty(); }));
  EXPECT_TRUE(weak.expired());
  EXPECT_EQ(pool->status().used_bytes, 0u);
  EXPECT_EQ(pool->unload("m0").status().code(), StatusCode::kNotFound);
}

TEST_F(PoolTest, IdleModelsUnloadAfterTtl) {
  pcfg_.ttl = std::chrono::seconds(1);
  auto pool = make_pool();
  ASSERT_TRUE(pool->get("m0").ok());
  ASSERT_TRUE(pool->preload("m1").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(1600));
  EXPECT_EQ(loaded_ids(*pool), (std::vector<std::string>{"m1"}));  // pinned stays
}

TEST_F(PoolTest, DefaultModel) {
  auto pool = make_pool();
  EXPECT_EQ(pool->get("").status().code(), StatusCode::kInvalidArgument);
  pcfg_.default_model = "m2";
  auto pool2 = make_pool();
  auto m = pool2->get("");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ((*m)->name(), "m2");
}

TEST_F(PoolTest, EscapingIdsAreInvalidArgument) {
  auto pool = make_pool();
  EXPECT_EQ(pool->get("../models/m0").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(pool->get("/etc").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(pool->preload("m0/../../x").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(pool->unload("..").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mlxm::pool
