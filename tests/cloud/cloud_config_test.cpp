#include "cloud/cloud_config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include "cloud/cloud_test_util.h"
#include "cloud/config_file.h"

namespace mlxm::cloud {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

class CloudConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mlxm-cloud-XXXXXX";
    home_ = mkdtemp(tmpl);
    ::unsetenv("OPENAI_API_KEY");
    ::unsetenv("ANTHROPIC_API_KEY");
  }
  void TearDown() override { fs::remove_all(home_); }
  std::shared_ptr<CloudConfig> open() {
    CloudOptions o;
    o.home = home_;
    auto c = CloudConfig::open(o);
    EXPECT_TRUE(c.ok()) << c.status().message();
    return c.ok() ? *c : nullptr;
  }
  static mode_t mode(const fs::path& p) {
    struct stat st{};
    ::stat(p.c_str(), &st);
    return st.st_mode & 0777;
  }
  fs::path home_;
};

TEST_F(CloudConfigTest, WritesAreAtomicAndPrivate) {
  const fs::path f = home_ / "x.json";
  ASSERT_TRUE(write_file_atomic(f, "{\"a\":1}").ok());
  EXPECT_EQ(mode(f), 0600u);
  ASSERT_TRUE(write_file_atomic(f, "{\"a\":2}").ok());
  auto j = read_json_file(f, true);
  ASSERT_TRUE(j.ok());
  EXPECT_EQ((**j)["a"], 2);
  for (const auto& e : fs::directory_iterator(home_)) EXPECT_EQ(e.path().filename(), "x.json");
}

TEST_F(CloudConfigTest, ProvidersFileReadableByOthersIsRefused) {
  const fs::path f = home_ / kProvidersFile;
  std::ofstream(f) << R"({"providers": []})";
  ::chmod(f.c_str(), 0644);
  CloudOptions o;
  o.home = home_;
  auto c = CloudConfig::open(o);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("0644"), std::string::npos) << c.status().message();
  EXPECT_NE(c.status().message().find("0600"), std::string::npos);
}

TEST_F(CloudConfigTest, EditsPersistAndReload) {
  auto c = open();
  auto p = c->add_provider({{"name", "groq"}, {"preset", "groq"}, {"api_key", "gsk_secret_0123456789"}});
  ASSERT_TRUE(std::holds_alternative<ProviderConfig>(p));
  EXPECT_EQ(mode(home_ / kProvidersFile), 0600u);
  auto r1 = c->add_rule({{"pattern", "llama-"}, {"match", "prefix"}, {"backend", "groq"}});
  auto r2 = c->add_rule({{"pattern", "x"}, {"backend", "local"}, {"fallback", {"groq"}}}, 0);
  ASSERT_TRUE(std::holds_alternative<Rule>(r1));
  ASSERT_TRUE(std::holds_alternative<Rule>(r2));
  EXPECT_EQ(c->snapshot()->rules->rules()[0].pattern, "x");  // inserted at position 0

  auto again = open();
  auto snap = again->snapshot();
  ASSERT_EQ(snap->rules->rules().size(), 2u);
  EXPECT_EQ(snap->rules->rules()[0].id, std::get<Rule>(r2).id);
  ASSERT_EQ(snap->providers.size(), 1u);
  EXPECT_EQ(snap->providers[0].api_key, "gsk_secret_0123456789");
  EXPECT_EQ(snap->providers[0].base_url, "https://api.groq.com/openai/v1");
  EXPECT_EQ(again->resolve("llama-3").chain[0].backend, "groq");

  // A provider in use cannot be deleted; reorder must be a permutation.
  auto del = again->delete_provider("groq");
  ASSERT_TRUE(del.has_value());
  EXPECT_EQ(del->http_status, 409);
  auto bad = again->reorder_rules({std::get<Rule>(r1).id});
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->param, "ids");
  EXPECT_FALSE(again->reorder_rules({std::get<Rule>(r1).id, std::get<Rule>(r2).id}).has_value());
  EXPECT_EQ(again->snapshot()->rules->rules()[0].pattern, "llama-");
}

using testing::read_all;
using testing::toy_cipher;

