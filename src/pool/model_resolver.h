// Model resolution: a model id -> a directory to load, without ever leaving the places models
// may come from (DESIGN §4, issue 7):
//   - an explicit name (`serve --model DIR` registers DIR under its directory name);
//   - an alias from MLX_SERVER_MODEL_ALIASES (JSON object or "alias=target,..."), resolved once;
//   - a directory under one of the configured model dirs (MLX_SERVER_MODEL_DIRS), "name" or
//     "org/name";
//   - `org/name[@revision]` in the Hugging Face cache: models--org--name/refs/<rev> -> a commit,
//     snapshots/<commit>/ (files usually symlinks into blobs/); a 40-hex revision names the
//     snapshot directly;
//   - an absolute path, only when allow_absolute_paths.
// Anything with "..", a backslash, control characters, an absolute path (unless allowed) or a
// symlink that leads outside the model dir / the cache is InvalidArgument (HTTP 400). An id
// that is well-formed but found nowhere is NotFound.
//
// Thread-safety: immutable after construction; all methods are const and thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace mlxm::pool {

struct ResolverConfig {
  std::map<std::string, std::string> explicit_models;  // name -> directory (--model)
  std::map<std::string, std::string> aliases;          // alias -> model id
  std::vector<std::string> model_dirs;                 // roots holding model directories
  std::string hf_cache;                                // "" = no HF cache
  bool allow_absolute_paths = false;                   // MLX_SERVER_ALLOW_ABSOLUTE_MODEL_PATHS
};

// $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub.
std::string default_hf_cache_dir();

// Reads MLX_SERVER_MODEL_DIRS (list), MLX_SERVER_MODEL_ALIASES, MLX_SERVER_ALLOW_ABSOLUTE_MODEL_PATHS
// and the HF cache location. Malformed values are errors naming the variable.
Result<ResolverConfig> resolver_config_from_env();

struct ResolvedModel {
  std::string id;        // canonical id (alias targets and "@main" normalised away)
  std::string dir;       // directory to load
  std::string source;    // "explicit", "model_dir", "hf_cache", "path"
  std::string revision;  // hf_cache: the commit hash
};

// One loadable-or-not model found on disk (for /v1/models and `models list`).
struct AvailableModel {
  std::string id;
  std::string dir;
  std::string source;
  uint64_t size_bytes = 0;     // sum of file sizes (through symlinks)
  std::string architecture;    // from config.json; "" when unreadable
  std::string quantization;    // "q4/g64", "bf16", ...
  bool loadable = false;
  std::string why_not;         // when !loadable
};

class ModelResolver {
 public:
  explicit ModelResolver(ResolverConfig config);

  Result<ResolvedModel> resolve(const std::string& id) const;
  // Every model in the explicit set, the model dirs and the HF cache.
  std::vector<AvailableModel> list_available() const;
  const ResolverConfig& config() const { return config_; }

  // Syntax check shared with the hub code: "org/name" with [A-Za-z0-9._-] parts, not starting
  // with '.' (so never "." or ".."); InvalidArgument naming the problem.
  static Status validate_repo_id(const std::string& repo);
  static Status validate_revision(const std::string& revision);

 private:
  Result<ResolvedModel> resolve_unaliased(const std::string& id) const;
  Result<ResolvedModel> resolve_hf(const std::string& repo, const std::string& revision) const;

  ResolverConfig config_;
};

// Describes a model directory: architecture, quantization, size, loadable or why not.
AvailableModel describe_model_dir(const std::string& id, const std::string& dir,
                                  const std::string& source);

// True when `path` (after resolving symlinks) lies inside `root` (also resolved).
bool path_within(const std::string& path, const std::string& root);

}  // namespace mlxm::pool
