#include "pool/hub/hub_client.h"

#include <curl/curl.h>
#include <sodium.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "core/clock.h"
#include "core/env.h"
#include "core/log.h"
#include "pool/model_resolver.h"

namespace mlxm::pool::hub {

namespace fs = std::filesystem;

namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (sodium_init() < 0) MLXM_LOG_WARN("sodium_init failed");
  });
}

std::string hex(const unsigned char* p, size_t n) {
  static const char* k = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += k[p[i] >> 4];
    s += k[p[i] & 15];
  }
  return s;
}

// Percent-encodes everything but unreserved characters (and '/' when `keep_slash`).
std::string percent_encode(const std::string& s, bool keep_slash) {
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || (keep_slash && c == '/') || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// Percent-encodes a path, keeping '/'.
std::string url_path(const std::string& s) { return percent_encode(s, true); }

Status status_for_http(long code, const std::string& what, const std::string& body) {
  std::string detail = body.substr(0, 200);
  if (code == 401) {
    return Status(StatusCode::kUnauthenticated,
                  what + ": HTTP 401 (private or gated repository: set HF_TOKEN) " + detail);
  }
  if (code == 403) {
    return Status(StatusCode::kPermissionDenied,
                  what + ": HTTP 403 (no access with this HF_TOKEN; accept the model's terms?) " + detail);
  }
  if (code == 404) return not_found(what + ": HTTP 404 (no such repository, revision or file)");
  if (code == 416) return out_of_range(what + ": HTTP 416 (range not satisfiable)");
  return unavailable(what + ": HTTP " + std::to_string(code) + " " + detail);
}

bool transient(const Status& st) {
  return st.code() == StatusCode::kUnavailable || st.code() == StatusCode::kDeadlineExceeded;
}

struct Curl {
  CURL* h = nullptr;
  curl_slist* headers = nullptr;
  Curl() { h = curl_easy_init(); }
  ~Curl() {
    if (headers) curl_slist_free_all(headers);
    if (h) curl_easy_cleanup(h);
  }
};

void common_setup(Curl& c, const HubConfig& cfg, const std::string& url) {
  curl_easy_setopt(c.h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c.h, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c.h, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(c.h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c.h, CURLOPT_CONNECTTIMEOUT, static_cast<long>(cfg.connect_timeout_s));
  curl_easy_setopt(c.h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c.h, CURLOPT_LOW_SPEED_TIME, static_cast<long>(cfg.stall_timeout_s));
  curl_easy_setopt(c.h, CURLOPT_USERAGENT, "mlx-manager/" MLXM_VERSION);
  if (!cfg.token.empty()) {
    c.headers = curl_slist_append(c.headers, ("Authorization: Bearer " + cfg.token).c_str());
  }
}

size_t append_string(char* p, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(p, size * n);
  return size * n;
}

// One file transfer into `part` (appending from its current size).
struct Transfer {
  std::FILE* out = nullptr;
  crypto_hash_sha256_state sha;
  uint64_t written = 0;
  const PullOptions* opts = nullptr;
  PullProgress* progress = nullptr;
  uint64_t base_done = 0;  // progress->bytes_done before this transfer
  TimePoint t0;
  TimePoint last_report;
  long http_code = 0;
  bool write_error = false;
  std::string error_body;
};

size_t write_file(char* p, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t len = size * n;
  if (t->http_code >= 400) {  // error bodies are not file data
    t->error_body.append(p, std::min<size_t>(len, 512));
    return len;
  }
  if (std::fwrite(p, 1, len, t->out) != len) {
    t->write_error = true;
    return 0;
  }
  crypto_hash_sha256_update(&t->sha, reinterpret_cast<const unsigned char*>(p), len);
  t->written += len;
  if (t->progress) {
    t->progress->bytes_done = t->base_done + t->written;
    const TimePoint n2 = now();
    const double s = ms_between(t->t0, n2) / 1000.0;
    if (s > 0) t->progress->bytes_per_second = static_cast<double>(t->written) / s;
    if (t->opts->on_progress && ms_between(t->last_report, n2) >= 100) {
      t->last_report = n2;
      t->opts->on_progress(*t->progress);
    }
  }
  return len;
}

size_t header_cb(char* p, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string line(p, size * n);
  if (line.rfind("HTTP/", 0) == 0) {  // a new response (also after a redirect)
    size_t sp = line.find(' ');
    t->http_code = sp == std::string::npos ? 0 : std::atol(line.c_str() + sp + 1);
  }
  return size * n;
}

int xfer_cb(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (t->opts->control && t->opts->control->request() != DownloadControl::Request::kNone) return 1;
  return 0;
}

Status hash_existing(const std::string& path, crypto_hash_sha256_state* sha, uint64_t* size) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> buf(1 << 20);
  *size = 0;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    std::streamsize got = in.gcount();
    if (got <= 0) break;
    crypto_hash_sha256_update(sha, reinterpret_cast<const unsigned char*>(buf.data()),
                              static_cast<size_t>(got));
    *size += static_cast<uint64_t>(got);
  }
  return ok_status();
}

