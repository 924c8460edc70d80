// The database storage behind CloudConfig and the one-time import of the legacy files.
#include "cloud/cloud_test_util.h"
#include "cloud/cloud_storage.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include "cloud/cloud_config.h"
#include "cloud/cloud_import.h"
#include "store/database.h"

namespace mlxm::cloud {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const char* kKey = "gsk_secret_0123456789";

using testing::read_all;
using testing::toy_cipher;

void write_private(const fs::path& p, const std::string& text) {
  std::ofstream(p) << text;
  ::chmod(p.c_str(), 0600);
}

class CloudStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mlxm-cloud-db-XXXXXX";
    home_ = mkdtemp(tmpl);
    ::unsetenv("OPENAI_API_KEY");
    ::unsetenv("ANTHROPIC_API_KEY");
  }
  void TearDown() override { fs::remove_all(home_); }
  fs::path db_path() const { return home_ / store::kDatabaseFileName; }
  std::shared_ptr<DatabaseCloudStorage> db() {
    auto s = DatabaseCloudStorage::open(db_path());
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? *s : nullptr;
  }
  CloudOptions options(std::shared_ptr<CloudStorage> storage) {
    CloudOptions o;
    o.home = home_;
    o.cipher = toy_cipher();
    o.storage = std::move(storage);
    return o;
  }
  // What a start of serve does: import, then open on the database.
  Result<CloudImport> start(std::shared_ptr<CloudConfig>* out = nullptr) {
    auto storage = db();
    CloudOptions o = options(storage);
    MLXM_ASSIGN_OR_RETURN(CloudImport imp, import_cloud_files(o, *storage));
    auto c = CloudConfig::open(o);
    if (!c.ok()) return c.status();
    if (out) *out = *c;
    return imp;
  }
  void write_legacy_files() {
    write_private(home_ / kProvidersFile,
                  json{{"providers", {{{"name", "groq"}, {"preset", "groq"}, {"api_key", kKey}},
                                      {{"name", "local2"}, {"kind", "openai"},
                                       {"base_url", "http://127.0.0.1:9/v1"}}}}}
                      .dump());
    write_private(home_ / kRulesFile,
                  json{{"rules", {{{"id", "r_000000000001"}, {"pattern", "llama-"}, {"match", "prefix"},
                                   {"backend", "groq"}},
                                  {{"pattern", "gpt-4o"}, {"backend", "local2"}}}}}
                      .dump());
  }
  fs::path home_;
};

TEST_F(CloudStorageTest, EditsPersistInTheDatabaseWithKeysSealed) {
  {
    auto c = CloudConfig::open(options(db()));
    ASSERT_TRUE(c.ok()) << c.status().message();
    ASSERT_TRUE(std::holds_alternative<ProviderConfig>(
        (*c)->add_provider({{"name", "groq"}, {"preset", "groq"}, {"api_key", kKey}})));
    ASSERT_TRUE(std::holds_alternative<Rule>((*c)->add_rule({{"pattern", "a"}, {"backend", "groq"}})));
    ASSERT_TRUE(std::holds_alternative<Rule>((*c)->add_rule({{"pattern", "b"}, {"backend", "local"}}, 0)));
  }
  EXPECT_FALSE(fs::exists(home_ / kProvidersFile));
  EXPECT_FALSE(fs::exists(home_ / kRulesFile));
  auto storage = db();
  auto raw = storage->load();
  ASSERT_TRUE(raw.ok()) << raw.status().message();
  ASSERT_EQ(raw->providers.size(), 1u);
  EXPECT_EQ(raw->providers[0].dump().find(kKey), std::string::npos) << raw->providers[0].dump();
  EXPECT_TRUE(raw->providers[0].contains("api_key_sealed"));
  auto again = CloudConfig::open(options(storage));
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ((*again)->provider("groq")->api_key, kKey);
  const auto& rules = (*again)->snapshot()->rules->rules();
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].pattern, "b");
  EXPECT_EQ(rules[1].pattern, "a");
  // Validation is unchanged: a rule naming a provider in use blocks its deletion.
  auto del = (*again)->delete_provider("groq");
  ASSERT_TRUE(del.has_value());
  EXPECT_EQ(del->http_status, 409);
  // Without the secret the sealed key cannot be used: an error naming the table.
  CloudOptions no_cipher = options(storage);
  no_cipher.cipher.reset();
  auto refused = CloudConfig::open(no_cipher);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("cloud_providers"), std::string::npos)
      << refused.status().message();
}

