// The production hub downloader against tests/pool/fake_hub.mjs (a local HTTP server speaking
// the hub's resolve/revision protocol with redirects, Range, errors and dropped connections).
#include "pool/hub/hub_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "pool/model_resolver.h"
#include "pool/pool_test_util.h"

namespace fs = std::filesystem;

namespace mlxm::pool::hub {
namespace {

using pool::testing::FakeHub;
using pool::testing::TempDir;

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class HubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("node --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "node is not installed";
    pool::testing::make_tiny_model(tmp_ / "repos/acme/tiny", 31);
    fs::create_directories(tmp_ / "hub");
    cfg_.cache_dir = tmp_ / "hub";
    cfg_.retry_base_ms = 10;
  }
  HubConfig cfg_for(const FakeHub& hub) {
    HubConfig c = cfg_;
    c.endpoint = hub.endpoint();
    return c;
  }
  nlohmann::json stats(const FakeHub& hub) { return nlohmann::json::parse(hub.stats_json()); }
  void expect_same_files(const std::string& snapshot) {
    for (const auto& f : fs::directory_iterator(tmp_ / "repos/acme/tiny")) {
      const fs::path got = fs::path(snapshot) / f.path().filename();
      ASSERT_TRUE(fs::is_symlink(got)) << got;
      EXPECT_EQ(read_all(got), read_all(f.path())) << f.path().filename();
    }
  }

  TempDir tmp_;
  HubConfig cfg_;
};

TEST_F(HubTest, PullsIntoTheCacheLayoutThroughRedirects) {
  FakeHub hub(tmp_ / "repos");
  ASSERT_TRUE(hub.ok());
  std::vector<PullProgress> seen;
  PullOptions o;
  o.on_progress = [&](const PullProgress& p) { seen.push_back(p); };
  auto snap = pull(cfg_for(hub), "acme/tiny", o);
  ASSERT_TRUE(snap.ok()) << snap.status().to_string();
  expect_same_files(*snap);
  const fs::path repo = tmp_ / "hub/models--acme--tiny";
  const std::string commit = read_all(repo / "refs/main");
  EXPECT_EQ(fs::path(*snap).filename().string(), commit);
  EXPECT_TRUE(fs::is_regular_file(fs::canonical(fs::path(*snap) / "model.safetensors")));
  EXPECT_EQ(fs::canonical(fs::path(*snap) / "model.safetensors").parent_path(), fs::canonical(repo / "blobs"));
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back().bytes_done, seen.back().bytes_total);
  EXPECT_GT(seen.back().bytes_total, 1000u);
  // The pool resolves what was pulled.
  ResolverConfig rc;
  rc.hf_cache = tmp_ / "hub";
  auto r = ModelResolver(rc).resolve("acme/tiny");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->revision, commit);
  // A second pull finds everything in place and fetches no file.
  const int gets = stats(hub)["file_gets"];
  ASSERT_TRUE(pull(cfg_for(hub), "acme/tiny", PullOptions{}).ok());
  EXPECT_EQ(stats(hub)["file_gets"], gets);
}

TEST_F(HubTest, DroppedConnectionResumesWithRange) {
  FakeHub hub(tmp_ / "repos", {"--drop-after=100000"});
  ASSERT_TRUE(hub.ok());
  auto snap = pull(cfg_for(hub), "acme/tiny", PullOptions{});
  ASSERT_TRUE(snap.ok()) << snap.status().to_string();
  expect_same_files(*snap);
  auto s = stats(hub);
  EXPECT_GE(s["drops"].get<int>(), 1);
  EXPECT_GE(s["range_gets"].get<int>(), 1);
}

TEST_F(HubTest, TransientErrorsAreRetriedAndPermanentOnesReported) {
  {
    FakeHub hub(tmp_ / "repos", {"--fail-next=2"});
    auto snap = pull(cfg_for(hub), "acme/tiny", PullOptions{});
    ASSERT_TRUE(snap.ok()) << snap.status().to_string();
    EXPECT_EQ(stats(hub)["failures"], 2);
  }
  {
    FakeHub hub(tmp_ / "repos", {"--fail-next=100"});
    HubConfig c = cfg_for(hub);
    c.max_retries = 2;
    auto snap = pull(c, "acme/other", PullOptions{});
    EXPECT_EQ(snap.status().code(), StatusCode::kNotFound) << snap.status().to_string();
    fs::remove_all(tmp_ / "hub");
    c.cache_dir = tmp_ / "hub2";
    auto fail = pull(c, "acme/tiny", PullOptions{});
    EXPECT_EQ(fail.status().code(), StatusCode::kUnavailable) << fail.status().to_string();
    EXPECT_FALSE(fs::exists(tmp_ / "hub2/models--acme--tiny/refs/main"));  // never half-resolvable
  }
}

