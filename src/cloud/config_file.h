// Small JSON config files under $MLX_MANAGER_HOME (the legacy providers.json and
// routing_rules.json, imported into the database once; the file storage of the unit tests).
// Writes are atomic (a temporary file in the same directory, fsync, rename) and create the
// file with mode 0600; a secrets file readable by others is refused on read.
// Thread-compatible (callers serialize writes to one file).
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>

#include "core/status.h"

namespace mlxm::cloud {

// Replaces `path` with `text` atomically, mode 0600.
Status write_file_atomic(const std::filesystem::path& path, const std::string& text);

// The parsed JSON object in `path`, nullopt when the file does not exist. With
// `require_private`, a file whose mode grants group/other access is an error naming the file.
Result<std::optional<nlohmann::json>> read_json_file(const std::filesystem::path& path,
                                                     bool require_private);

}  // namespace mlxm::cloud
