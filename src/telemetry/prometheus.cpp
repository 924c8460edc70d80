#include "telemetry/prometheus.h"

#include <charconv>
#include <cmath>

namespace mlxm::telemetry {
namespace {

void append_escaped(std::string* out, std::string_view s, bool quote) {
  for (char c : s) {
    if (c == '\\') {
      *out += "\\\\";
    } else if (c == '\n') {
      *out += "\\n";
    } else if (quote && c == '"') {
      *out += "\\\"";
    } else {
      *out += c;
    }
  }
}

void append_labels(std::string* out, const std::vector<std::string>& names,
                   const LabelValues& values, const char* le = nullptr) {
  if (names.empty() && !le) return;
  *out += '{';
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) *out += ',';
    *out += names[i];
    *out += "=\"";
    append_escaped(out, values[i], true);
    *out += '"';
  }
  if (le) {
    if (!names.empty()) *out += ',';
    *out += "le=\"";
    *out += le;
    *out += '"';
  }
  *out += '}';
}

void append_sample(std::string* out, const std::string& name, const std::vector<std::string>& names,
                   const LabelValues& values, double v, const char* le = nullptr) {
  *out += name;
  append_labels(out, names, values, le);
  *out += ' ';
  *out += format_prometheus_value(v);
  *out += '\n';
}

}  // namespace

std::string format_prometheus_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, static_cast<long long>(v));
    return std::string(buf, r.ptr);
  }
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string encode_prometheus(MetricRegistry& registry) {
  std::string out;
  out.reserve(16 * 1024);
  registry.collect([&](const Family& f) {
    out += "# HELP ";
    out += f.name();
    out += ' ';
    append_escaped(&out, f.help(), false);
    out += "\n# TYPE ";
    out += f.name();
    out += ' ';
    out += metric_type_name(f.type());
    out += '\n';
    f.for_each([&](const Family::ChildView& c) {
      if (c.counter) append_sample(&out, f.name(), f.label_names(), *c.values, c.counter->value());
      if (c.gauge) append_sample(&out, f.name(), f.label_names(), *c.values, c.gauge->value());
      if (c.histogram) {
        Histogram::Snapshot s = c.histogram->snapshot();
        const std::string bucket = f.name() + "_bucket";
        for (size_t i = 0; i < s.bounds.size(); ++i) {
          std::string le = format_prometheus_value(s.bounds[i]);
          append_sample(&out, bucket, f.label_names(), *c.values,
                        static_cast<double>(s.cumulative[i]), le.c_str());
        }
        append_sample(&out, bucket, f.label_names(), *c.values, static_cast<double>(s.count),
                      "+Inf");
        append_sample(&out, f.name() + "_sum", f.label_names(), *c.values, s.sum);
        append_sample(&out, f.name() + "_count", f.label_names(), *c.values,
                      static_cast<double>(s.count));
      }
    });
  });
  return out;
}

}  // namespace mlxm::telemetry
