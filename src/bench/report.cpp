#include "bench/report.h"

#include <fmt/format.h>

#include <fstream>

namespace mlxm::bench {

using nlohmann::json;

namespace {

json opt(const std::optional<int64_t>& v) {
  return v ? json(*v) : json(nullptr);
}

void put_stats(json* j, const char* name, const Stats& s) {
  auto v = [&](double x) { return s.valid ? json(x) : json(nullptr); };
  const std::string n(name);
  (*j)["mean_" + n + "_ms"] = v(s.mean);
  (*j)["median_" + n + "_ms"] = v(s.median);
  (*j)["std_" + n + "_ms"] = v(s.std);
  (*j)["p95_" + n + "_ms"] = v(s.p95);
  (*j)["p99_" + n + "_ms"] = v(s.p99);
}

json memory_json(const ModelLoad& m) {
  return {{"listed", m.found},
          {"weight_bytes", opt(m.weight_bytes)},
          {"kv_bytes", opt(m.kv_bytes)},
          {"kv_blocks_used", opt(m.kv_blocks_used)},
          {"kv_blocks_total", opt(m.kv_blocks_total)}};
}

}  // namespace

json level_json(const LevelResult& l, bool include_requests) {
  const LevelMetrics& m = l.metrics;
  json j;
  j["max_concurrency"] = m.concurrency;
  j["num_prompts"] = l.num_requests;
  j["stream"] = m.stream;
  j["duration"] = m.duration_s;
  j["completed"] = m.completed;
  j["failed"] = m.failed;
  j["total_input_tokens"] = m.total_input_tokens;
  j["total_output_tokens"] = m.total_output_tokens;
  j["request_throughput"] = m.request_throughput;
  j["output_throughput"] = m.output_throughput;
  j["total_token_throughput"] = m.total_token_throughput;
  j["max_output_tokens_per_s"] = m.stream ? json(m.max_output_tokens_per_s) : json(nullptr);
  j["max_concurrent_requests"] = m.max_concurrent_requests;
  put_stats(&j, "ttft", m.ttft);
  put_stats(&j, "tpot", m.tpot);
  put_stats(&j, "itl", m.itl);
  put_stats(&j, "e2el", m.e2el);
  const Stats& d = m.decode_tps_per_request;
  j["mean_decode_tps_per_request"] = d.valid ? json(d.mean) : json(nullptr);
  j["median_decode_tps_per_request"] = d.valid ? json(d.median) : json(nullptr);
  if (l.server) {
    j["server_samples"] = l.server->n_samples;
    j["server_max_running"] = l.server->has_running ? json(l.server->max_running) : json(nullptr);
    j["server_max_requests_in_flight"] =
        l.server->has_in_flight ? json(l.server->max_in_flight) : json(nullptr);
    j["server_max_waiting"] = l.server->has_waiting ? json(l.server->max_waiting) : json(nullptr);
  } else {
    j["server_samples"] = 0;
    j["server_max_running"] = nullptr;
    j["server_max_requests_in_flight"] = nullptr;
    j["server_max_waiting"] = nullptr;
  }
  j["errors_by_reason"] = json::object();
  for (const auto& [reason, n] : m.errors) j["errors_by_reason"][reason] = n;
  if (include_requests) {
    json in = json::array(), out = json::array(), ttfts = json::array(), itls = json::array(),
         e2els = json::array(), errors = json::array();
    for (const RequestRecord& r : l.requests) {
      in.push_back(r.prompt_tokens);
      out.push_back(r.completion_tokens);
      ttfts.push_back(r.ttft_ms ? json(*r.ttft_ms / 1000.0) : json(nullptr));
      json itl = json::array();
      for (double x : r.itl_ms) itl.push_back(x / 1000.0);
      itls.push_back(std::move(itl));
      e2els.push_back(r.e2e_ms / 1000.0);
      errors.push_back(r.error);
    }
    j["input_lens"] = std::move(in);
    j["output_lens"] = std::move(out);
    j["ttfts"] = std::move(ttfts);
    j["itls"] = std::move(itls);
    j["e2els"] = std::move(e2els);
    j["errors"] = std::move(errors);
  }
  return j;
}

json run_json(const RunReport& r, bool include_requests) {
  const RunOptions& o = r.options;
  json j;
  j["schema"] = kRunSchema;
  j["date"] = r.date;
  j["backend"] = r.backend;
  j["base_url"] = o.base_url;
  j["api"] = api_name(o.api);
  j["endpoint"] = api_path(o.api);
  j["model_id"] = o.model;
  j["stream"] = o.stream;
  j["max_tokens"] = o.max_tokens;
  j["ignore_eos"] = o.ignore_eos;
  j["runs"] = o.runs;
  j["warmup"] = o.warmup;
  j["concurrency"] = o.concurrency;
  j["prompt"] = {{"name", r.prompt.name},
                 {"target_tokens", r.prompt.target_tokens},
                 {"measured_tokens",
                  r.prompt.measured_tokens >= 0 ? json(r.prompt.measured_tokens) : json(nullptr)},
                 {"sized_by_server", r.prompt.sized_by_server},
                 {"note", r.prompt.note},
                 {"text", r.prompt.text}};
  j["server"] = {{"admin_available", r.admin_available},
                 {"admin_note", r.admin_note},
                 {"memory_before", memory_json(r.before)},
                 {"memory_after", memory_json(r.after)}};
  j["warmup_errors"] = r.warmup_errors;
  j["load_average_start"] = {r.load_average_start[0], r.load_average_start[1],
                             r.load_average_start[2]};
  j["load_average_end"] = {r.load_average_end[0], r.load_average_end[1], r.load_average_end[2]};
  json levels = json::array();
  for (const LevelResult& l : r.levels) levels.push_back(level_json(l, include_requests));
  j["levels"] = std::move(levels);
  return j;
}

const std::vector<std::string>& level_json_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> k = {"max_concurrency",
                                  "num_prompts",
                                  "stream",
                                  "duration",
                                  "completed",
                                  "failed",
                                  "total_input_tokens",
                                  "total_output_tokens",
                                  "request_throughput",
                                  "output_throughput",
                                  "total_token_throughput",
                                  "max_output_tokens_per_s",
                                  "max_concurrent_requests",
                                  "mean_decode_tps_per_request",
                                  "median_decode_tps_per_request",
                                  "server_samples",
                                  "server_max_running",
                                  "server_max_requests_in_flight",
                                  "server_max_waiting",
                                  "errors_by_reason",
                                  "input_lens",
                                  "output_lens",
                                  "ttfts",
                                  "itls",
                                  "e2els",
                                  "errors"};
    for (const char* m : {"ttft", "tpot", "itl", "e2el"}) {
      for (const char* s : {"mean", "median", "std", "p95", "p99"}) {
        k.push_back(std::string(s) + "_" + m + "_ms");
      }
    }
    return k;
  }();
  return keys;
}

