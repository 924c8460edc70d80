// Prometheus text exposition format 0.0.4 (what vLLM's /metrics serves): for every family
// "# HELP name help", "# TYPE name type", then one sample line per child; histograms as
// name_bucket{...,le="..."} (cumulative, ending with le="+Inf"), name_sum and name_count.
// Label values and HELP text are escaped (\\, \n, and \" in label values). Families without
// children still get their HELP/TYPE lines. Thread-safe (runs the registry's collect hooks).
#pragma once

#include <string>
#include <string_view>

#include "telemetry/metrics.h"

namespace mlxm::telemetry {

inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

std::string encode_prometheus(MetricRegistry& registry);

// Formats a sample value: integers without a fraction, "+Inf"/"-Inf"/"NaN", else shortest
// round-trip decimal.
std::string format_prometheus_value(double v);

}  // namespace mlxm::telemetry
