// SecretBox: encryption at rest for secrets the server must use later (cloud provider API keys),
// with libsodium's crypto_secretbox (XSalsa20-Poly1305) under a 32-byte key kept in a file of
// mode 0600 (by default $MLX_MANAGER_HOME/secret.key), created on first use.
//
//   MLXM_ASSIGN_OR_RETURN(auth::SecretBox box, auth::SecretBox::open_default());
//   std::string sealed = box.seal("sk-...");          // "sb1:<base64(nonce || ciphertext)>"
//   MLXM_ASSIGN_OR_RETURN(std::string key, box.open(sealed));
//
// Store only sealed strings; never log or return the plaintext. Each seal uses a fresh random
// nonce, so sealing the same text twice gives different strings.
//
// Thread-safety: immutable after creation; seal/open are thread-safe.
#pragma once

#include <array>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/status.h"

namespace mlxm::auth {

inline constexpr const char* kSecretKeyFileName = "secret.key";

class SecretBox {
 public:
  // Reads the key file, or creates it (mode 0600, 32 random bytes) when missing. Errors: the file
  // is readable or writable by group/others (asks for chmod 600), has the wrong size, or cannot be
  // read or created.
  static Result<SecretBox> open_or_create(const std::filesystem::path& key_file);
  // open_or_create($MLX_MANAGER_HOME/secret.key).
  static Result<SecretBox> open_default();

  std::string seal(std::string_view plaintext) const;
  // Errors: not a sealed string, or tampered with / sealed under another key.
  Result<std::string> open(std::string_view sealed) const;

  static bool looks_sealed(std::string_view text);

 private:
  SecretBox() = default;
  std::array<unsigned char, 32> key_{};
};

}  // namespace mlxm::auth