Status write_atomically(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp" + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) return unavailable("cannot write " + tmp.string());
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return unavailable("cannot rename " + tmp.string() + ": " + ec.message());
  return ok_status();
}

std::string sanitize(const std::string& s) {
  std::string out;
  for (char c : s) out += (isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-') ? c : '_';
  return out;
}

bool wanted(const std::string& path, const std::vector<std::string>& suffixes) {
  if (suffixes.empty()) return true;
  for (const std::string& s : suffixes) {
    if (path.size() >= s.size() && path.compare(path.size() - s.size(), s.size(), s) == 0) return true;
  }
  return false;
}

// Downloads one file into blobs/ (resuming `part`), verifies it, links it into the snapshot.
Status fetch_file(const HubConfig& cfg, const std::string& repo, const std::string& commit,
                  const HubFile& f, const fs::path& repo_dir, const PullOptions& opts,
                  PullProgress* progress) {
  const fs::path blobs = repo_dir / "blobs";
  const fs::path link = repo_dir / "snapshots" / commit / f.path;
  std::error_code ec;
  // Already complete (a previous pull): the link resolves to a blob of the right size.
  if (fs::exists(link, ec) && (f.size == 0 || fs::file_size(link, ec) == f.size)) {
    progress->bytes_done += fs::file_size(link, ec);
    return ok_status();
  }
  const std::string part_name =
      (f.sha256.empty() ? commit + "." + sanitize(f.path) : f.sha256) + ".incomplete";
  const fs::path part = blobs / part_name;
  const std::string url =
      cfg.endpoint + "/" + repo + "/resolve/" + commit + "/" + url_path(f.path);
  const uint64_t base_done = progress->bytes_done;
  Status last;
  for (int attempt = 0; attempt <= cfg.max_retries; ++attempt) {
    if (attempt > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(cfg.retry_base_ms << (attempt - 1)));
    }
    Transfer t;
    crypto_hash_sha256_init(&t.sha);
    uint64_t have = 0;
    if (fs::exists(part, ec)) MLXM_RETURN_IF_ERROR(hash_existing(part.string(), &t.sha, &have));
    if (f.size > 0 && have > f.size) {  // garbage: start over
      fs::remove(part, ec);
      crypto_hash_sha256_init(&t.sha);
      have = 0;
    }
    t.out = std::fopen(part.c_str(), "ab");
    if (t.out == nullptr) return unavailable("cannot write " + part.string());
    t.opts = &opts;
    t.progress = progress;
    t.base_done = base_done + have;
    progress->bytes_done = t.base_done;
    t.t0 = t.last_report = now();
    Curl c;
    common_setup(c, cfg, url);
    if (have > 0 && (f.size == 0 || have < f.size)) {
      c.headers = curl_slist_append(c.headers, ("Range: bytes=" + std::to_string(have) + "-").c_str());
    }
    curl_easy_setopt(c.h, CURLOPT_HTTPHEADER, c.headers);
    curl_easy_setopt(c.h, CURLOPT_WRITEFUNCTION, write_file);
    curl_easy_setopt(c.h, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(c.h, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(c.h, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(c.h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c.h, CURLOPT_XFERINFOFUNCTION, xfer_cb);
    curl_easy_setopt(c.h, CURLOPT_XFERINFODATA, &t);
    bool skip = f.size > 0 && have == f.size;  // complete part from an earlier run
    CURLcode rc = CURLE_OK;
    if (!skip) rc = curl_easy_perform(c.h);
    std::fclose(t.out);
    if (!skip) {
      long code = 0;
      curl_easy_getinfo(c.h, CURLINFO_RESPONSE_CODE, &code);
      if (rc == CURLE_ABORTED_BY_CALLBACK) {
        if (opts.control && opts.control->request() == DownloadControl::Request::kCancel) {
          fs::remove(part, ec);
          return cancelled("cancelled");
        }
        return cancelled("paused");
      }
      if (t.write_error) return unavailable("cannot write " + part.string() + " (disk full?)");
      if (code >= 400) {
        // Nothing of the error body was written to the part file (write_file skips it).
        last = status_for_http(code, "GET " + url, t.error_body);
        if (code == 416) fs::remove(part, ec);  // our part is wrong: start over next attempt
        if (!transient(last) && code != 416) return last;
        continue;
      }
      if (have > 0 && code == 200) {
        // The server ignored the Range: the part now holds old + full bytes. Start over.
        fs::remove(part, ec);
        last = unavailable("GET " + url + ": the server ignored the Range request");
        continue;
      }
      if (rc != CURLE_OK) {
        last = unavailable("GET " + url + ": " + curl_easy_strerror(rc));
        MLXM_LOG_WARN("hub: {} (attempt {}/{}, {} bytes kept)", last.message(), attempt + 1,
                      cfg.max_retries + 1, have + t.written);
        continue;
      }
    }
    const uint64_t size = fs::file_size(part, ec);
    if (f.size > 0 && size != f.size) {
      if (size < f.size) {  // the connection ended early without an error: resume
        last = unavailable("GET " + url + ": got " + std::to_string(size) + " of " +
                           std::to_string(f.size) + " bytes");
        continue;
      }
      fs::remove(part, ec);
      return data_loss(f.path + ": size " + std::to_string(size) + " != expected " +
                       std::to_string(f.size));
    }
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&t.sha, digest);
    const std::string sha = hex(digest, sizeof digest);
    if (!f.sha256.empty() && sha != f.sha256) {
      fs::remove(part, ec);
      return data_loss(f.path + ": sha256 " + sha + " != expected " + f.sha256 +
                       " (corrupt download; retry)");
    }
    const fs::path blob = blobs / sha;
    fs::rename(part, blob, ec);
    if (ec) return unavailable("cannot move " + part.string() + ": " + ec.message());
    fs::create_directories(link.parent_path(), ec);
    fs::path rel = fs::relative(blob, link.parent_path(), ec);
    const fs::path tmp_link = link.string() + ".tmp";
    fs::remove(tmp_link, ec);
    fs::create_symlink(rel, tmp_link, ec);
    if (ec) return unavailable("cannot link " + link.string() + ": " + ec.message());
    fs::rename(tmp_link, link, ec);
    if (ec) return unavailable("cannot link " + link.string() + ": " + ec.message());
    progress->bytes_done = base_done + size;
    return ok_status();
  }
  return last;
}

// GET `url` into a string, retrying transient failures (5xx, dropped connections) with the
// back-off; other HTTP errors as status_for_http.
Result<std::string> get_text(const HubConfig& cfg, const std::string& url) {
  Status last;
  for (int attempt = 0; attempt <= cfg.max_retries; ++attempt) {
    if (attempt > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(cfg.retry_base_ms << (attempt - 1)));
    }
    Curl c;
    common_setup(c, cfg, url);
    curl_easy_setopt(c.h, CURLOPT_HTTPHEADER, c.headers);
    std::string body;
    curl_easy_setopt(c.h, CURLOPT_WRITEFUNCTION, append_string);
    curl_easy_setopt(c.h, CURLOPT_WRITEDATA, &body);
    CURLcode rc = curl_easy_perform(c.h);
    long code = 0;
    curl_easy_getinfo(c.h, CURLINFO_RESPONSE_CODE, &code);
    if (rc != CURLE_OK) {
      last = unavailable("GET " + url + ": " + curl_easy_strerror(rc));
      continue;
    }
    if (code != 200) {
      last = status_for_http(code, "GET " + url, body);
      if (transient(last)) continue;
      return last;
    }
    return body;
  }
  return last;
}

// Percent-encodes a query value (everything but unreserved characters).
std::string url_query(const std::string& s) { return percent_encode(s, false); }

fs::path repo_cache_dir(const std::string& cache_dir, const std::string& repo) {
  const size_t slash = repo.find('/');
  return fs::path(cache_dir) / ("models--" + repo.substr(0, slash) + "--" + repo.substr(slash + 1));
}

}  // namespace

