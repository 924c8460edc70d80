#include "pool/model_resolver.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <system_error>

#include "core/env.h"
#include "engine/model_config.h"

namespace mlxm::pool {

namespace fs = std::filesystem;

namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

// One path component: [A-Za-z0-9._-]+, not starting with '.'.
bool valid_component(const std::string& s) {
  if (s.empty() || s.size() > 96 || s[0] == '.') return false;
  return std::all_of(s.begin(), s.end(), is_name_char);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t p = s.find(sep, start);
    out.push_back(s.substr(start, p == std::string::npos ? std::string::npos : p - start));
    if (p == std::string::npos) break;
    start = p + 1;
  }
  return out;
}

std::string read_small_file(const fs::path& p) {
  std::ifstream in(p);
  std::string s;
  std::getline(in, s);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

bool is_hex40(const std::string& s) {
  return s.size() == 40 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// Every entry of `dir` (recursively) must resolve inside `root`.
Status check_tree_within(const fs::path& dir, const fs::path& root, const std::string& id) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (!path_within(it->path().string(), root.string())) {
      return invalid_argument("the model '" + id + "' has a file that links outside its directory (" +
                              it->path().filename().string() + ")");
    }
  }
  if (ec) return invalid_argument("cannot read the directory of model '" + id + "': " + ec.message());
  return ok_status();
}

uint64_t tree_size(const fs::path& dir) {
  uint64_t n = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    std::error_code ec2;
    if (it->is_regular_file(ec2)) n += static_cast<uint64_t>(fs::file_size(it->path(), ec2));
  }
  return n;
}

}  // namespace

bool path_within(const std::string& path, const std::string& root) {
  std::error_code ec;
  fs::path p = fs::weakly_canonical(path, ec);
  if (ec) return false;
  fs::path r = fs::weakly_canonical(root, ec);
  if (ec) return false;
  auto pit = p.begin();
  for (auto rit = r.begin(); rit != r.end(); ++rit, ++pit) {
    if (rit->empty()) continue;  // trailing separator
    if (pit == p.end() || *pit != *rit) return false;
  }
  return true;
}

std::string default_hf_cache_dir() {
  if (auto c = env_get("HF_HUB_CACHE")) return *c;
  if (auto h = env_get("HF_HOME")) return (fs::path(*h) / "hub").string();
  if (auto home = env_get("HOME")) return (fs::path(*home) / ".cache/huggingface/hub").string();
  return "";
}

Result<ResolverConfig> resolver_config_from_env() {
  ResolverConfig c;
  MLXM_ASSIGN_OR_RETURN(c.model_dirs, env_list("MLX_SERVER_MODEL_DIRS"));
  MLXM_ASSIGN_OR_RETURN(c.allow_absolute_paths,
                        env_bool("MLX_SERVER_ALLOW_ABSOLUTE_MODEL_PATHS", false));
  c.hf_cache = default_hf_cache_dir();
  if (auto aliases = env_get("MLX_SERVER_MODEL_ALIASES")) {
    const std::string& text = *aliases;
    if (!text.empty() && text[0] == '{') {
      auto j = nlohmann::json::parse(text, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        return invalid_argument("MLX_SERVER_MODEL_ALIASES: not a JSON object of strings");
      }
      for (auto& [k, v] : j.items()) {
        if (!v.is_string()) return invalid_argument("MLX_SERVER_MODEL_ALIASES: '" + k + "' is not a string");
        c.aliases[k] = v.get<std::string>();
      }
    } else {
      for (const std::string& pair : split(text, ',')) {
        size_t eq = pair.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == pair.size()) {
          return invalid_argument("MLX_SERVER_MODEL_ALIASES: expected alias=model pairs, got '" +
                                  pair + "'");
        }
        c.aliases[pair.substr(0, eq)] = pair.substr(eq + 1);
      }
    }
  }
  return c;
}

Status ModelResolver::validate_repo_id(const std::string& repo) {
  std::vector<std::string> parts = split(repo, '/');
  if (parts.size() != 2 || !valid_component(parts[0]) || !valid_component(parts[1])) {
    return invalid_argument("invalid repository id '" + repo +
                            "': expected org/name with letters, digits, '.', '_' or '-' "
                            "(not starting with '.')");
  }
  return ok_status();
}

