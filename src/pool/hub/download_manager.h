// Background hub downloads for the HTTP API (POST /api/models/download): one thread per running
// job, pause (keeps partial files) / resume (Range) / cancel (removes them), progress snapshots.
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "pool/hub/hub_client.h"

namespace mlxm::pool::hub {

struct DownloadStatus {
  std::string id;
  std::string repo;
  std::string revision;
  std::string state;  // "running", "paused", "completed", "failed", "cancelled"
  PullProgress progress;
  std::string error;      // failed: the cause
  std::string snapshot;   // completed: the snapshot directory
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
};

class DownloadManager {
 public:
  explicit DownloadManager(HubConfig config);
  ~DownloadManager();  // pauses running jobs (partial files stay resumable) and joins them
  DownloadManager(const DownloadManager&) = delete;
  DownloadManager& operator=(const DownloadManager&) = delete;

  // Starts downloading `model` ("org/name[@revision]"); an unfinished job for the same repo and
  // revision is returned (and resumed when paused) instead of starting a second one.
  Result<DownloadStatus> start(const std::string& model);
  Result<DownloadStatus> get(const std::string& id);
  std::vector<DownloadStatus> list();
  Result<DownloadStatus> pause(const std::string& id);
  Result<DownloadStatus> resume(const std::string& id);
  Result<DownloadStatus> cancel(const std::string& id);
  const HubConfig& config() const { return config_; }

 private:
  struct Job {
    DownloadStatus status;
    DownloadControl control;
    std::thread thread;
  };
  void launch_locked(const std::shared_ptr<Job>& job);

  const HubConfig config_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Job>> jobs_;
  uint64_t next_id_ = 1;
};

}  // namespace mlxm::pool::hub
