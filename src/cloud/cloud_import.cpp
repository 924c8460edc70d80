#include "cloud/cloud_import.h"

#include <system_error>

#include "core/log.h"

namespace mlxm::cloud {

namespace {

namespace fs = std::filesystem;

// `file`.imported, or `file`.imported.N when that exists already.
fs::path imported_name(const fs::path& file) {
  fs::path to = file;
  to += ".imported";
  for (int n = 1; fs::exists(to); ++n) {
    to = file;
    to += ".imported." + std::to_string(n);
  }
  return to;
}

}  // namespace

Result<CloudImport> import_cloud_files(const CloudOptions& options, CloudStorage& target) {
  CloudImport out;
  std::vector<fs::path> files;
  for (const char* name : {kProvidersFile, kRulesFile}) {
    if (fs::exists(options.home / name)) files.push_back(options.home / name);
  }
  if (files.empty()) return out;
  MLXM_ASSIGN_OR_RETURN(CloudEntries present, target.load());
  if (!present.providers.empty() || !present.rules.empty()) {
    MLXM_LOG_WARN("cloud config: {} already holds {} provider(s) and {} rule(s); not importing {}{}",
                  target.providers_source(), present.providers.size(), present.rules.size(),
                  files[0].string(), files.size() > 1 ? " and " + files[1].string() : "");
    return out;
  }
  CloudOptions from = options;
  from.storage = std::make_shared<FileCloudStorage>(options.home);
  auto loaded = CloudConfig::open(std::move(from));
  if (!loaded.ok()) return loaded.status().with_context("importing the cloud config files");
  std::shared_ptr<CloudConfig> config = std::move(loaded).value();
  MLXM_RETURN_IF_ERROR(config->copy_to(target));
  MLXM_ASSIGN_OR_RETURN(CloudEntries written, target.load());
  out.imported = true;
  out.providers = written.providers.size();
  out.rules = written.rules.size();
  for (const fs::path& f : files) {
    const fs::path to = imported_name(f);
    std::error_code ec;
    fs::rename(f, to, ec);
    if (ec) {
      return unavailable("imported " + f.string() + " into " + target.providers_source() +
                         " but cannot rename it to " + to.string() + ": " + ec.message());
    }
    out.renamed_to.push_back(to);
  }
  MLXM_LOG_INFO("cloud config: imported {} provider(s) and {} rule(s) into the database; the files "
                "are kept as {}{}",
                out.providers, out.rules, out.renamed_to[0].string(),
                out.renamed_to.size() > 1 ? " and " + out.renamed_to[1].string() : "");
  return out;
}

}  // namespace mlxm::cloud