Status ModelResolver::validate_revision(const std::string& revision) {
  if (!valid_component(revision)) {
    return invalid_argument("invalid revision '" + revision +
                            "': letters, digits, '.', '_' or '-' only");
  }
  return ok_status();
}

ModelResolver::ModelResolver(ResolverConfig config) : config_(std::move(config)) {}

Result<ResolvedModel> ModelResolver::resolve(const std::string& id) const {
  auto alias = config_.aliases.find(id);
  if (alias != config_.aliases.end()) return resolve_unaliased(alias->second);
  return resolve_unaliased(id);
}

Result<ResolvedModel> ModelResolver::resolve_unaliased(const std::string& id) const {
  if (id.empty()) return invalid_argument("the model id is empty");
  if (id.size() > 512) return invalid_argument("the model id is too long");
  for (char c : id) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '\\') {
      return invalid_argument("the model id '" + id + "' has a forbidden character");
    }
  }
  auto e = config_.explicit_models.find(id);
  if (e != config_.explicit_models.end()) return ResolvedModel{id, e->second, "explicit", ""};

  if (id[0] == '/') {
    if (!config_.allow_absolute_paths) {
      return invalid_argument("the model id '" + id +
                              "' is an absolute path; absolute paths are not allowed (set "
                              "MLX_SERVER_ALLOW_ABSOLUTE_MODEL_PATHS=1)");
    }
    for (const std::string& part : split(id, '/')) {
      if (part == "..") return invalid_argument("the model id '" + id + "' contains '..'");
    }
    std::error_code ec;
    if (!fs::is_regular_file(fs::path(id) / "config.json", ec)) {
      return not_found("the model '" + id + "' does not exist (no config.json there)");
    }
    return ResolvedModel{id, fs::weakly_canonical(id, ec).string(), "path", ""};
  }

  // Relative ids: components must be clean names (this also rejects "..", "." and "").
  std::string path_part = id;
  std::string revision;
  if (size_t at = id.find('@'); at != std::string::npos) {
    path_part = id.substr(0, at);
    revision = id.substr(at + 1);
    MLXM_RETURN_IF_ERROR(validate_revision(revision));
  }
  std::vector<std::string> parts = split(path_part, '/');
  for (const std::string& p : parts) {
    if (p == "..") return invalid_argument("the model id '" + id + "' contains '..'");
    if (!valid_component(p)) {
      return invalid_argument("invalid model id '" + id +
                              "': path parts must be letters, digits, '.', '_' or '-' "
                              "(not starting with '.')");
    }
  }
  if (parts.size() > 2) return invalid_argument("invalid model id '" + id + "': expected name or org/name");

  if (revision.empty()) {
    for (const std::string& root : config_.model_dirs) {
      fs::path dir = fs::path(root) / path_part;
      std::error_code ec;
      if (!fs::is_regular_file(dir / "config.json", ec)) continue;
      if (!path_within(dir.string(), root)) {
        return invalid_argument("the model '" + id + "' links outside the model directory " + root);
      }
      MLXM_RETURN_IF_ERROR(check_tree_within(dir, fs::path(root), id));
      return ResolvedModel{id, fs::weakly_canonical(dir, ec).string(), "model_dir", ""};
    }
  }
  if (parts.size() == 2) {
    return resolve_hf(path_part, revision.empty() ? "main" : revision);
  }
  return not_found("the model '" + id + "' does not exist");
}

Result<ResolvedModel> ModelResolver::resolve_hf(const std::string& repo,
                                                const std::string& revision) const {
  if (config_.hf_cache.empty()) return not_found("the model '" + repo + "' does not exist");
  std::vector<std::string> parts = split(repo, '/');
  fs::path repo_dir = fs::path(config_.hf_cache) / ("models--" + parts[0] + "--" + parts[1]);
  std::error_code ec;
  if (!fs::is_directory(repo_dir, ec)) {
    return not_found("the model '" + repo + "' does not exist (not in the Hugging Face cache " +
                     config_.hf_cache + "; pull it with `mlx-manager models pull " + repo + "`)");
  }
  std::string commit;
  fs::path ref = repo_dir / "refs" / revision;
  if (fs::is_regular_file(ref, ec)) {
    commit = read_small_file(ref);
    if (!is_hex40(commit) && !valid_component(commit)) {
      return invalid_argument("the cache ref " + ref.string() + " is malformed");
    }
  } else if (is_hex40(revision)) {
    commit = revision;
  } else {
    return not_found("the model '" + repo + "' has no revision '" + revision + "' in the cache");
  }
  fs::path snap = repo_dir / "snapshots" / commit;
  if (!fs::is_directory(snap, ec)) {
    return not_found("the model '" + repo + "@" + revision + "' has no snapshot " + commit);
  }
  const std::string id = revision == "main" ? repo : repo + "@" + revision;
  if (!path_within(snap.string(), repo_dir.string())) {
    return invalid_argument("the snapshot of '" + id + "' links outside the cache");
  }
  MLXM_RETURN_IF_ERROR(check_tree_within(snap, repo_dir, id));
  if (!fs::is_regular_file(snap / "config.json", ec)) {
    return not_found("the model '" + id + "' is in the cache but has no config.json (incomplete download?)");
  }
  return ResolvedModel{id, fs::weakly_canonical(snap, ec).string(), "hf_cache", commit};
}

