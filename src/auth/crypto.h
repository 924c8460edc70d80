// Hashing and random tokens (libsodium). Passwords: Argon2id via crypto_pwhash_str with the
// interactive limits (~64 MiB, a few hundred ms); tokens and API keys: BLAKE2b-256
// (crypto_generichash) of a high-entropy random string, which needs no salt or slow hash.
//
// Thread-safety: every function is thread-safe (libsodium is initialised once).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/status.h"

namespace mlxm::auth {

// `n_bytes` random bytes as lowercase hex (2 * n_bytes characters).
std::string random_hex(size_t n_bytes);

// BLAKE2b-256 of `token`, lowercase hex (64 characters).
std::string token_hash(std::string_view token);

// An Argon2id hash string ("$argon2id$v=19$m=...") of `password`. Errors: out of memory.
Result<std::string> hash_password(std::string_view password);
// True when `password` matches `hash` (a string from hash_password). False for a malformed hash.
bool verify_password(const std::string& hash, std::string_view password);
// Spends the time of one verify_password (used when the user does not exist, so that timing does
// not tell which usernames exist).
void burn_password_check(std::string_view password);

// Constant-time comparison (the length is not secret).
bool constant_time_equal(std::string_view a, std::string_view b);

// Standard base64 with padding, and its inverse (nullopt-like error on bad input).
std::string base64_encode(std::string_view bytes);
Result<std::string> base64_decode(std::string_view text);

}  // namespace mlxm::auth
