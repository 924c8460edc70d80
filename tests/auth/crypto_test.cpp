#include "auth/crypto.h"

#include <gtest/gtest.h>

#include <set>

namespace mlxm::auth {
namespace {

TEST(Crypto, RandomHexHasTheLengthAndIsNotRepeated) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string h = random_hex(16);
    ASSERT_EQ(h.size(), 32u);
    EXPECT_EQ(h.find_first_not_of("0123456789abcdef"), std::string::npos);
    seen.insert(h);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(Crypto, TokenHashIsStableAndDistinct) {
  // BLAKE2b-256 of "abc" (RFC 7693 test vectors are for 512 bits; this one is libsodium's).
  EXPECT_EQ(token_hash("abc"), token_hash("abc"));
  EXPECT_NE(token_hash("abc"), token_hash("abd"));
  EXPECT_EQ(token_hash("abc").size(), 64u);
  EXPECT_EQ(token_hash(""), "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
}

TEST(Crypto, PasswordHashVerifies) {
  auto h = hash_password("correct horse");
  ASSERT_TRUE(h.ok()) << h.status().to_string();
  EXPECT_EQ(h->rfind("$argon2id$", 0), 0u) << *h;
  EXPECT_TRUE(verify_password(*h, "correct horse"));
  EXPECT_FALSE(verify_password(*h, "correct horse "));
  EXPECT_FALSE(verify_password(*h, ""));
  // Salted: the same password hashes differently.
  auto h2 = hash_password("correct horse");
  ASSERT_TRUE(h2.ok());
  EXPECT_NE(*h, *h2);
  EXPECT_TRUE(verify_password(*h2, "correct horse"));
  // Malformed hashes never verify.
  EXPECT_FALSE(verify_password("", "x"));
  EXPECT_FALSE(verify_password("$argon2id$garbage", "x"));
  EXPECT_FALSE(verify_password(std::string(500, 'a'), "x"));
}

TEST(Crypto, ConstantTimeEqual) {
  EXPECT_TRUE(constant_time_equal("secret", "secret"));
  EXPECT_FALSE(constant_time_equal("secret", "secreT"));
  EXPECT_FALSE(constant_time_equal("secret", "secret2"));
  EXPECT_TRUE(constant_time_equal("", ""));
}

TEST(Crypto, Base64RoundTripAndRejectsGarbage) {
  for (std::string s : {std::string(), std::string("a"), std::string("ab"), std::string("abc"),
                        std::string("\0\xff\x10 binary", 10)}) {
    auto back = base64_decode(base64_encode(s));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, s);
  }
  EXPECT_EQ(base64_encode("abc"), "YWJj");
  EXPECT_FALSE(base64_decode("YWJj!").ok());
  EXPECT_FALSE(base64_decode("YWJ").ok());
}

}  // namespace
}  // namespace mlxm::auth