std::vector<std::string> model_file_suffixes() {
  return {".json", ".safetensors", ".jinja", ".txt", ".model", "README.md"};
}

Result<HubConfig> hub_config_from_env() {
  HubConfig c;
  c.endpoint = env_string("HF_ENDPOINT", c.endpoint);
  while (!c.endpoint.empty() && c.endpoint.back() == '/') c.endpoint.pop_back();
  c.token = env_string("HF_TOKEN", "");
  MLXM_ASSIGN_OR_RETURN(c.offline, env_bool("HF_HUB_OFFLINE", false));
  c.cache_dir = default_hf_cache_dir();
  if (c.cache_dir.empty()) return invalid_argument("no Hugging Face cache directory (set HF_HOME)");
  return c;
}

Result<RepoInfo> fetch_repo_info(const HubConfig& cfg, const std::string& repo,
                                 const std::string& revision) {
  global_init();
  MLXM_RETURN_IF_ERROR(ModelResolver::validate_repo_id(repo));
  MLXM_RETURN_IF_ERROR(ModelResolver::validate_revision(revision));
  if (cfg.offline) {
    return unavailable("HF_HUB_OFFLINE=1: not contacting the hub for " + repo);
  }
  const std::string url =
      cfg.endpoint + "/api/models/" + repo + "/revision/" + url_path(revision) + "?blobs=true";
  MLXM_ASSIGN_OR_RETURN(std::string body, get_text(cfg, url));
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("sha") || !j["sha"].is_string() ||
      !j.contains("siblings") || !j["siblings"].is_array()) {
    return data_loss("GET " + url + ": unexpected answer (no sha/siblings)");
  }
  RepoInfo info;
  info.commit = j["sha"].get<std::string>();
  MLXM_RETURN_IF_ERROR(ModelResolver::validate_revision(info.commit));
  for (const auto& s : j["siblings"]) {
    if (!s.is_object() || !s.contains("rfilename") || !s["rfilename"].is_string()) continue;
    HubFile f;
    f.path = s["rfilename"].get<std::string>();
    // A hostile listing must not write outside the snapshot.
    bool safe = !f.path.empty() && f.path[0] != '/' && f.path.find('\\') == std::string::npos;
    for (const auto& part : fs::path(f.path)) safe = safe && part != ".." && part != ".";
    if (!safe) return invalid_argument("the hub listed an unsafe file name '" + f.path + "'");
    if (s.contains("size") && s["size"].is_number_unsigned()) f.size = s["size"].get<uint64_t>();
    if (s.contains("lfs") && s["lfs"].is_object()) {
      const auto& lfs = s["lfs"];
      if (lfs.contains("sha256") && lfs["sha256"].is_string()) f.sha256 = lfs["sha256"].get<std::string>();
      if (lfs.contains("size") && lfs["size"].is_number_unsigned()) f.size = lfs["size"].get<uint64_t>();
    }
    info.files.push_back(std::move(f));
  }
  return info;
}

