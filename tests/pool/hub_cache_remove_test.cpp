// Removing cached repos and single revisions from an HF cache layout built by hand (blobs shared
// between snapshots, refs, partial downloads): pool::hub::remove_revision_from_cache.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "pool/hub/hub_client.h"
#include "pool/pool_test_util.h"

namespace fs = std::filesystem;

namespace mlxm::pool::hub {
namespace {

const std::string kCommitA(40, 'a');
const std::string kCommitB(40, 'b');

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

// models--acme--m: snapshot A (config -> blob shared, weights -> blob a-only), snapshot B (config
// -> blob shared, weights -> blob b-only); refs/main -> B, refs/old -> A; one partial download.
fs::path make_cache(const std::string& root) {
  const fs::path repo = fs::path(root) / "models--acme--m";
  for (const char* b : {"shared", "aonly", "bonly", "x.incomplete"}) write(repo / "blobs" / b, b);
  auto link = [&](const std::string& commit, const std::string& file, const std::string& blob) {
    const fs::path l = repo / "snapshots" / commit / file;
    fs::create_directories(l.parent_path());
    fs::create_symlink(fs::path("../../blobs") / blob, l);
  };
  link(kCommitA, "config.json", "shared");
  link(kCommitA, "model.safetensors", "aonly");
  link(kCommitB, "config.json", "shared");
  link(kCommitB, "model.safetensors", "bonly");
  write(repo / "refs" / "main", kCommitB);
  write(repo / "refs" / "old", kCommitA);
  return repo;
}

TEST(HubCacheRemove, OneRevisionKeepsSharedBlobsAndTheOtherSnapshot) {
  pool::testing::TempDir tmp;
  const fs::path repo = make_cache(tmp.path());
  ASSERT_TRUE(remove_revision_from_cache(tmp.path(), "acme/m", "old").ok());
  EXPECT_FALSE(fs::exists(repo / "snapshots" / kCommitA));
  EXPECT_FALSE(fs::exists(repo / "refs" / "old"));
  EXPECT_FALSE(fs::exists(repo / "blobs" / "aonly"));
  EXPECT_TRUE(fs::exists(repo / "blobs" / "shared"));
  EXPECT_TRUE(fs::exists(repo / "blobs" / "bonly"));
  EXPECT_TRUE(fs::exists(repo / "blobs" / "x.incomplete"));  // a paused download stays resumable
  EXPECT_TRUE(fs::exists(repo / "refs" / "main"));
  EXPECT_TRUE(fs::exists(repo / "snapshots" / kCommitB / "config.json"));  // link still resolves
  // Gone now: NotFound.
  EXPECT_EQ(remove_revision_from_cache(tmp.path(), "acme/m", "old").code(), StatusCode::kNotFound);
  EXPECT_EQ(remove_revision_from_cache(tmp.path(), "acme/m", kCommitA).code(), StatusCode::kNotFound);
}

TEST(HubCacheRemove, ByCommitAndTheLastRevisionRemovesTheRepo) {
  pool::testing::TempDir tmp;
  const fs::path repo = make_cache(tmp.path());
  ASSERT_TRUE(remove_revision_from_cache(tmp.path(), "acme/m", kCommitB).ok());
  EXPECT_FALSE(fs::exists(repo / "refs" / "main"));  // named the removed commit
  EXPECT_TRUE(fs::exists(repo / "snapshots" / kCommitA));
  ASSERT_TRUE(remove_revision_from_cache(tmp.path(), "acme/m", "old").ok());
  EXPECT_FALSE(fs::exists(repo));
}

TEST(HubCacheRemove, BadIdsAndUnknownRepos) {
  pool::testing::TempDir tmp;
  make_cache(tmp.path());
  EXPECT_EQ(remove_revision_from_cache(tmp.path(), "../m", "main").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(remove_revision_from_cache(tmp.path(), "acme/m", "..").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(remove_revision_from_cache(tmp.path(), "acme/m", "a/b").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(remove_revision_from_cache(tmp.path(), "acme/other", "main").code(), StatusCode::kNotFound);
  EXPECT_EQ(remove_revision_from_cache(tmp.path(), "acme/m", "v9").code(), StatusCode::kNotFound);
}

TEST(HubSearch, RefusesBadQueriesAndOffline) {
  HubConfig cfg;
  cfg.endpoint = "http://127.0.0.1:9";
  cfg.max_retries = 0;
  EXPECT_EQ(search_models(cfg, {"", 20, ""}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(search_models(cfg, {std::string(201, 'x'), 20, ""}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(search_models(cfg, {"x", 0, ""}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(search_models(cfg, {"x", 101, ""}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(search_models(cfg, {"x", 20, ""}).status().code(), StatusCode::kUnavailable);  // no hub
  cfg.offline = true;
  auto off = search_models(cfg, {"x", 20, ""});
  EXPECT_EQ(off.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(off.status().message().find("HF_HUB_OFFLINE"), std::string::npos);
}

}  // namespace
}  // namespace mlxm::pool::hub
