#include "store/database.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "store/audit_log.h"
#include "store/migrations.h"
#include "store/store_test_util.h"

namespace mlxm::store {
namespace {

using testing::TempDir;

TEST(Database, OpensInWalModeAndMigrates) {
  TempDir dir;
  auto db = Database::open(dir.db());
  ASSERT_TRUE(db.ok()) << db.status().message();
  EXPECT_EQ(*(*db)->schema_version(), migrations().back().version);
  EXPECT_TRUE((*db)->check_integrity().ok());
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "mlx-manager.db-wal"));
  // Reopening applies nothing new and keeps the data.
  AuditLog log(**db);
  std::vector<AuditRow> rows = {testing::make_row(1, 1000)};
  ASSERT_TRUE(log.insert(&rows).ok());
  db->reset();
  auto again = Database::open(dir.db());
  ASSERT_TRUE(again.ok());
  AuditLog log2(**again);
  EXPECT_EQ(*log2.count(), 1);
}

TEST(Database, MigrationVersionsAreContiguous) {
  int expect = 1;
  for (const Migration& m : migrations()) EXPECT_EQ(m.version, expect++) << m.name;
}

TEST(Database, RejectsASchemaNewerThanTheBuild) {
  TempDir dir;
  {
    auto db = Database::open(dir.db());
    ASSERT_TRUE(db.ok());
  }
  // Simulate a newer build having migrated this database.
  ASSERT_EQ(std::system(("sqlite3 '" + dir.db().string() +
                         "' \"INSERT INTO schema_migrations VALUES (999, 'future', 0)\"")
                            .c_str()),
            0);
  auto db = Database::open(dir.db());
  ASSERT_FALSE(db.ok());
  EXPECT_NE(db.status().message().find("newer than this build"), std::string::npos)
      << db.status().message();
}

TEST(Database, NotADatabaseIsAClearError) {
  TempDir dir;
  std::ofstream(dir.db()) << std::string(4096, 'x');
  auto db = Database::open(dir.db());
  ASSERT_FALSE(db.ok());
  EXPECT_NE(db.status().message().find(dir.db().string()), std::string::npos);
}

TEST(Database, ManagerHomeFollowsTheEnvironment) {
  TempDir dir;
  auto sub = dir.path() / "home" / "nested";
  ::setenv("MLX_MANAGER_HOME", sub.c_str(), 1);
  auto home = manager_home();
  ::unsetenv("MLX_MANAGER_HOME");
  ASSERT_TRUE(home.ok()) << home.status().message();
  EXPECT_EQ(*home, sub);
  EXPECT_TRUE(std::filesystem::is_directory(sub));
  std::ofstream(dir.path() / "file") << "x";
  ::setenv("MLX_MANAGER_HOME", (dir.path() / "file").c_str(), 1);
  auto bad = manager_home();
  ::unsetenv("MLX_MANAGER_HOME");
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("MLX_MANAGER_HOME"), std::string::npos);
}

}  // namespace
}  // namespace mlxm::store
