// Model download endpoints (management; admin auth applies):
//   POST /api/models/download                 {"model": "org/name[@revision]"} -> 202 + job
//   GET  /api/models/downloads                every job
//   GET  /api/models/downloads/{id}           one job (state, bytes, files, error)
//   GET  /api/models/downloads/{id}/progress  SSE: `progress` events, then one of `completed`,
//                                             `failed`, `paused`, `cancelled`
//   POST /api/models/downloads/{id}/pause | /resume | /cancel
//   GET  /api/models/search?q=TEXT[&limit=N][&filter=F]   hub search ({endpoint}/api/models):
//                                             [{id, downloads, likes, last_modified, tags}];
//                                             400 bad q/limit, 503 offline or hub unreachable
// Thread-safety: as the DownloadManager; the progress stream runs on its own thread.
#pragma once

#include <memory>
#include <string>

#include "api/http/router.h"
#include "pool/hub/download_manager.h"

namespace mlxm::api {

void register_download_routes(http::Router& router,
                              std::shared_ptr<pool::hub::DownloadManager> downloads,
                              std::string admin_token);

}  // namespace mlxm::api
