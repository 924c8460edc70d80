// Throughput and latency against concurrency as a self-contained chart: an SVG (two panels:
// output tok/s aggregate and per request; median/P99 TTFT, median TPOT, ITL and E2EL on a log
// scale), or an HTML page embedding the same SVG plus the numbers as a table. No scripts, no
// external resources. Pure functions.
#pragma once

#include <string>
#include <vector>

#include "bench/metrics.h"
#include "core/status.h"

namespace mlxm::bench {

std::string render_svg(const std::vector<LevelMetrics>& levels, const std::string& title);
std::string render_html(const std::vector<LevelMetrics>& levels, const std::string& title);

// OK when `path` ends in .svg, .html or .htm.
Status check_plot_path(const std::string& path);

// Writes SVG or HTML by the extension of `path` (.svg, .html/.htm); error otherwise.
Status write_plot(const std::string& path, const std::vector<LevelMetrics>& levels,
                  const std::string& title);

}  // namespace mlxm::bench