TEST_F(CloudStorageTest, LegacyFilesAreImportedOnceAndKept) {
  write_legacy_files();
  std::shared_ptr<CloudConfig> c;
  auto imp = start(&c);
  ASSERT_TRUE(imp.ok()) << imp.status().message();
  EXPECT_TRUE(imp->imported);
  EXPECT_EQ(imp->providers, 2u);
  EXPECT_EQ(imp->rules, 2u);
  // Renamed, never deleted.
  EXPECT_FALSE(fs::exists(home_ / kProvidersFile));
  EXPECT_FALSE(fs::exists(home_ / kRulesFile));
  ASSERT_EQ(imp->renamed_to.size(), 2u);
  EXPECT_EQ(imp->renamed_to[0], home_ / "providers.json.imported");
  EXPECT_EQ(imp->renamed_to[1], home_ / "routing_rules.json.imported");
  EXPECT_NE(read_all(home_ / "routing_rules.json.imported").find("llama-"), std::string::npos);
  // The configuration comes from the database, with the key usable and sealed at rest.
  EXPECT_EQ(c->provider("groq")->api_key, kKey);
  ASSERT_TRUE(c->provider("local2").has_value());
  const auto& rules = c->snapshot()->rules->rules();
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].id, "r_000000000001");
  EXPECT_EQ(rules[1].pattern, "gpt-4o");
  EXPECT_FALSE(rules[1].id.empty());
  auto raw = db()->load();
  ASSERT_TRUE(raw.ok());
  for (const auto& p : raw->providers) EXPECT_EQ(p.dump().find(kKey), std::string::npos) << p.dump();
  EXPECT_TRUE(raw->providers[0].contains("api_key_sealed"));
  // The imported file itself no longer holds the key in clear either (sealed before import).
  EXPECT_EQ(read_all(home_ / "providers.json.imported").find(kKey), std::string::npos);
  const std::string rule_id_2 = rules[1].id;

  // An edit after the import lives in the database only.
  ASSERT_FALSE(c->delete_rule("r_000000000001").has_value());
  c.reset();

  // A second start imports nothing, and keeps the edit and the generated rule id.
  auto second = start(&c);
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_FALSE(second->imported);
  ASSERT_EQ(c->snapshot()->rules->rules().size(), 1u);
  EXPECT_EQ(c->snapshot()->rules->rules()[0].id, rule_id_2);
}

TEST_F(CloudStorageTest, FilesAreNotImportedOverADatabaseThatHoldsEntries) {
  {
    auto c = CloudConfig::open(options(db()));
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(std::holds_alternative<ProviderConfig>(
        (*c)->add_provider({{"name", "mine"}, {"kind", "openai"}, {"base_url", "http://127.0.0.1:9/v1"}})));
  }
  write_legacy_files();  // e.g. restored from a backup
  std::shared_ptr<CloudConfig> c;
  auto imp = start(&c);
  ASSERT_TRUE(imp.ok()) << imp.status().message();
  EXPECT_FALSE(imp->imported);
  EXPECT_TRUE(fs::exists(home_ / kProvidersFile));  // left alone
  EXPECT_TRUE(fs::exists(home_ / kRulesFile));
  EXPECT_TRUE(c->provider("mine").has_value());
  EXPECT_FALSE(c->provider("groq").has_value());
  EXPECT_TRUE(c->snapshot()->rules->rules().empty());
}

TEST_F(CloudStorageTest, AnEarlierImportedFileIsNotOverwritten) {
  write_private(home_ / "providers.json.imported", "older");
  write_private(home_ / kProvidersFile, R"({"providers": []})");
  auto imp = start();
  ASSERT_TRUE(imp.ok()) << imp.status().message();
  EXPECT_TRUE(imp->imported);
  ASSERT_EQ(imp->renamed_to.size(), 1u);
  EXPECT_EQ(imp->renamed_to[0], home_ / "providers.json.imported.1");
  EXPECT_EQ(read_all(home_ / "providers.json.imported"), "older");
}

TEST_F(CloudStorageTest, AnInvalidFileFailsTheImportAndStaysInPlace) {
  write_private(home_ / kRulesFile, R"({"rules": [{"pattern": "x", "backend": "nobody"}]})");
  auto imp = start();
  ASSERT_FALSE(imp.ok());
  EXPECT_NE(imp.status().message().find(kRulesFile), std::string::npos) << imp.status().message();
  EXPECT_TRUE(fs::exists(home_ / kRulesFile));
  auto raw = db()->load();
  ASSERT_TRUE(raw.ok());
  EXPECT_TRUE(raw->rules.empty());
  // A providers file readable by others is refused as before.
  fs::remove(home_ / kRulesFile);
  std::ofstream(home_ / kProvidersFile) << R"({"providers": []})";
  ::chmod((home_ / kProvidersFile).c_str(), 0644);
  auto refused = start();
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("0644"), std::string::npos) << refused.status().message();
}

}  // namespace
}  // namespace mlxm::cloud
