// Audit-log and metrics endpoints:
//   GET /admin/audit-logs         ?model=&backend=&status=&since=&until= (Unix ms; since
//                                 inclusive, until exclusive) &limit= (1..1000, 100) &offset=
//                                 -> {"object":"list","data":[rows newest first],"total","limit","offset","has_more"}
//   GET /admin/audit-logs/stats   same filters -> totals, by status, by model
//   GET /admin/audit-logs/export  same filters + format=jsonl|csv (+ order=asc|desc, desc by
//                                 default): streamed (chunked), RFC 4180 CSV with a header
//   WS  /admin/ws/audit-logs      backlog then live rows (AuditFeed)
//   GET /metrics                  Prometheus text format (telemetry/prometheus.h)
// Access control for /admin/* is not enforced here: the auth layer wraps these routes.
// Thread-safety: handlers run on io threads; every read runs on the service's query thread.
#pragma once

#include <memory>

#include "api/admin_logs/audit_service.h"
#include "api/http/router.h"
#include "telemetry/metrics.h"

namespace mlxm::api {

void register_audit_log_routes(http::Router& router, std::shared_ptr<AuditService> service);
void register_metrics_route(http::Router& router, telemetry::MetricRegistry& registry);

}  // namespace mlxm::api