Result<std::string> pull(const HubConfig& cfg, const std::string& repo, const PullOptions& opts) {
  MLXM_ASSIGN_OR_RETURN(RepoInfo info, fetch_repo_info(cfg, repo, opts.revision));
  const size_t slash = repo.find('/');
  const fs::path repo_dir =
      fs::path(cfg.cache_dir) / ("models--" + repo.substr(0, slash) + "--" + repo.substr(slash + 1));
  std::error_code ec;
  fs::create_directories(repo_dir / "blobs", ec);
  fs::create_directories(repo_dir / "refs", ec);
  fs::create_directories(repo_dir / "snapshots" / info.commit, ec);
  if (ec) return unavailable("cannot create " + repo_dir.string() + ": " + ec.message());
  PullProgress progress;
  std::vector<HubFile> files;
  for (const HubFile& f : info.files) {
    if (!wanted(f.path, opts.allow_suffixes)) continue;
    files.push_back(f);
    progress.bytes_total += f.size;
  }
  if (files.empty()) return not_found(repo + "@" + opts.revision + " has no model files");
  progress.n_files = static_cast<int>(files.size());
  for (const HubFile& f : files) {
    progress.current_file = f.path;
    if (opts.on_progress) opts.on_progress(progress);
    if (opts.control && opts.control->request() != DownloadControl::Request::kNone) {
      if (opts.control->request() == DownloadControl::Request::kCancel) {
        remove_from_cache(cfg.cache_dir, repo).ok();
        return cancelled("cancelled");
      }
      return cancelled("paused");
    }
    Status st = fetch_file(cfg, repo, info.commit, f, repo_dir, opts, &progress);
    if (st.code() == StatusCode::kCancelled && st.message() == "cancelled") {
      // Cancel drops what this pull fetched when the repo has no complete revision.
      if (!fs::exists(repo_dir / "refs" / opts.revision)) fs::remove_all(repo_dir, ec);
      return st;
    }
    MLXM_RETURN_IF_ERROR(st);
    ++progress.n_files_done;
  }
  if (opts.revision != info.commit) {
    MLXM_RETURN_IF_ERROR(write_atomically(repo_dir / "refs" / opts.revision, info.commit));
  }
  progress.current_file.clear();
  if (opts.on_progress) opts.on_progress(progress);
  return (repo_dir / "snapshots" / info.commit).string();
}

