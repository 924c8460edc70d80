// The one-time move of the cloud configuration from the legacy files ($MLX_MANAGER_HOME/
// providers.json and routing_rules.json) into the database. When either file exists and the
// target holds no provider and no rule, the files are loaded with the full validation of
// CloudConfig::open (keys opened with the cipher), written to the target (keys sealed again),
// then renamed to *.imported (never deleted). When the target already holds entries the files
// are left alone and a warning names them (they were imported before, or edited since).
#pragma once

#include <filesystem>
#include <vector>

#include "cloud/cloud_config.h"
#include "cloud/cloud_storage.h"
#include "core/status.h"

namespace mlxm::cloud {

struct CloudImport {
  bool imported = false;
  size_t providers = 0;
  size_t rules = 0;
  std::vector<std::filesystem::path> renamed_to;  // the *.imported files
};

// `options.home` holds the files; `options.cipher` opens and seals keys (options.storage is
// ignored). Errors: a file that cannot be loaded (named), the target cannot be read or
// written, a rename failed (the data is in the target by then; the next start warns).
Result<CloudImport> import_cloud_files(const CloudOptions& options, CloudStorage& target);

}  // namespace mlxm::cloud
