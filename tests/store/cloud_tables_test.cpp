#include "store/cloud_tables.h"

#include <gtest/gtest.h>

#include "store/store_test_util.h"

namespace mlxm::store {
namespace {

using testing::TempDir;

std::vector<std::string> keys(const std::vector<CloudRow>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(r.key);
  return out;
}

TEST(CloudTables, StartEmptyAndKeepOrderAcrossReopen) {
  TempDir dir;
  {
    auto db = Database::open(dir.db());
    ASSERT_TRUE(db.ok()) << db.status().message();
    CloudTables t(**db);
    auto empty = t.load();
    ASSERT_TRUE(empty.ok()) << empty.status().message();
    EXPECT_TRUE(empty->providers.empty());
    EXPECT_TRUE(empty->rules.empty());
    ASSERT_TRUE(t.replace(std::vector<CloudRow>{{"zeta", R"({"name":"zeta"})"}, {"alpha", "{}"}},
                          std::vector<CloudRow>{{"r_2", "{\"id\":\"r_2\"}"}, {"r_1", "{}"}})
                    .ok());
  }
  auto db = Database::open(dir.db());
  ASSERT_TRUE(db.ok());
  CloudTables t(**db);
  auto rows = t.load();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(keys(rows->providers), (std::vector<std::string>{"zeta", "alpha"}));  // not sorted
  EXPECT_EQ(rows->providers[0].config, R"({"name":"zeta"})");
  EXPECT_EQ(keys(rows->rules), (std::vector<std::string>{"r_2", "r_1"}));
}

TEST(CloudTables, ReplaceOnlyTheListsGiven) {
  TempDir dir;
  auto db = Database::open(dir.db());
  ASSERT_TRUE(db.ok());
  CloudTables t(**db);
  ASSERT_TRUE(t.replace(std::vector<CloudRow>{{"a", "{}"}}, std::vector<CloudRow>{{"r_1", "{}"}}).ok());
  ASSERT_TRUE(t.replace(std::nullopt, std::vector<CloudRow>{{"r_9", "{}"}, {"r_8", "{}"}}).ok());
  auto rows = t.load();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(keys(rows->providers), (std::vector<std::string>{"a"}));
  EXPECT_EQ(keys(rows->rules), (std::vector<std::string>{"r_9", "r_8"}));
  ASSERT_TRUE(t.replace(std::vector<CloudRow>{}, std::nullopt).ok());
  rows = t.load();
  ASSERT_TRUE(rows.ok());
  EXPECT_TRUE(rows->providers.empty());
  EXPECT_EQ(rows->rules.size(), 2u);
}

TEST(CloudTables, AFailedReplaceChangesNothing) {
  TempDir dir;
  auto db = Database::open(dir.db());
  ASSERT_TRUE(db.ok());
  CloudTables t(**db);
  ASSERT_TRUE(t.replace(std::vector<CloudRow>{{"a", "{}"}}, std::vector<CloudRow>{{"r_1", "{}"}}).ok());
  // The provider list is valid, the rule list repeats an id: neither table changes.
  Status st = t.replace(std::vector<CloudRow>{{"b", "{}"}},
                        std::vector<CloudRow>{{"r_2", "{}"}, {"r_2", "{}"}});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("cloud tables"), std::string::npos) << st.message();
  auto rows = t.load();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(keys(rows->providers), (std::vector<std::string>{"a"}));
  EXPECT_EQ(keys(rows->rules), (std::vector<std::string>{"r_1"}));
}

}  // namespace
}  // namespace mlxm::store