Status remove_from_cache(const std::string& cache_dir, const std::string& repo) {
  MLXM_RETURN_IF_ERROR(ModelResolver::validate_repo_id(repo));
  const size_t slash = repo.find('/');
  const fs::path repo_dir =
      fs::path(cache_dir) / ("models--" + repo.substr(0, slash) + "--" + repo.substr(slash + 1));
  std::error_code ec;
  if (!fs::is_directory(repo_dir, ec)) return not_found(repo + " is not in the cache " + cache_dir);
  fs::remove_all(repo_dir, ec);
  if (ec) return unavailable("cannot remove " + repo_dir.string() + ": " + ec.message());
  return ok_status();
}

}  // namespace mlxm::pool::hub

namespace mlxm::pool::hub {

Status remove_revision_from_cache(const std::string& cache_dir, const std::string& repo,
                                  const std::string& revision) {
  MLXM_RETURN_IF_ERROR(ModelResolver::validate_repo_id(repo));
  MLXM_RETURN_IF_ERROR(ModelResolver::validate_revision(revision));
  const fs::path repo_dir = repo_cache_dir(cache_dir, repo);
  std::error_code ec;
  if (!fs::is_directory(repo_dir, ec)) return not_found(repo + " is not in the cache " + cache_dir);
  // The commit: refs/<revision>, or the revision itself when it names a snapshot.
  std::string commit = revision;
  {
    std::ifstream ref(repo_dir / "refs" / revision);
    std::string line;
    if (ref && std::getline(ref, line) && ModelResolver::validate_revision(line).ok()) commit = line;
  }
  const fs::path snapshot = repo_dir / "snapshots" / commit;
  if (!fs::is_directory(snapshot, ec)) {
    return not_found(repo + "@" + revision + " is not in the cache " + cache_dir);
  }
  fs::remove_all(snapshot, ec);
  if (ec) return unavailable("cannot remove " + snapshot.string() + ": " + ec.message());
  // Refs that named the removed commit.
  for (const auto& e : fs::directory_iterator(repo_dir / "refs", ec)) {
    std::ifstream in(e.path());
    std::string line;
    if (in && std::getline(in, line) && line == commit) fs::remove(e.path(), ec);
  }
  // Blobs no remaining snapshot links to.
  std::set<std::string> used;
  bool any_snapshot = false;
  for (const auto& snap : fs::directory_iterator(repo_dir / "snapshots", ec)) {
    any_snapshot = true;
    for (const auto& f : fs::recursive_directory_iterator(snap.path(), ec)) {
      if (!f.is_symlink(ec)) continue;
      used.insert(fs::read_symlink(f.path(), ec).filename().string());
    }
  }
  if (!any_snapshot) {
    fs::remove_all(repo_dir, ec);
    if (ec) return unavailable("cannot remove " + repo_dir.string() + ": " + ec.message());
    return ok_status();
  }
  for (const auto& b : fs::directory_iterator(repo_dir / "blobs", ec)) {
    const std::string name = b.path().filename().string();
    if (!used.count(name) && name.find(".incomplete") == std::string::npos) fs::remove(b.path(), ec);
  }
  return ok_status();
}

Result<std::vector<HubModelInfo>> search_models(const HubConfig& cfg, const SearchQuery& q) {
  global_init();
  if (q.text.empty() || q.text.size() > 200) {
    return invalid_argument("the search text must have 1 to 200 characters");
  }
  if (q.limit < 1 || q.limit > 100) return invalid_argument("the limit must be 1 to 100");
  if (q.filter.size() > 100) return invalid_argument("the filter must have at most 100 characters");
  if (cfg.offline) return unavailable("HF_HUB_OFFLINE=1: hub search is not available offline");
  std::string url = cfg.endpoint + "/api/models?search=" + url_query(q.text) +
                    "&limit=" + std::to_string(q.limit);
  if (!q.filter.empty()) url += "&filter=" + url_query(q.filter);
  MLXM_ASSIGN_OR_RETURN(std::string body, get_text(cfg, url));
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_array()) {
    return data_loss("GET " + url + ": unexpected answer (not a list of models)");
  }
  std::vector<HubModelInfo> out;
  for (const auto& m : j) {
    if (!m.is_object()) continue;
    HubModelInfo info;
    for (const char* key : {"id", "modelId"}) {
      if (info.id.empty() && m.contains(key) && m[key].is_string()) info.id = m[key].get<std::string>();
    }
    if (info.id.empty()) continue;
    if (m.contains("downloads") && m["downloads"].is_number_integer()) info.downloads = m["downloads"].get<int64_t>();
    if (m.contains("likes") && m["likes"].is_number_integer()) info.likes = m["likes"].get<int64_t>();
    for (const char* key : {"lastModified", "last_modified", "createdAt"}) {
      if (info.last_modified.empty() && m.contains(key) && m[key].is_string()) {
        info.last_modified = m[key].get<std::string>();
      }
    }
    if (m.contains("tags") && m["tags"].is_array()) {
      for (const auto& t : m["tags"]) {
        if (t.is_string()) info.tags.push_back(t.get<std::string>());
      }
    }
    out.push_back(std::move(info));
    if (static_cast<int>(out.size()) >= q.limit) break;
  }
  return out;
}

}  // namespace mlxm::pool::hub
