#include "bench/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <utility>

namespace mlxm::bench {

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  p = std::clamp(p, 0.0, 100.0);
  const double rank = p / 100.0 * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(rank));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  const double frac = rank - static_cast<double>(lo);
  return v[lo] + (v[hi] - v[lo]) * frac;
}

Stats compute_stats(const std::vector<double>& v) {
  Stats s;
  if (v.empty()) return s;
  s.valid = true;
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / static_cast<double>(v.size());
  double sq = 0;
  for (double x : v) sq += (x - s.mean) * (x - s.mean);
  s.std = std::sqrt(sq / static_cast<double>(v.size()));
  s.median = percentile(v, 50);
  s.p95 = percentile(v, 95);
  s.p99 = percentile(v, 99);
  return s;
}

LevelMetrics aggregate(const std::vector<RequestRecord>& records, double duration_s,
                       int concurrency, bool stream) {
  LevelMetrics m;
  m.concurrency = concurrency;
  m.stream = stream;
  m.duration_s = duration_s;
  std::vector<double> ttfts, tpots, itls, e2els, decode_tps;
  std::map<int64_t, int64_t> chunks_per_second;
  std::vector<std::pair<double, int>> edges;  // (time, +1 start / -1 end)
  for (const RequestRecord& r : records) {
    edges.emplace_back(r.t_start_ms, +1);
    edges.emplace_back(r.t_start_ms + r.e2e_ms, -1);
    if (!r.success) {
      ++m.failed;
      ++m.errors[r.error.empty() ? std::string("unknown error") : r.error];
      continue;
    }
    ++m.completed;
    m.total_input_tokens += r.prompt_tokens;
    m.total_output_tokens += r.completion_tokens;
    e2els.push_back(r.e2e_ms);
    if (r.ttft_ms) {
      ttfts.push_back(*r.ttft_ms);
      if (r.completion_tokens > 1) {
        const double tpot = (r.e2e_ms - *r.ttft_ms) / static_cast<double>(r.completion_tokens - 1);
        tpots.push_back(tpot);
        if (tpot > 0) decode_tps.push_back(1000.0 / tpot);
      }
    }
    itls.insert(itls.end(), r.itl_ms.begin(), r.itl_ms.end());
    for (double t : r.chunk_at_ms)
      ++chunks_per_second[static_cast<int64_t>(std::floor(t / 1000.0))];
  }
  // Ends sort before starts at the same instant: back-to-back requests do not overlap.
  std::sort(edges.begin(), edges.end());
  int in_flight = 0;
  for (const auto& [t, d] : edges) {
    in_flight += d;
    m.max_concurrent_requests = std::max(m.max_concurrent_requests, in_flight);
  }
  for (const auto& [sec, n] : chunks_per_second) {
    m.max_output_tokens_per_s = std::max(m.max_output_tokens_per_s, static_cast<double>(n));
  }
  if (duration_s > 0) {
    m.request_throughput = m.completed / duration_s;
    m.output_throughput = static_cast<double>(m.total_output_tokens) / duration_s;
    m.total_token_throughput =
        static_cast<double>(m.total_input_tokens + m.total_output_tokens) / duration_s;
  }
  m.ttft = compute_stats(ttfts);
  m.tpot = compute_stats(tpots);
  m.itl = compute_stats(itls);
  m.e2el = compute_stats(e2els);
  m.decode_tps_per_request = compute_stats(decode_tps);
  return m;
}

namespace {

void line(std::string* out, const std::string& label, const std::string& value) {
  *out += fmt::format("{:<40} {:<10}\n", label, value);
}
std::string f2(double x) {
  return fmt::format("{:.2f}", x);
}
void rule(std::string* out, const std::string& title, char c) {
  // Python's "{:c^50}": the odd pad character goes to the right.
  const size_t width = 50;
  const size_t pad = title.size() < width ? width - title.size() : 0;
  *out += std::string(pad / 2, c) + title + std::string(pad - pad / 2, c) + "\n";
}
void stats_section(std::string* out, const std::string& title, const std::string& name,
                   const Stats& s) {
  rule(out, title, '-');
  auto v = [&](double x) { return s.valid ? f2(x) : std::string("n/a"); };
  line(out, "Mean " + name + " (ms):", v(s.mean));
  line(out, "Median " + name + " (ms):", v(s.median));
  line(out, "P95 " + name + " (ms):", v(s.p95));
  line(out, "P99 " + name + " (ms):", v(s.p99));
}

}  // namespace

std::string format_result_block(const LevelMetrics& m, const std::string& title) {
  std::string out;
  rule(&out, " " + title + " ", '=');
  line(&out, "Successful requests:", std::to_string(m.completed));
  line(&out, "Failed requests:", std::to_string(m.failed));
  line(&out, "Maximum request concurrency:", std::to_string(m.concurrency));
  line(&out, "Benchmark duration (s):", f2(m.duration_s));
  line(&out, "Total input tokens:", std::to_string(m.total_input_tokens));
  line(&out, "Total generated tokens:", std::to_string(m.total_output_tokens));
  line(&out, "Request throughput (req/s):", f2(m.request_throughput));
  line(&out, "Output token throughput (tok/s):", f2(m.output_throughput));
  if (m.stream) line(&out, "Peak output token throughput (tok/s):", f2(m.max_output_tokens_per_s));
  line(&out, "Peak concurrent requests:", std::to_string(m.max_concurrent_requests));
  line(&out, "Total Token throughput (tok/s):", f2(m.total_token_throughput));
  stats_section(&out, "Time to First Token", "TTFT", m.ttft);
  stats_section(&out, "Time per Output Token (excl. 1st token)", "TPOT", m.tpot);
  stats_section(&out, "Inter-token Latency", "ITL", m.itl);
  stats_section(&out, "End-to-end Latency", "E2EL", m.e2el);
  if (!m.errors.empty()) {
    rule(&out, "Failures", '-');
    for (const auto& [reason, n] : m.errors) {
      std::string r = reason.size() > 120 ? reason.substr(0, 117) + "..." : reason;
      out += fmt::format("{:>6} x {}\n", n, r);
    }
  }
  out += std::string(50, '=') + "\n";
  return out;
}

}  // namespace mlxm::bench
