#include "auth/secret_box.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "store/store_test_util.h"

namespace mlxm::auth {
namespace {

using store::testing::TempDir;

TEST(SecretBox, CreatesA0600KeyFileAndRoundTrips) {
  TempDir dir;
  const auto key_file = dir.path() / kSecretKeyFileName;
  auto box = SecretBox::open_or_create(key_file);
  ASSERT_TRUE(box.ok()) << box.status().to_string();
  struct stat st {};
  ASSERT_EQ(::stat(key_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_EQ(st.st_size, 32);

  const std::string secret = "sk-provider-key-1234567890";
  std::string sealed = box->seal(secret);
  EXPECT_TRUE(SecretBox::looks_sealed(sealed));
  EXPECT_EQ(sealed.find(secret), std::string::npos);
  EXPECT_NE(box->seal(secret), sealed);  // a fresh nonce each time
  auto opened = box->open(sealed);
  ASSERT_TRUE(opened.ok()) << opened.status().to_string();
  EXPECT_EQ(*opened, secret);
  EXPECT_EQ(*box->open(box->seal("")), "");

  // A second open reads the same key.
  auto again = SecretBox::open_or_create(key_file);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again->open(sealed), secret);
}

TEST(SecretBox, TamperingAndForeignKeysAreDetected) {
  TempDir a, b;
  auto box_a = SecretBox::open_or_create(a.path() / kSecretKeyFileName);
  auto box_b = SecretBox::open_or_create(b.path() / kSecretKeyFileName);
  ASSERT_TRUE(box_a.ok() && box_b.ok());
  std::string sealed = box_a->seal("top secret");
  EXPECT_EQ(box_b->open(sealed).status().code(), StatusCode::kDataLoss);
  std::string flipped = sealed;
  flipped[flipped.size() - 3] = flipped[flipped.size() - 3] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(box_a->open(flipped).ok());
  EXPECT_EQ(box_a->open("plain text").status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(box_a->open("sb1:!!!").ok());
  EXPECT_FALSE(box_a->open("sb1:YWJj").ok());  // too short to hold a nonce and a tag
}

TEST(SecretBox, RefusesAKeyFileOthersCanRead) {
  TempDir dir;
  const auto key_file = dir.path() / kSecretKeyFileName;
  ASSERT_TRUE(SecretBox::open_or_create(key_file).ok());
  ASSERT_EQ(::chmod(key_file.c_str(), 0644), 0);
  auto box = SecretBox::open_or_create(key_file);
  ASSERT_FALSE(box.ok());
  EXPECT_EQ(box.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(box.status().message().find("chmod 600"), std::string::npos);
}

TEST(SecretBox, RefusesAKeyFileOfTheWrongSize) {
  TempDir dir;
  const auto key_file = dir.path() / kSecretKeyFileName;
  {
    std::ofstream f(key_file);
    f << "short";
  }
  ASSERT_EQ(::chmod(key_file.c_str(), 0600), 0);
  auto box = SecretBox::open_or_create(key_file);
  ASSERT_FALSE(box.ok());
  EXPECT_NE(box.status().message().find("expected 32"), std::string::npos);
}

}  // namespace
}  // namespace mlxm::auth
