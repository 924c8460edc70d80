// The live-settings part of `serve`: GET/PUT /api/settings/server over the running pool (memory
// budget, idle TTL), the rate limiter, the log level and the audit retention (see
// docs/configuration.md, "Live settings"). Stored values are applied at start-up.
#pragma once

#include <memory>

#include "api/http/router.h"
#include "api/server_settings/server_settings.h"
#include "cli/serve_audit.h"
#include "cli/serve_auth.h"
#include "cli/serve_models.h"
#include "core/status.h"

namespace mlxm::cli {

Result<std::shared_ptr<api::ServerSettings>> setup_serve_settings(http::Router& router,
                                                                  ServeAudit& audit,
                                                                  ServeModels& models,
                                                                  ServeAuth& auth);

}  // namespace mlxm::cli
