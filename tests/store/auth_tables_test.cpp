#include "store/auth_tables.h"

#include <gtest/gtest.h>

#include "store/settings_table.h"
#include "store_test_util.h"

namespace mlxm::store {
namespace {

UserRow user(const std::string& name) {
  UserRow u;
  u.username = name;
  u.password_hash = "hash-of-" + name;
  u.status = "pending";
  u.created_ms = 1000;
  return u;
}

class AuthTablesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::open(dir_.db());
    ASSERT_TRUE(db.ok()) << db.status().to_string();
    db_ = std::move(db).value();
  }
  testing::TempDir dir_;
  std::unique_ptr<Database> db_;
};

TEST_F(AuthTablesTest, FirstUserBecomesActiveAdminLaterOnesAsGiven) {
  UserTable users(*db_);
  auto first = users.insert_first_as_admin(user("ada"));
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  EXPECT_TRUE(first->is_admin);
  EXPECT_EQ(first->status, "active");
  auto second = users.insert_first_as_admin(user("bob"));
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->is_admin);
  EXPECT_EQ(second->status, "pending");
  EXPECT_NE(first->id, second->id);
  EXPECT_EQ(*users.count(), 2);
  EXPECT_EQ(*users.count_active_admins(), 1);
}

TEST_F(AuthTablesTest, UsernamesAreUniqueIgnoringCase) {
  UserTable users(*db_);
  ASSERT_TRUE(users.insert(user("Ada")).ok());
  auto dup = users.insert(user("ada"));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().code(), StatusCode::kAlreadyExists);
  auto found = users.find_by_name("ADA");
  ASSERT_TRUE(found.ok());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->username, "Ada");
}

TEST_F(AuthTablesTest, StatusLoginAndDeleteCascadeToSessions) {
  UserTable users(*db_);
  SessionTable sessions(*db_);
  auto u = users.insert(user("ada"));
  ASSERT_TRUE(u.ok());
  ASSERT_TRUE(users.set_status(u->id, "active").ok());
  ASSERT_TRUE(users.set_last_login(u->id, 4242).ok());
  auto got = users.find_by_id(u->id);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->status, "active");
  EXPECT_EQ((*got)->last_login_ms, 4242);
  // A bad status is refused by the schema.
  EXPECT_FALSE(users.set_status(u->id, "superuser").ok());

  ASSERT_TRUE(sessions.insert({"h1", u->id, 1, 100}).ok());
  ASSERT_TRUE(sessions.find("h1")->has_value());
  EXPECT_TRUE(*users.remove(u->id));
  EXPECT_FALSE(sessions.find("h1")->has_value());
  EXPECT_FALSE(*users.remove(u->id));
}

TEST_F(AuthTablesTest, ExpiredSessionsAreRemoved) {
  UserTable users(*db_);
  SessionTable sessions(*db_);
  auto u = users.insert(user("ada"));
  ASSERT_TRUE(u.ok());
  ASSERT_TRUE(sessions.insert({"old", u->id, 1, 100}).ok());
  ASSERT_TRUE(sessions.insert({"new", u->id, 1, 300}).ok());
  EXPECT_EQ(*sessions.remove_expired(200), 1);
  EXPECT_FALSE(sessions.find("old")->has_value());
  EXPECT_TRUE(sessions.find("new")->has_value());
  ASSERT_TRUE(sessions.remove("new").ok());
  EXPECT_FALSE(sessions.find("new")->has_value());
}

TEST_F(AuthTablesTest, ApiKeysListUpdateDelete) {
  ApiKeyTable keys(*db_);
  ASSERT_TRUE(keys.insert({"key_a", "ci", "mlxm-aaaa", "hash-a", 10, std::nullopt}).ok());
  ASSERT_TRUE(keys.insert({"key_b", "dev", "mlxm-bbbb", "hash-b", 20, std::nullopt}).ok());
  // The same hash twice is refused (UNIQUE).
  EXPECT_FALSE(keys.insert({"key_c", "dup", "mlxm-aaaa", "hash-a", 30, std::nullopt}).ok());
  ASSERT_TRUE(keys.set_last_used("key_b", 99).ok());
  auto list = keys.list();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, "key_a");
  EXPECT_FALSE((*list)[0].last_used_ms.has_value());
  EXPECT_EQ((*list)[1].last_used_ms, 99);
  EXPECT_TRUE(*keys.remove("key_a"));
  EXPECT_FALSE(*keys.remove("key_a"));
  EXPECT_EQ(keys.list()->size(), 1u);
}

TEST_F(AuthTablesTest, SettingsPutGetReplaceRemove) {
  SettingsTable settings(*db_);
  EXPECT_FALSE(settings.get("x")->has_value());
  ASSERT_TRUE(settings.put("x", "1", 5).ok());
  ASSERT_TRUE(settings.put("x", "2", 6).ok());
  ASSERT_TRUE(settings.put("y", "{\"a\":1}", 6).ok());
  EXPECT_EQ(**settings.get("x"), "2");
  auto all = settings.all();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 2u);
  EXPECT_EQ(all->at("y"), "{\"a\":1}");
  EXPECT_TRUE(*settings.remove("x"));
  EXPECT_FALSE(settings.get("x")->has_value());
}

TEST_F(AuthTablesTest, SurvivesReopen) {
  {
    UserTable users(*db_);
    ASSERT_TRUE(users.insert_first_as_admin(user("ada")).ok());
  }
  db_.reset();
  auto db = Database::open(dir_.db());
  ASSERT_TRUE(db.ok());
  UserTable users(**db);
  EXPECT_EQ(*users.count(), 1);
}

}  // namespace
}  // namespace mlxm::store
