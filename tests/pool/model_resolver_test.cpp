#include "pool/model_resolver.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "pool/pool_test_util.h"

namespace fs = std::filesystem;

namespace mlxm::pool {
namespace {

using testing::TempDir;

class ResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(tmp_ / "models");
    fs::create_directories(tmp_ / "hub");
    testing::make_tiny_model(tmp_ / "models/alpha", 1);
    testing::make_tiny_model(tmp_ / "models/org2/beta", 2);
    commit_ = testing::add_to_hf_cache(tmp_ / "hub", "acme/gamma", 3);
    cfg_.model_dirs = {tmp_ / "models"};
    cfg_.hf_cache = tmp_ / "hub";
    cfg_.aliases["g"] = "acme/gamma";
    cfg_.explicit_models["named"] = tmp_ / "models/alpha";
  }
  TempDir tmp_;
  ResolverConfig cfg_;
  std::string commit_;
};

TEST_F(ResolverTest, ResolvesModelDirsHfCacheAliasesAndExplicitNames) {
  ModelResolver r(cfg_);
  auto a = r.resolve("alpha");
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_EQ(a->source, "model_dir");
  EXPECT_EQ(a->dir, fs::canonical(tmp_ / "models/alpha").string());
  auto b = r.resolve("org2/beta");
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  EXPECT_EQ(b->source, "model_dir");
  auto g = r.resolve("acme/gamma");
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  EXPECT_EQ(g->source, "hf_cache");
  EXPECT_EQ(g->revision, commit_);
  EXPECT_TRUE(fs::exists(g->dir + "/config.json"));
  auto gm = r.resolve("acme/gamma@main");
  ASSERT_TRUE(gm.ok());
  EXPECT_EQ(gm->id, "acme/gamma");  // @main is the same model
  auto gh = r.resolve("acme/gamma@" + commit_);
  ASSERT_TRUE(gh.ok()) << gh.status().to_string();
  EXPECT_EQ(gh->dir, g->dir);
  auto al = r.resolve("g");
  ASSERT_TRUE(al.ok());
  EXPECT_EQ(al->id, "acme/gamma");
  auto n = r.resolve("named");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->source, "explicit");
}

TEST_F(ResolverTest, UnknownIdsAreNotFound) {
  ModelResolver r(cfg_);
  EXPECT_EQ(r.resolve("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.resolve("acme/nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.resolve("acme/gamma@v2").status().code(), StatusCode::kNotFound);
}

TEST_F(ResolverTest, EscapesAreInvalidArgument) {
  ModelResolver r(cfg_);
  for (const std::string& id : std::vector<std::string>{"..", "../models/alpha", "alpha/../../etc", "org2/..", "./alpha", "a\\b", ".hidden",
        "/etc", "/tmp", "acme/gamma@../../x", "a/b/c", "", std::string("al\0pha", 6), "x\ny"}) {
    auto res = r.resolve(id);
    EXPECT_EQ(res.status().code(), StatusCode::kInvalidArgument) << "id: " << id << " -> "
                                                                  << res.status().to_string();
  }
}

TEST_F(ResolverTest, AbsolutePathsOnlyWhenAllowed) {
  const std::string abs = tmp_ / "models/alpha";
  EXPECT_EQ(ModelResolver(cfg_).resolve(abs).status().code(), StatusCode::kInvalidArgument);
  cfg_.allow_absolute_paths = true;
  auto res = ModelResolver(cfg_).resolve(abs);
  ASSERT_TRUE(res.ok()) << res.status().to_string();
  EXPECT_EQ(res->source, "path");
  EXPECT_EQ(ModelResolver(cfg_).resolve(abs + "/../alpha").status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(ResolverTest, SymlinksLeadingOutAreRejected) {
  // A model dir entry that is a symlink to a model outside the root.
  TempDir outside;
  testing::make_tiny_model(outside / "evil", 4);
  fs::create_directory_symlink(outside / "evil", tmp_ / "models/evil");
  ModelResolver r(cfg_);
  EXPECT_EQ(r.resolve("evil").status().code(), StatusCode::kInvalidArgument);
  // A file inside a model dir linking out.
  std::ofstream(outside / "secret") << "x";
  fs::create_symlink(outside / "secret", tmp_ / "models/alpha/extra.txt");
  EXPECT_EQ(r.resolve("alpha").status().code(), StatusCode::kInvalidArgument);
  // A HF snapshot file linking outside the repo.
  fs::path snap = fs::path(tmp_ / "hub") / "models--acme--gamma" / "snapshots" / commit_;
  fs::create_symlink(outside / "secret", snap / "leak.json");
  EXPECT_EQ(r.resolve("acme/gamma").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ResolverTest, ListsAvailableModelsWithDescriptions) {
  fs::create_directories(tmp_ / "models/broken");
  std::ofstream(tmp_ / "models/broken/config.json") << "{\"architectures\": [\"GPT2LMHeadModel\"]}";
  ModelResolver r(cfg_);
  auto list = r.list_available();
  std::map<std::string, AvailableModel> by_id;
  for (auto& m : list) by_id[m.id] = m;
  ASSERT_TRUE(by_id.count("alpha"));
  ASSERT_TRUE(by_id.count("org2/beta"));
  ASSERT_TRUE(by_id.count("acme/gamma"));
  ASSERT_TRUE(by_id.count("broken"));
  EXPECT_TRUE(by_id["acme/gamma"].loadable) << by_id["acme/gamma"].why_not;
  EXPECT_EQ(by_id["acme/gamma"].architecture, "LlamaForCausalLM");
  EXPECT_EQ(by_id["acme/gamma"].quantization, "q4/g32");
  EXPECT_GT(by_id["acme/gamma"].size_bytes, 1000u);
  EXPECT_FALSE(by_id["broken"].loadable);
  EXPECT_NE(by_id["broken"].why_not.find("GPT2LMHeadModel"), std::string::npos)
      << by_id["broken"].why_not;
}

}  // namespace
}  // namespace mlxm::pool
