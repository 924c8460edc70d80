// OTLP JSON encoding of the metric registry (the same instruments /metrics serves): counters as
// cumulative monotonic Sums, gauges as Gauges, histograms as cumulative Histograms with explicit
// bounds; each child's label values become the data point's attributes. Families without
// children and non-finite values are left out (JSON has no NaN/Inf).
//
// Thread-safety: runs the registry's collect hooks (one collection at a time, see MetricRegistry).
#pragma once

#include <cstdint>
#include <string>

#include "telemetry/metrics.h"

namespace mlxm::telemetry {

// {"resourceMetrics":[...]} of `registry` now. `start_unix_ns` is the start of the cumulative
// series (the exporter's start), `now_unix_ns` the data points' timeUnixNano.
std::string encode_otlp_metrics_json(MetricRegistry& registry, const std::string& service_name,
                                     int64_t start_unix_ns, int64_t now_unix_ns);

}  // namespace mlxm::telemetry
