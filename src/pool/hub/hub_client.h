// Hugging Face hub downloads into the HF cache layout (DESIGN §4), on libcurl:
//   GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true   -> commit sha + files
//   GET {endpoint}/{repo}/resolve/{commit}/{file}                      -> the file (redirects
//                                                                          followed)
// Files go to blobs/<name>.incomplete, are resumed with `Range: bytes=N-` (after a dropped
// connection, a pause or a restart), verified (size; sha256 for LFS files), then renamed to
// blobs/<sha256> and linked from snapshots/<commit>/<file>; refs/<revision> is written last,
// atomically, so a half-downloaded model never resolves. HF_TOKEN is sent as a Bearer token;
// HF_HUB_OFFLINE=1 refuses any network access. Transient failures (5xx, dropped connections)
// are retried with a back-off.
//
// Thread-safety: pull() may run on several threads at once for different repos; a
// DownloadControl may be used from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"

namespace mlxm::pool::hub {

struct HubConfig {
  std::string endpoint = "https://huggingface.co";  // HF_ENDPOINT
  std::string token;                                // HF_TOKEN
  bool offline = false;                             // HF_HUB_OFFLINE
  std::string cache_dir;                            // the HF hub cache
  int max_retries = 4;                              // per file, for transient failures
  int retry_base_ms = 200;                          // back-off: base * 2^attempt
  int connect_timeout_s = 20;
  int stall_timeout_s = 60;                         // abort when < 1 byte/s for this long
};

// From HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE and the cache location (pool/model_resolver.h).
Result<HubConfig> hub_config_from_env();

struct HubFile {
  std::string path;     // relative path in the repo ("config.json", "sub/x.bin")
  uint64_t size = 0;    // 0 when the hub did not say
  std::string sha256;   // LFS files: the expected sha256 (hex)
};

struct RepoInfo {
  std::string commit;
  std::vector<HubFile> files;
};

struct PullProgress {
  uint64_t bytes_total = 0;
  uint64_t bytes_done = 0;
  int n_files = 0;
  int n_files_done = 0;
  std::string current_file;
  double bytes_per_second = 0;
};

// Pause/cancel from another thread. A paused pull returns Cancelled("paused") keeping its
// partial files; calling pull() again resumes them. A cancelled pull removes its partial files.
class DownloadControl {
 public:
  enum class Request { kNone, kPause, kCancel };
  void pause() { req_.store(Request::kPause); }
  void cancel() { req_.store(Request::kCancel); }
  void clear() { req_.store(Request::kNone); }
  Request request() const { return req_.load(); }

 private:
  std::atomic<Request> req_{Request::kNone};
};

struct PullOptions {
  std::string revision = "main";
  // Only files whose path matches one of these suffixes/names (empty = every file), e.g. the
  // model files: config.json, *.safetensors, tokenizer files.
  std::vector<std::string> allow_suffixes;
  std::function<void(const PullProgress&)> on_progress;  // called from the pulling thread
  DownloadControl* control = nullptr;
};

// The hub's listing of `repo` at `revision`.
Result<RepoInfo> fetch_repo_info(const HubConfig& cfg, const std::string& repo,
                                 const std::string& revision);

// Downloads `repo` into the cache; returns the snapshot directory. Errors: InvalidArgument (bad
// id), Unavailable (offline / network after retries), NotFound (no such repo/revision/file),
// PermissionDenied / Unauthenticated (gated or private: set HF_TOKEN), DataLoss (size or sha256
// mismatch), Cancelled (paused: message "paused"; cancelled: "cancelled").
Result<std::string> pull(const HubConfig& cfg, const std::string& repo, const PullOptions& opts);

// Removes a repo from the cache (models--org--name). NotFound when absent.
Status remove_from_cache(const std::string& cache_dir, const std::string& repo);
// Removes one revision of a cached repo: its snapshot, the refs naming it and the blobs no other
// snapshot links to; the whole repo directory when no snapshot is left. `revision` is a ref
// ("main") or a 40-hex commit. NotFound when the repo or the revision is not cached.
Status remove_revision_from_cache(const std::string& cache_dir, const std::string& repo,
                                  const std::string& revision);

// Hub search: GET {endpoint}/api/models?search=TEXT&limit=N[&filter=F].
struct SearchQuery {
  std::string text;    // the search words (1..200 characters)
  int limit = 20;      // 1..100
  std::string filter;  // "" = none, e.g. "mlx" (a tag / library)
};
struct HubModelInfo {
  std::string id;             // "org/name"
  int64_t downloads = 0;
  int64_t likes = 0;
  std::string last_modified;  // ISO 8601 as the hub sent it ("" when absent)
  std::vector<std::string> tags;
};
// Unavailable when offline (HF_HUB_OFFLINE) or the hub cannot be reached; InvalidArgument for a
// bad query; DataLoss for an answer that is not a list of models.
Result<std::vector<HubModelInfo>> search_models(const HubConfig& cfg, const SearchQuery& q);

// The default file filter for model downloads: config/tokenizer/template JSON, *.safetensors,
// *.json, *.jinja, *.txt, *.model (sentencepiece), README.md.
std::vector<std::string> model_file_suffixes();

}  // namespace mlxm::pool::hub
