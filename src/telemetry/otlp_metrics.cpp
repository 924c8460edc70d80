#include "telemetry/otlp_metrics.h"

#include <algorithm>
#include <cmath>

#include "telemetry/otlp_json.h"

namespace mlxm::telemetry {
namespace {

// {"attributes":[...],"startTimeUnixNano":"..","timeUnixNano":".." (no closing brace).
void open_point(std::string* out, const Family& f, const LabelValues& values,
                const std::string& times) {
  *out += "{\"attributes\":[";
  for (size_t i = 0; i < values.size() && i < f.label_names().size(); ++i) {
    if (i > 0) *out += ',';
    append_otlp_attr(out, f.label_names()[i], values[i]);
  }
  *out += "]," + times;
}

// The data points of `f` (comma separated), or "" when it has none worth sending.
std::string data_points(const Family& f, const std::string& times) {
  std::string out;
  f.for_each([&](const Family::ChildView& c) {
    std::string p;
    if (c.counter != nullptr || c.gauge != nullptr) {
      const double v = c.counter != nullptr ? c.counter->value() : c.gauge->value();
      if (!std::isfinite(v)) return;
      open_point(&p, f, *c.values, times);
      p += ",\"asDouble\":";
      append_json_double(&p, v);
      p += '}';
    } else if (c.histogram != nullptr) {
      const Histogram::Snapshot s = c.histogram->snapshot();
      if (!std::isfinite(s.sum)) return;
      open_point(&p, f, *c.values, times);
      p += ",\"count\":\"";
      p += std::to_string(s.count);
      p += "\",\"sum\":";
      append_json_double(&p, s.sum);
      p += ",\"bucketCounts\":[";
      uint64_t below = 0;  // the snapshot is cumulative; OTLP wants per-bucket counts
      for (size_t i = 0; i < s.cumulative.size(); ++i) {
        if (i > 0) p += ',';
        const uint64_t n = s.cumulative[i] >= below ? s.cumulative[i] - below : 0;
        p += '"';
        p += std::to_string(n);
        p += '"';
        below = std::max(below, s.cumulative[i]);
      }
      p += "],\"explicitBounds\":[";
      for (size_t i = 0; i < s.bounds.size(); ++i) {
        if (i > 0) p += ',';
        append_json_double(&p, s.bounds[i]);
      }
      p += "]}";
    } else {
      return;
    }
    if (!out.empty()) out += ',';
    out += p;
  });
  return out;
}

}  // namespace

std::string encode_otlp_metrics_json(MetricRegistry& registry, const std::string& service_name,
                                     int64_t start_unix_ns, int64_t now_unix_ns) {
  const std::string times = "\"startTimeUnixNano\":\"" + std::to_string(start_unix_ns) +
                            "\",\"timeUnixNano\":\"" + std::to_string(now_unix_ns) + "\"";
  std::string out = "{\"resourceMetrics\":[{\"resource\":{\"attributes\":[";
  append_otlp_attr(&out, "service.name", service_name);
  out += "]},\"scopeMetrics\":[{\"scope\":{\"name\":\"mlx-manager\"},\"metrics\":[";
  bool first = true;
  registry.collect([&](const Family& f) {
    const std::string points = data_points(f, times);
    if (points.empty()) return;
    if (!first) out += ',';
    first = false;
    out += "{\"name\":";
    append_json_string(&out, f.name());
    out += ",\"description\":";
    append_json_string(&out, f.help());
    switch (f.type()) {
      case MetricType::kCounter:
        // aggregationTemporality 2 = CUMULATIVE.
        out += ",\"sum\":{\"dataPoints\":[" + points +
               "],\"aggregationTemporality\":2,\"isMonotonic\":true}}";
        break;
      case MetricType::kGauge:
        out += ",\"gauge\":{\"dataPoints\":[" + points + "]}}";
        break;
      case MetricType::kHistogram:
        out += ",\"histogram\":{\"dataPoints\":[" + points + "],\"aggregationTemporality\":2}}";
        break;
    }
  });
  out += "]}]}]}";
  return out;
}

}  // namespace mlxm::telemetry