AvailableModel describe_model_dir(const std::string& id, const std::string& dir,
                                  const std::string& source) {
  AvailableModel m;
  m.id = id;
  m.dir = dir;
  m.source = source;
  m.size_bytes = tree_size(dir);
  auto cfg = engine::ModelConfig::load(dir);
  if (!cfg.ok()) {
    m.why_not = cfg.status().message();
    return m;
  }
  m.architecture = cfg->architecture;
  if (cfg->quant.bits > 0) {
    m.quantization = "q" + std::to_string(cfg->quant.bits) + "/g" + std::to_string(cfg->quant.group_size);
  } else {
    m.quantization = cfg->torch_dtype.empty() ? "unquantized" : cfg->torch_dtype;
  }
  std::error_code ec;
  bool has_weights = false;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::end(it); it.increment(ec)) {
    if (it->path().extension() == ".safetensors") has_weights = true;
  }
  if (!has_weights) {
    m.why_not = "no .safetensors weights";
  } else if (!fs::exists(fs::path(dir) / "tokenizer.json", ec)) {
    m.why_not = "no tokenizer.json";
  } else {
    m.loadable = true;
  }
  return m;
}

std::vector<AvailableModel> ModelResolver::list_available() const {
  std::vector<AvailableModel> out;
  std::map<std::string, bool> seen;
  auto add = [&](AvailableModel m) {
    if (seen.emplace(m.id, true).second) out.push_back(std::move(m));
  };
  for (const auto& [name, dir] : config_.explicit_models) add(describe_model_dir(name, dir, "explicit"));
  std::error_code ec;
  for (const std::string& root : config_.model_dirs) {
    for (auto it = fs::directory_iterator(root, ec); !ec && it != fs::end(it); it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (!valid_component(name) || !it->is_directory()) continue;
      if (fs::exists(it->path() / "config.json")) {
        if (path_within(it->path().string(), root)) add(describe_model_dir(name, it->path().string(), "model_dir"));
        continue;
      }
      std::error_code ec2;  // org/name layout
      for (auto sub = fs::directory_iterator(it->path(), ec2); !ec2 && sub != fs::end(sub);
           sub.increment(ec2)) {
        const std::string sname = sub->path().filename().string();
        if (valid_component(sname) && fs::exists(sub->path() / "config.json") &&
            path_within(sub->path().string(), root)) {
          add(describe_model_dir(name + "/" + sname, sub->path().string(), "model_dir"));
        }
      }
    }
  }
  if (!config_.hf_cache.empty()) {
    for (auto it = fs::directory_iterator(config_.hf_cache, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      const std::string dname = it->path().filename().string();
      if (dname.rfind("models--", 0) != 0) continue;
      std::string rest = dname.substr(8);
      size_t sep = rest.find("--");
      if (sep == std::string::npos) continue;
      const std::string repo = rest.substr(0, sep) + "/" + rest.substr(sep + 2);
      if (!validate_repo_id(repo).ok()) continue;
      auto r = resolve_hf(repo, "main");
      if (r.ok()) {
        add(describe_model_dir(repo, r->dir, "hf_cache"));
      } else {
        AvailableModel m;
        m.id = repo;
        m.dir = it->path().string();
        m.source = "hf_cache";
        m.size_bytes = tree_size(it->path() / "blobs");
        m.why_not = r.status().message();
        add(std::move(m));
      }
    }
  }
  return out;
}

}  // namespace mlxm::pool