const std::vector<std::string>& run_json_keys() {
  static const std::vector<std::string> keys = {"schema",
                                                "date",
                                                "backend",
                                                "base_url",
                                                "api",
                                                "endpoint",
                                                "model_id",
                                                "stream",
                                                "max_tokens",
                                                "ignore_eos",
                                                "runs",
                                                "warmup",
                                                "concurrency",
                                                "prompt",
                                                "server",
                                                "warmup_errors",
                                                "load_average_start",
                                                "load_average_end",
                                                "levels"};
  return keys;
}

std::string format_bytes(int64_t b) {
  if (b >= (int64_t{1} << 30)) return fmt::format("{:.2f} GiB", static_cast<double>(b) / (1 << 30));
  if (b >= (int64_t{1} << 20)) return fmt::format("{:.1f} MiB", static_cast<double>(b) / (1 << 20));
  if (b >= (int64_t{1} << 10)) return fmt::format("{:.1f} KiB", static_cast<double>(b) / (1 << 10));
  return fmt::format("{} B", b);
}

namespace {

std::string med(const Stats& s) {
  return s.valid ? fmt::format("{:.2f}", s.median) : "n/a";
}

std::string memory_line(const ModelLoad& m) {
  if (!m.found) return "not listed";
  std::string s;
  s += "weights " + (m.weight_bytes ? format_bytes(*m.weight_bytes) : std::string("?"));
  s += ", KV " + (m.kv_bytes ? format_bytes(*m.kv_bytes) : std::string("?"));
  if (m.kv_blocks_used && m.kv_blocks_total) {
    s += fmt::format(" ({}/{} blocks used)", *m.kv_blocks_used, *m.kv_blocks_total);
  }
  return s;
}

}  // namespace

std::string format_summary(const RunReport& r) {
  std::string out;
  out += fmt::format("{:>5} {:>9} {:>11} {:>12} {:>8} {:>10} {:>10} {:>10} {:>8} {:>7}\n", "conc",
                     "req/s", "out tok/s", "tok/s/req", "scaling", "TTFT ms", "TPOT ms", "E2EL ms",
                     "srv run", "failed");
  const double base = r.levels.empty() ? 0 : r.levels.front().metrics.output_throughput;
  for (const LevelResult& l : r.levels) {
    const LevelMetrics& m = l.metrics;
    const std::string per_req = m.decode_tps_per_request.valid
                                    ? fmt::format("{:.1f}", m.decode_tps_per_request.median)
                                    : "n/a";
    const std::string scaling =
        base > 0 ? fmt::format("{:.2f}x", m.output_throughput / base) : "n/a";
    const std::string srv =
        l.server && l.server->has_running ? std::to_string(l.server->max_running) : "n/a";
    out += fmt::format("{:>5} {:>9.2f} {:>11.1f} {:>12} {:>8} {:>10} {:>10} {:>10} {:>8} {:>7}\n",
                       m.concurrency, m.request_throughput, m.output_throughput, per_req, scaling,
                       med(m.ttft), med(m.tpot), med(m.e2el), srv, m.failed);
  }
  out +=
      "(medians; tok/s/req = 1000 / TPOT of each request; scaling = output tok/s vs the first "
      "level; srv run = most requests the server reported running)\n";
  out += "backend: " + r.backend + "\n";
  out += "prompt: " + r.prompt.name;
  if (r.prompt.measured_tokens >= 0)
    out += fmt::format(" ({} tokens by the server's tokenizer)", r.prompt.measured_tokens);
  if (!r.prompt.note.empty()) out += " [" + r.prompt.note + "]";
  out += "\n";
  if (r.admin_available) {
    out += "server memory before: " + memory_line(r.before) + "\n";
    out += "server memory after:  " + memory_line(r.after) + "\n";
  } else {
    out += "server memory: not reported (/admin/models: " + r.admin_note + ")\n";
  }
  for (const std::string& e : r.warmup_errors) out += "warmup failed: " + e + "\n";
  out += fmt::format("load average: {:.2f} {:.2f} {:.2f} (start), {:.2f} {:.2f} {:.2f} (end)\n",
                     r.load_average_start[0], r.load_average_start[1], r.load_average_start[2],
                     r.load_average_end[0], r.load_average_end[1], r.load_average_end[2]);
  return out;
}

Status write_json_file(const std::string& path, const json& j) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return invalid_argument("cannot write " + path);
  out << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  out.close();
  if (!out) return internal_error("failed writing " + path);
  return ok_status();
}

}  // namespace mlxm::bench
