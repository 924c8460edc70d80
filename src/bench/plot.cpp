#include "bench/plot.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <optional>

namespace mlxm::bench {

namespace {

constexpr int kWidth = 1040, kHeight = 480;
constexpr int kPanelW = 420, kPanelH = 300, kTop = 60, kLeft1 = 80, kLeft2 = 600;

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

struct Series {
  std::string name;
  std::string color;
  std::string dash;  // "" solid
  std::function<std::optional<double>(const LevelMetrics&)> value;
};

// A "nice" step (1, 2, 5 x 10^k) for about `n` ticks over [0, hi].
double nice_step(double hi, int n) {
  if (hi <= 0) return 1;
  const double raw = hi / n;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (raw <= m * p) return m * p;
  }
  return 10 * p;
}

std::string fmt_num(double v) {
  if (v >= 100 || v == std::floor(v)) return fmt::format("{:.0f}", v);
  if (v >= 10) return fmt::format("{:.1f}", v);
  return fmt::format("{:.2g}", v);
}

void panel(std::string* svg, int left, const std::string& title, const std::string& y_label,
           const std::vector<LevelMetrics>& levels, const std::vector<Series>& series, bool log_y) {
  const int n = static_cast<int>(levels.size());
  double lo = 1e300, hi = 0;
  for (const auto& s : series) {
    for (const auto& l : levels) {
      if (auto v = s.value(l); v && *v > 0) {
        lo = std::min(lo, *v);
        hi = std::max(hi, *v);
      }
    }
  }
  if (hi <= 0) {
    lo = 1;
    hi = 1;
  }
  double y0, y1;  // axis range (log10 units when log_y)
  std::vector<double> ticks;
  if (log_y) {
    y0 = std::floor(std::log10(lo));
    y1 = std::ceil(std::log10(hi));
    if (y1 <= y0) y1 = y0 + 1;
    for (double e = y0; e <= y1 + 1e-9; e += 1) ticks.push_back(e);
  } else {
    y0 = 0;
    const double step = nice_step(hi * 1.05, 5);
    y1 = std::ceil(hi * 1.05 / step) * step;
    for (double t = 0; t <= y1 + step * 1e-6; t += step) ticks.push_back(t);
  }
  auto ypix = [&](double v) {
    const double u = log_y ? std::log10(v) : v;
    return kTop + kPanelH - (u - y0) / (y1 - y0) * kPanelH;
  };
  auto xpix = [&](int i) {
    return left + (n == 1 ? kPanelW / 2.0 : 30 + i * (kPanelW - 60.0) / (n - 1));
  };
  *svg +=
      fmt::format("<text x=\"{}\" y=\"{}\" class=\"pt\">{}</text>\n", left, kTop - 10, esc(title));
  *svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" class=\"frame\"/>\n",
                      left, kTop, kPanelW, kPanelH);
  for (double t : ticks) {
    const double v = log_y ? std::pow(10.0, t) : t;
    const double y = kTop + kPanelH - (t - y0) / (y1 - y0) * kPanelH;
    *svg += fmt::format(
        "<line x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" class=\"grid\"/>"
        "<text x=\"{}\" y=\"{:.1f}\" class=\"yt\">{}</text>\n",
        left, left + kPanelW, y, y, left - 6, y + 4, fmt_num(v));
  }
  for (int i = 0; i < n; ++i) {
    *svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" class=\"xt\">{}</text>\n", xpix(i),
                        kTop + kPanelH + 18, levels[static_cast<size_t>(i)].concurrency);
  }
  *svg += fmt::format("<text x=\"{}\" y=\"{}\" class=\"xl\">concurrent requests</text>\n",
                      left + kPanelW / 2, kTop + kPanelH + 40);
  *svg += fmt::format("<text transform=\"translate({},{}) rotate(-90)\" class=\"xl\">{}</text>\n",
                      left - 48, kTop + kPanelH / 2, esc(y_label));
  // Legend: two columns under the axis label.
  int i_series = 0;
  for (const auto& s : series) {
    std::string pts;
    std::string marks;
    for (int i = 0; i < n; ++i) {
      auto v = s.value(levels[static_cast<size_t>(i)]);
      if (!v || *v <= 0) continue;
      pts += fmt::format("{:.1f},{:.1f} ", xpix(i), ypix(*v));
      marks += fmt::format(
          "<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3.5\" fill=\"{}\"><title>{} @ {}: "
          "{:.2f}</title></circle>\n",
          xpix(i), ypix(*v), s.color, esc(s.name), levels[static_cast<size_t>(i)].concurrency, *v);
    }
    if (pts.empty()) continue;
    const int legend_x = left + (i_series % 2) * (kPanelW / 2);
    const int legend_y = kTop + kPanelH + 66 + (i_series / 2) * 18;
    ++i_series;
    *svg +=
        fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{}/>\n",
                    pts, s.color, s.dash.empty() ? "" : " stroke-dasharray=\"" + s.dash + "\"");
    *svg += marks;
    *svg += fmt::format(
        "<line x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"2\"{}/>"
        "<text x=\"{}\" y=\"{}\" class=\"lg\">{}</text>\n",
        legend_x, legend_x + 22, legend_y - 4, legend_y - 4, s.color,
        s.dash.empty() ? "" : " stroke-dasharray=\"" + s.dash + "\"", legend_x + 28, legend_y,
        esc(s.name));
  }
}