TEST_F(CloudConfigTest, StoredKeysAreSealedAndOpenedAgain) {
  CloudOptions o;
  o.home = home_;
  o.cipher = toy_cipher();
  auto c = CloudConfig::open(o);
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_TRUE(std::holds_alternative<ProviderConfig>(
      (*c)->add_provider({{"name", "groq"}, {"preset", "groq"}, {"api_key", "gsk_secret_0123456789"}})));
  const std::string file = read_all(home_ / kProvidersFile);
  EXPECT_EQ(file.find("gsk_secret_0123456789"), std::string::npos) << file;
  EXPECT_NE(file.find("api_key_sealed"), std::string::npos) << file;
  auto again = CloudConfig::open(o);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ((*again)->provider("groq")->api_key, "gsk_secret_0123456789");
  // Without the secret the sealed key cannot be used: a start-up error naming the file.
  CloudOptions no_cipher;
  no_cipher.home = home_;
  auto refused = CloudConfig::open(no_cipher);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find(kProvidersFile), std::string::npos);
  // A key that does not open (secret.key replaced) is an error too, not a silent empty key.
  CloudOptions other = o;
  other.cipher->open = [](std::string_view) -> Result<std::string> { return invalid_argument("bad mac"); };
  EXPECT_FALSE(CloudConfig::open(other).ok());
}

TEST_F(CloudConfigTest, KeysWrittenInClearAreSealedOnOpen) {
  {
    auto c = open();  // no cipher: clear key
    ASSERT_TRUE(std::holds_alternative<ProviderConfig>(
        c->add_provider({{"name", "groq"}, {"preset", "groq"}, {"api_key", "gsk_secret_0123456789"}})));
  }
  ASSERT_NE(read_all(home_ / kProvidersFile).find("gsk_secret_0123456789"), std::string::npos);
  CloudOptions o;
  o.home = home_;
  o.cipher = toy_cipher();
  auto c = CloudConfig::open(o);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ((*c)->provider("groq")->api_key, "gsk_secret_0123456789");
  EXPECT_EQ(read_all(home_ / kProvidersFile).find("gsk_secret_0123456789"), std::string::npos);
  EXPECT_EQ(mode(home_ / kProvidersFile), 0600u);
}

TEST_F(CloudConfigTest, ApiViewMasksKeys) {
  auto c = open();
  auto p = c->add_provider({{"name", "oa"}, {"kind", "openai"}, {"api_key", "sk-abcdefghijklmnopqrstuvwxyz"}});
  const json j = provider_json(std::get<ProviderConfig>(p));
  const std::string text = j.dump();
  EXPECT_EQ(text.find("sk-abcdefghijklmnopqrstuvwxyz"), std::string::npos) << text;
  EXPECT_EQ(j["has_key"], true);
  EXPECT_EQ(j["api_key_masked"], "sk-a****wxyz");
  EXPECT_EQ(j["key_source"], "stored");
  // An update without api_key keeps the stored key.
  auto u = c->update_provider("oa", {{"base_url", "http://127.0.0.1:9/v1"}});
  ASSERT_TRUE(std::holds_alternative<ProviderConfig>(u));
  EXPECT_EQ(std::get<ProviderConfig>(u).api_key, "sk-abcdefghijklmnopqrstuvwxyz");
}

TEST_F(CloudConfigTest, EnvironmentKeysMakeImplicitProviders) {
  ::setenv("ANTHROPIC_API_KEY", "sk-ant-test-0123456789", 1);
  auto c = open();
  ::unsetenv("ANTHROPIC_API_KEY");
  auto p = c->provider("anthropic");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->kind, ProviderKind::kAnthropic);
  EXPECT_EQ(p->api_key, "");  // read from the environment when used, never stored
  EXPECT_FALSE(c->provider("openai").has_value());
}

TEST_F(CloudConfigTest, ProviderValidationNamesTheField) {
  auto c = open();
  auto field = [&](const json& b) {
    auto r = c->add_provider(b);
    return std::holds_alternative<api::ApiError>(r) ? std::get<api::ApiError>(r).param : "(accepted)";
  };
  EXPECT_EQ(field({{"kind", "openai"}}), "name");
  EXPECT_EQ(field({{"name", "local"}, {"kind", "openai"}}), "name");
  EXPECT_EQ(field({{"name", "a"}, {"kind", "bogus"}}), "kind");
  EXPECT_EQ(field({{"name", "a"}, {"kind", "openai_compatible"}}), "base_url");
  EXPECT_EQ(field({{"name", "a"}, {"kind", "openai_compatible"}, {"base_url", "ftp://x"}}), "base_url");
  EXPECT_EQ(field({{"name", "a"}, {"preset", "nope"}}), "preset");
  EXPECT_EQ(field({{"name", "a"}, {"kind", "openai"}, {"api_key", "has space"}}), "api_key");
}

}  // namespace
}  // namespace mlxm::cloud
