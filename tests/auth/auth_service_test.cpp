#include "auth/auth_service.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "auth/crypto.h"
#include "store/store_test_util.h"

namespace mlxm::auth {
namespace {

using store::testing::TempDir;

constexpr int64_t kT0 = 1'700'000'000'000;

class AuthServiceTest : public ::testing::Test {
 protected:
  std::shared_ptr<AuthService> open(AuthConfig config = {}) {
    auto s = AuthService::open(dir_.db(), std::move(config));
    EXPECT_TRUE(s.ok()) << s.status().to_string();
    return s.ok() ? *s : nullptr;
  }
  std::string db_bytes() const {
    std::string all;
    for (const char* suffix : {"", "-wal"}) {
      std::ifstream f(dir_.db().string() + suffix, std::ios::binary);
      all.append(std::istreambuf_iterator<char>(f), {});
    }
    return all;
  }
  TempDir dir_;
};

TEST_F(AuthServiceTest, FirstUserIsAdminLaterUsersWaitForApproval) {
  auto auth = open();
  EXPECT_FALSE(auth->has_users());
  auto ada = auth->register_user("ada", "password-1", kT0);
  ASSERT_TRUE(ada.ok()) << ada.status().to_string();
  EXPECT_TRUE(ada->is_admin);
  EXPECT_TRUE(ada->active);
  EXPECT_TRUE(auth->has_users());

  auto bob = auth->register_user("bob", "password-2", kT0);
  ASSERT_TRUE(bob.ok());
  EXPECT_FALSE(bob->is_admin);
  EXPECT_FALSE(bob->active);
  auto pending = auth->login("bob", "password-2", kT0);
  ASSERT_FALSE(pending.ok());
  EXPECT_EQ(pending.status().code(), StatusCode::kPermissionDenied);

  ASSERT_TRUE(auth->approve_user(bob->id).ok());
  auto s = auth->login("bob", "password-2", kT0);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(s->user.username, "bob");
  EXPECT_EQ(s->token.size(), 64u);
  EXPECT_EQ(auth->approve_user(999).status().code(), StatusCode::kNotFound);
}

TEST_F(AuthServiceTest, RegistrationValidatesAndRefusesDuplicates) {
  auto auth = open();
  EXPECT_EQ(auth->register_user("", "password-1", kT0).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(auth->register_user("a b", "password-1", kT0).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(auth->register_user(std::string(65, 'a'), "password-1", kT0).status().code(),
            StatusCode::kInvalidArgument);
  auto short_pw = auth->register_user("ada", "short", kT0);
  EXPECT_EQ(short_pw.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(short_pw.status().message().find("'password'"), std::string::npos);
  EXPECT_FALSE(auth->has_users());
  ASSERT_TRUE(auth->register_user("ada", "password-1", kT0).ok());
  EXPECT_EQ(auth->register_user("ADA", "password-1", kT0).status().code(),
            StatusCode::kAlreadyExists);
}

TEST_F(AuthServiceTest, WrongPasswordAndUnknownUserLookTheSame) {
  auto auth = open();
  ASSERT_TRUE(auth->register_user("ada", "password-1", kT0).ok());
  auto wrong = auth->login("ada", "password-2", kT0);
  auto unknown = auth->login("zed", "password-1", kT0);
  ASSERT_FALSE(wrong.ok());
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(wrong.status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(wrong.status().to_string(), unknown.status().to_string());
}

TEST_F(AuthServiceTest, SessionsExpireAndEndOnLogout) {
  AuthConfig cfg;
  cfg.session_ttl = std::chrono::hours(1);
  auto auth = open(cfg);
  ASSERT_TRUE(auth->register_user("ada", "password-1", kT0).ok());
  auto s = auth->login("ada", "password-1", kT0);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->expires_ms, kT0 + 3'600'000);
  auto who = auth->session_user(s->token, kT0 + 1000);
  ASSERT_TRUE(who.has_value());
  EXPECT_EQ(who->user.username, "ada");
  EXPECT_TRUE(who->token.empty());  // the token is never read back
  EXPECT_FALSE(auth->session_user(s->token, kT0 + 3'600'000).has_value());  // expired
  EXPECT_FALSE(auth->session_user(s->token, kT0 + 1000).has_value());       // and deleted
  EXPECT_FALSE(auth->session_user("", kT0).has_value());
  EXPECT_FALSE(auth->session_user("not-a-token", kT0).has_value());

  auto s2 = auth->login("ada", "password-1", kT0);
  ASSERT_TRUE(s2.ok());
  ASSERT_TRUE(auth->logout(s2->token).ok());
  EXPECT_FALSE(auth->session_user(s2->token, kT0 + 1).has_value());
}

TEST_F(AuthServiceTest, DeletingAUserEndsTheirSessionsButNeverTheLastAdmin) {
  auto auth = open();
  auto ada = auth->register_user("ada", "password-1", kT0);
  auto bob = auth->register_user("bob", "password-2", kT0);
  ASSERT_TRUE(ada.ok() && bob.ok());
  ASSERT_TRUE(auth->approve_user(bob->id).ok());
  auto s = auth->login("bob", "password-2", kT0);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(auth->delete_user(ada->id).code(), StatusCode::kPermissionDenied);
  ASSERT_TRUE(auth->delete_user(bob->id).ok());
  EXPECT_FALSE(auth->session_user(s->token, kT0 + 1).has_value());
  EXPECT_EQ(auth->delete_user(bob->id).code(), StatusCode::kNotFound);
  EXPECT_EQ(auth->list_users()->size(), 1u);
}

TEST_F(AuthServiceTest, ApiKeysAreShownOnceStoredHashedAndRevocable) {
  auto auth = open();
  EXPECT_FALSE(auth->api_keys_required());
  auto k = auth->create_api_key("ci", kT0);
  ASSERT_TRUE(k.ok()) << k.status().to_string();
  EXPECT_EQ(k->key.rfind("mlxm-", 0), 0u);
  EXPECT_EQ(k->key.size(), 5u + 48u);
  EXPECT_EQ(k->key.substr(0, k->info.prefix.size()), k->info.prefix);
  EXPECT_TRUE(auth->api_keys_required());
  EXPECT_EQ(auth->verify_api_key(k->key, kT0 + 5), k->info.id);
  EXPECT_FALSE(auth->verify_api_key(k->key + "x", kT0).has_value());
  EXPECT_FALSE(auth->verify_api_key("", kT0).has_value());

  auto list = auth->list_api_keys();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].id, k->info.id);
  EXPECT_EQ((*list)[0].last_used_ms, kT0 + 5);

  // Neither the key nor a password is in the database file in clear.
  ASSERT_TRUE(auth->register_user("ada", "password-in-clear", kT0).ok());
  const std::string bytes = db_bytes();
  EXPECT_EQ(bytes.find(k->key), std::string::npos);
  EXPECT_EQ(bytes.find("password-in-clear"), std::string::npos);
  EXPECT_NE(bytes.find(token_hash(k->key)), std::string::npos);

  ASSERT_TRUE(auth->delete_api_key(k->info.id).ok());
  EXPECT_FALSE(auth->verify_api_key(k->key, kT0).has_value());
  EXPECT_FALSE(auth->api_keys_required());
  EXPECT_EQ(auth->delete_api_key(k->info.id).code(), StatusCode::kNotFound);
  EXPECT_EQ(auth->create_api_key("", kT0).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(AuthServiceTest, KeysSurviveARestartAndEnvKeysHavePositionalIds) {
  std::string key;
  {
    auto auth = open();
    auto k = auth->create_api_key("ci", kT0);
    ASSERT_TRUE(k.ok());
    key = k->key;
  }
  AuthConfig cfg;
  cfg.env_api_keys = {"first-env-key", "second-env-key"};
  auto auth = open(cfg);
  EXPECT_TRUE(auth->verify_api_key(key, kT0).has_value());
  EXPECT_EQ(auth->verify_api_key("second-env-key", kT0), "env-2");
  EXPECT_EQ(auth->verify_api_key("first-env-key", kT0), "env-1");
  EXPECT_EQ(auth->n_env_keys(), 2u);
  EXPECT_EQ(auth->list_api_keys()->size(), 1u);  // env keys are not listed
}

TEST_F(AuthServiceTest, AdminToken) {
  AuthConfig cfg;
  cfg.admin_token = "s3cret";
  auto auth = open(cfg);
  EXPECT_TRUE(auth->has_admin_token());
  EXPECT_TRUE(auth->is_admin_token("s3cret"));
  EXPECT_FALSE(auth->is_admin_token("s3cre"));
  EXPECT_FALSE(auth->is_admin_token(""));
  auto none = open();
  EXPECT_FALSE(none->is_admin_token(""));
}

}  // namespace
}  // namespace mlxm::auth