std::optional<double> stat(const Stats& s, double Stats::*f) {
  if (!s.valid) return std::nullopt;
  return s.*f;
}

}  // namespace

std::string render_svg(const std::vector<LevelMetrics>& levels, const std::string& title) {
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} "
      "{1}\" "
      "font-family=\"Helvetica,Arial,sans-serif\">\n"
      "<style>.pt{{font-size:14px;font-weight:bold}} .frame{{fill:none;stroke:#999}} "
      ".grid{{stroke:#e5e5e5}} .yt{{font-size:11px;text-anchor:end;fill:#444}} "
      ".xt{{font-size:11px;text-anchor:middle;fill:#444}} "
      ".xl{{font-size:12px;text-anchor:middle;fill:#222}} "
      ".lg{{font-size:11px;fill:#222}} .title{{font-size:16px;font-weight:bold}}</style>\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{2}\" y=\"22\" class=\"title\">{3}</text>\n",
      kWidth, kHeight, kLeft1, esc(title));
  std::vector<Series> thr = {
      {"output tok/s (all requests)", "#1f77b4", "",
       [](const LevelMetrics& m) -> std::optional<double> { return m.output_throughput; }},
      {"decode tok/s per request (median)", "#ff7f0e", "",
       [](const LevelMetrics& m) { return stat(m.decode_tps_per_request, &Stats::median); }},
  };
  std::vector<Series> lat = {
      {"TTFT median", "#2ca02c", "",
       [](const LevelMetrics& m) { return stat(m.ttft, &Stats::median); }},
      {"TTFT P99", "#2ca02c", "5,4",
       [](const LevelMetrics& m) { return stat(m.ttft, &Stats::p99); }},
      {"TPOT median", "#d62728", "",
       [](const LevelMetrics& m) { return stat(m.tpot, &Stats::median); }},
      {"ITL P99", "#d62728", "5,4", [](const LevelMetrics& m) { return stat(m.itl, &Stats::p99); }},
      {"E2EL median", "#9467bd", "",
       [](const LevelMetrics& m) { return stat(m.e2el, &Stats::median); }},
  };
  panel(&svg, kLeft1, "Throughput", "tokens / s", levels, thr, false);
  panel(&svg, kLeft2, "Latency", "ms (log scale)", levels, lat, true);
  svg += "</svg>\n";
  return svg;
}

std::string render_html(const std::vector<LevelMetrics>& levels, const std::string& title) {
  std::string h = "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>" + esc(title) +
                  "</title>\n<style>body{font-family:Helvetica,Arial,sans-serif;margin:24px} "
                  "table{border-collapse:collapse;margin-top:16px} td,th{border:1px solid #ccc;"
                  "padding:4px 8px;text-align:right}</style></head><body>\n";
  h += render_svg(levels, title);
  h += "<table><tr><th>concurrency</th><th>req/s</th><th>output tok/s</th>"
       "<th>decode tok/s per request (median)</th><th>TTFT median ms</th><th>TTFT P99 ms</th>"
       "<th>TPOT median ms</th><th>ITL P99 ms</th><th>E2EL median ms</th><th>failed</th></tr>\n";
  auto cell = [](const Stats& s, double Stats::*f) {
    return s.valid ? fmt::format("{:.2f}", s.*f) : std::string("n/a");
  };
  for (const auto& m : levels) {
    h += fmt::format(
        "<tr><td>{}</td><td>{:.2f}</td><td>{:.1f}</td><td>{}</td><td>{}</td><td>{}</td>"
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
        m.concurrency, m.request_throughput, m.output_throughput,
        cell(m.decode_tps_per_request, &Stats::median), cell(m.ttft, &Stats::median),
        cell(m.ttft, &Stats::p99), cell(m.tpot, &Stats::median), cell(m.itl, &Stats::p99),
        cell(m.e2el, &Stats::median), m.failed);
  }
  h += "</table></body></html>\n";
  return h;
}

namespace {
bool ends_with(const std::string& path, const std::string& e) {
  return path.size() >= e.size() && path.compare(path.size() - e.size(), e.size(), e) == 0;
}
}  // namespace

Status check_plot_path(const std::string& path) {
  if (ends_with(path, ".svg") || ends_with(path, ".html") || ends_with(path, ".htm"))
    return ok_status();
  return invalid_argument("--plot: " + path + ": expected a .svg or .html file name");
}

Status write_plot(const std::string& path, const std::vector<LevelMetrics>& levels,
                  const std::string& title) {
  MLXM_RETURN_IF_ERROR(check_plot_path(path));
  std::string content;
  if (ends_with(path, ".svg"))
    content = render_svg(levels, title);
  else
    content = render_html(levels, title);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return invalid_argument("--plot: cannot write " + path);
  out << content;
  out.close();
  if (!out) return internal_error("--plot: failed writing " + path);
  return ok_status();
}

}  // namespace mlxm::bench