TEST_F(HubTest, TokenIsSentAsBearer) {
  FakeHub hub(tmp_ / "repos", {"--token=hf_secret"});
  HubConfig c = cfg_for(hub);
  EXPECT_EQ(pull(c, "acme/tiny", PullOptions{}).status().code(), StatusCode::kUnauthenticated);
  c.token = "hf_wrong";
  EXPECT_EQ(pull(c, "acme/tiny", PullOptions{}).status().code(), StatusCode::kPermissionDenied);
  c.token = "hf_secret";
  auto snap = pull(c, "acme/tiny", PullOptions{});
  ASSERT_TRUE(snap.ok()) << snap.status().to_string();
}

TEST_F(HubTest, Sha256MismatchIsDataLossAndLeavesNoModel) {
  FakeHub hub(tmp_ / "repos", {"--corrupt"});
  auto snap = pull(cfg_for(hub), "acme/tiny", PullOptions{});
  EXPECT_EQ(snap.status().code(), StatusCode::kDataLoss) << snap.status().to_string();
  EXPECT_NE(snap.status().message().find("sha256"), std::string::npos);
  ResolverConfig rc;
  rc.hf_cache = tmp_ / "hub";
  EXPECT_FALSE(ModelResolver(rc).resolve("acme/tiny").ok());
}

TEST_F(HubTest, OfflineAndUnsafeListingsAreRefused) {
  FakeHub hub(tmp_ / "repos", {"--evil-listing"});
  HubConfig c = cfg_for(hub);
  c.offline = true;
  auto off = pull(c, "acme/tiny", PullOptions{});
  EXPECT_EQ(off.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(off.status().message().find("HF_HUB_OFFLINE"), std::string::npos);
  EXPECT_EQ(stats(hub).value("requests", 0), 0);
  c.offline = false;
  EXPECT_EQ(pull(c, "acme/tiny", PullOptions{}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(pull(c, "../etc", PullOptions{}).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(HubTest, PauseKeepsPartialFilesAndResumeFinishesCancelRemoves) {
  FakeHub hub(tmp_ / "repos", {"--slow-bps=400000"});
  DownloadControl control;
  PullOptions o;
  o.control = &control;
  std::atomic<uint64_t> done{0};
  o.on_progress = [&](const PullProgress& p) { done = p.bytes_done; };
  Result<std::string> first = internal_error("not run");
  std::thread t([&] { first = pull(cfg_for(hub), "acme/tiny", o); });
  ASSERT_TRUE(pool::testing::eventually_true([&] { return done.load() > 50000; }, 20000));
  control.pause();
  t.join();
  ASSERT_EQ(first.status().code(), StatusCode::kCancelled);
  EXPECT_EQ(first.status().message(), "paused");
  bool has_part = false;
  for (const auto& f : fs::directory_iterator(tmp_ / "hub/models--acme--tiny/blobs")) {
    has_part = has_part || (f.path().extension() == ".incomplete" && fs::file_size(f.path()) > 0);
  }
  EXPECT_TRUE(has_part);
  control.clear();
  const int ranges_before = stats(hub)["range_gets"];
  FakeHub fast(tmp_ / "repos");
  auto second = pull(cfg_for(fast), "acme/tiny", o);
  ASSERT_TRUE(second.ok()) << second.status().to_string();
  expect_same_files(*second);
  EXPECT_EQ(ranges_before, 0);
  EXPECT_GE(stats(fast)["range_gets"].get<int>(), 1);  // the partial file was resumed

  // Cancel: the repo is not kept.
  fs::remove_all(tmp_ / "hub");
  fs::create_directories(tmp_ / "hub");
  done = 0;
  std::thread t2([&] { first = pull(cfg_for(hub), "acme/tiny", o); });
  ASSERT_TRUE(pool::testing::eventually_true([&] { return done.load() > 50000; }, 20000));
  control.cancel();
  t2.join();
  EXPECT_EQ(first.status().message(), "cancelled");
  EXPECT_FALSE(fs::exists(tmp_ / "hub/models--acme--tiny"));
}

TEST_F(HubTest, RemoveFromCache) {
  FakeHub hub(tmp_ / "repos");
  ASSERT_TRUE(pull(cfg_for(hub), "acme/tiny", PullOptions{}).ok());
  EXPECT_TRUE(remove_from_cache(cfg_.cache_dir, "acme/tiny").ok());
  EXPECT_FALSE(fs::exists(tmp_ / "hub/models--acme--tiny"));
  EXPECT_EQ(remove_from_cache(cfg_.cache_dir, "acme/tiny").code(), StatusCode::kNotFound);
  EXPECT_EQ(remove_from_cache(cfg_.cache_dir, "../x").code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mlxm::pool::hub
