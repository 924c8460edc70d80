#include "pool/hub/download_manager.h"

#include "core/clock.h"
#include "core/log.h"
#include "pool/model_resolver.h"

namespace mlxm::pool::hub {

DownloadManager::DownloadManager(HubConfig config) : config_(std::move(config)) {}

DownloadManager::~DownloadManager() {
  std::vector<std::shared_ptr<Job>> jobs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, j] : jobs_) {
      j->control.pause();
      jobs.push_back(j);
    }
  }
  for (auto& j : jobs) {
    if (j->thread.joinable()) j->thread.join();
  }
}

void DownloadManager::launch_locked(const std::shared_ptr<Job>& job) {
  if (job->thread.joinable()) job->thread.join();  // the previous run has returned (not running)
  job->control.clear();
  job->status.state = "running";
  job->status.error.clear();
  job->status.updated_ms = unix_ms();
  job->thread = std::thread([this, job] {
    PullOptions o;
    o.revision = job->status.revision;
    o.allow_suffixes = model_file_suffixes();
    o.control = &job->control;
    o.on_progress = [this, job](const PullProgress& p) {
      std::lock_guard<std::mutex> lock(mu_);
      job->status.progress = p;
      job->status.updated_ms = unix_ms();
    };
    auto snap = pull(config_, job->status.repo, o);
    std::lock_guard<std::mutex> lock(mu_);
    job->status.updated_ms = unix_ms();
    if (snap.ok()) {
      job->status.state = "completed";
      job->status.snapshot = *snap;
      job->status.progress.bytes_done = job->status.progress.bytes_total;
      MLXM_LOG_INFO("download {}: {} completed", job->status.id, job->status.repo);
    } else if (snap.status().code() == StatusCode::kCancelled) {
      job->status.state = snap.status().message() == "cancelled" ? "cancelled" : "paused";
    } else {
      job->status.state = "failed";
      job->status.error = snap.status().message();
      MLXM_LOG_WARN("download {}: {} failed: {}", job->status.id, job->status.repo,
                    snap.status().message());
    }
  });
}

Result<DownloadStatus> DownloadManager::start(const std::string& model) {
  std::string repo = model;
  std::string revision = "main";
  if (size_t at = model.find('@'); at != std::string::npos) {
    repo = model.substr(0, at);
    revision = model.substr(at + 1);
  }
  MLXM_RETURN_IF_ERROR(ModelResolver::validate_repo_id(repo));
  MLXM_RETURN_IF_ERROR(ModelResolver::validate_revision(revision));
  if (config_.offline) return unavailable("HF_HUB_OFFLINE=1: downloads are disabled");
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, j] : jobs_) {
    if (j->status.repo == repo && j->status.revision == revision &&
        (j->status.state == "running" || j->status.state == "paused")) {
      if (j->status.state == "paused") launch_locked(j);
      return j->status;
    }
  }
  auto job = std::make_shared<Job>();
  job->status.id = "dl_" + std::to_string(next_id_++);
  job->status.repo = repo;
  job->status.revision = revision;
  job->status.created_ms = unix_ms();
  jobs_[job->status.id] = job;
  launch_locked(job);
  return job->status;
}

Result<DownloadStatus> DownloadManager::get(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return not_found("no download '" + id + "'");
  return it->second->status;
}

std::vector<DownloadStatus> DownloadManager::list() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<DownloadStatus> out;
  for (auto& [id, j] : jobs_) out.push_back(j->status);
  return out;
}

Result<DownloadStatus> DownloadManager::pause(const std::string& id) {
  std::shared_ptr<Job> job;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return not_found("no download '" + id + "'");
    job = it->second;
    if (job->status.state != "running") {
      return Status(StatusCode::kAlreadyExists, "download '" + id + "' is " + job->status.state);
    }
    job->control.pause();
  }
  if (job->thread.joinable()) job->thread.join();
  return get(id);
}

Result<DownloadStatus> DownloadManager::resume(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return not_found("no download '" + id + "'");
  auto& job = it->second;
  if (job->status.state != "paused" && job->status.state != "failed") {
    return Status(StatusCode::kAlreadyExists, "download '" + id + "' is " + job->status.state);
  }
  launch_locked(job);
  return job->status;
}

Result<DownloadStatus> DownloadManager::cancel(const std::string& id) {
  std::shared_ptr<Job> job;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return not_found("no download '" + id + "'");
    job = it->second;
    if (job->status.state == "completed" || job->status.state == "cancelled") {
      return Status(StatusCode::kAlreadyExists, "download '" + id + "' is " + job->status.state);
    }
    job->control.cancel();
  }
  if (job->thread.joinable()) job->thread.join();
  std::lock_guard<std::mutex> lock(mu_);
  if (job->status.state != "cancelled") {  // it was paused or failed: drop the partial files
    Status st = remove_from_cache(config_.cache_dir, job->status.repo);
    (void)st;
    job->status.state = "cancelled";
  }
  return job->status;
}

}  // namespace mlxm::pool::hub
