// Shared by the cloud unit tests: a toy key cipher (the server uses auth::SecretBox; this is
// enough to see where sealing happens) and a whole-file reader.
#pragma once

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include "cloud/cloud_config.h"

namespace mlxm::cloud::testing {

inline KeyCipher toy_cipher() {
  return {[](std::string_view p) { return "sealed:" + std::string(p.rbegin(), p.rend()); },
          [](std::string_view s) -> Result<std::string> {
            if (s.rfind("sealed:", 0) != 0) return invalid_argument("not sealed");
            std::string_view body = s.substr(7);
            return std::string(body.rbegin(), body.rend());
          }};
}

inline std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace mlxm::cloud::testing
