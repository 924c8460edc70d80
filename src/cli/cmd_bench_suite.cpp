// mlx-benchmark suite: the seed guide's model tiers, streaming and not, concurrency 1 and 8.
//
//   mlx-benchmark suite [--runs 3] [--output FILE.json] [--models [TIER=]ID,...] [--url ...]
//
// Default tiers: small mlx-community/Llama-3.2-3B-Instruct-4bit, medium
// .../Llama-3.1-8B-Instruct-4bit, large .../Llama-3.3-70B-Instruct-4bit. Before measuring a
// model, one probe request (max_tokens 1) asks the server for it: an answer of 404 (model not
// found) marks it skipped with the server's reason; any other failure marks it failed. One JSON
// file, one table. Exit status: 0 unless a model failed or requests failed (skips are fine),
// 2 bad options.
#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "bench/report.h"
#include "bench/runner.h"

namespace mlxm::cli {

Result<std::vector<int>> parse_int_list(const std::string& text,
                                        const char* flag);  // cmd_bench_run.cpp
void add_common_bench_options(CLI::App* cmd, bench::RunOptions* o, std::string* api,
                              double* timeout_s, bool* quiet);
Status finish_common_options(bench::RunOptions* o, const std::string& api, double timeout_s,
                             bool quiet);

namespace {

struct Tier {
  std::string tier;
  std::string model;
};

const std::vector<Tier>& default_tiers() {
  static const std::vector<Tier> tiers = {
      {"small", "mlx-community/Llama-3.2-3B-Instruct-4bit"},
      {"medium", "mlx-community/Llama-3.1-8B-Instruct-4bit"},
      {"large", "mlx-community/Llama-3.3-70B-Instruct-4bit"},
  };
  return tiers;
}

// "a,b" or "small=a,large=b"; unnamed entries are labelled model1, model2, ...
Result<std::vector<Tier>> parse_models(const std::vector<std::string>& items) {
  std::vector<Tier> out;
  for (const std::string& arg : items) {
    std::stringstream ss(arg);
    std::string item;
    while (std::getline(ss, item, ',')) {
      if (item.empty()) continue;
      Tier t;
      const size_t eq = item.find('=');
      if (eq != std::string::npos) {
        t.tier = item.substr(0, eq);
        t.model = item.substr(eq + 1);
      } else {
        t.tier = "model" + std::to_string(out.size() + 1);
        t.model = item;
      }
      if (t.model.empty() || t.tier.empty())
        return invalid_argument("--models: bad entry '" + item + "'");
      out.push_back(t);
    }
  }
  if (out.empty()) return invalid_argument("--models: no model given");
  return out;
}

struct SuiteArgs {
  bench::RunOptions o;
  std::string api = "openai";
  std::vector<std::string> models;
  std::string concurrency = "1,8";
  std::string output;
  double timeout_s = 600;
  bool quiet = false;
  bool verbose = false;
};

std::string med(const bench::Stats& s) {
  return s.valid ? fmt::format("{:.2f}", s.median) : "n/a";
}

int suite_main(SuiteArgs& a) {
  auto fail = [](const Status& st) {
    std::fprintf(stderr, "mlx-benchmark suite: %s\n", st.message().c_str());
    return 2;
  };
  if (Status st = finish_common_options(&a.o, a.api, a.timeout_s, a.quiet); !st.ok())
    return fail(st);
  auto levels = parse_int_list(a.concurrency, "--concurrency");
  if (!levels.ok()) return fail(levels.status());
  a.o.concurrency = *levels;
  std::vector<Tier> tiers = default_tiers();
  if (!a.models.empty()) {
    auto parsed = parse_models(a.models);
    if (!parsed.ok()) return fail(parsed.status());
    tiers = *parsed;
  }
  a.o.model = tiers.front().model;
  if (Status st = bench::validate(a.o); !st.ok()) return fail(st);

  nlohmann::json results = nlohmann::json::array();
  std::string table = fmt::format(
      "{:<8} {:<44} {:<10} {:>5} {:>8} {:>10} {:>9} {:>9} {:>10} {:>7}\n", "tier", "model", "mode",
      "conc", "req/s", "out tok/s", "TTFT ms", "TPOT ms", "E2EL ms", "failed");
  int rc = 0;
  for (const Tier& t : tiers) {
    nlohmann::json entry = {{"tier", t.tier},
                            {"model_id", t.model},
                            {"status", "ok"},
                            {"reason", ""},
                            {"runs", nlohmann::json::array()}};
    bench::RunOptions probe = a.o;
    probe.model = t.model;
    probe.max_tokens = 1;
    probe.stream = false;
    std::printf("[%s] %s: probing\n", t.tier.c_str(), t.model.c_str());
    std::fflush(stdout);
    bench::HttpClient client;
    bench::RequestRecord r = bench::send_request(client, probe, "Hi", now());
    if (!r.success) {
      const bool missing = r.error.rfind("HTTP 404", 0) == 0;
      entry["status"] = missing ? "skipped" : "failed";
      entry["reason"] = r.error;
      if (!missing) rc = 1;
      table += fmt::format("{:<8} {:<44} {}: {}\n", t.tier, t.model, missing ? "skipped" : "failed",
                           r.error.substr(0, 100));
      std::printf("[%s] %s: %s (%s)\n", t.tier.c_str(), t.model.c_str(),
                  missing ? "skipped" : "failed", r.error.c_str());
      results.push_back(entry);
      continue;
    }
    for (bool stream : {false, true}) {
      bench::RunOptions o = a.o;
      o.model = t.model;
      o.stream = stream;
      auto rep = bench::run_benchmark(o, a.verbose ? stdout : nullptr);
      if (!rep.ok()) return fail(rep.status());
      for (const auto& l : rep->levels) {
        const auto& m = l.metrics;
        if (m.failed) rc = 1;
        table += fmt::format(
            "{:<8} {:<44} {:<10} {:>5} {:>8.2f} {:>10.1f} {:>9} {:>9} {:>10} {:>7}\n", t.tier,
            t.model, stream ? "stream" : "no-stream", m.concurrency, m.request_throughput,
            m.output_throughput, med(m.ttft), med(m.tpot), med(m.e2el), m.failed);
      }
      std::printf("[%s] %s: %s done (backend %s)\n", t.tier.c_str(), t.model.c_str(),
                  stream ? "stream" : "no-stream", rep->backend.c_str());
      std::fflush(stdout);
      entry["runs"].push_back(bench::run_json(*rep, /*include_requests=*/false));
    }
    results.push_back(entry);
  }
  std::fputs(table.c_str(), stdout);
  std::puts("(medians; TTFT and TPOT need streaming)");
  if (!a.output.empty()) {
    nlohmann::json j = {{"schema", bench::kSuiteSchema},   {"base_url", a.o.base_url},
                        {"api", bench::api_name(a.o.api)}, {"runs", a.o.runs},
                        {"max_tokens", a.o.max_tokens},    {"prompt", a.o.prompt},
                        {"concurrency", a.o.concurrency},  {"results", results}};
    if (Status st = bench::write_json_file(a.output, j); !st.ok()) return fail(st);
    std::printf("wrote %s\n", a.output.c_str());
  }
  return rc;
}

}  // namespace

void add_bench_suite_command(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<SuiteArgs>();
  args->o.runs = 3;
  CLI::App* cmd = app.add_subcommand(
      "suite",
      "Benchmark the model tiers (small/medium/large), streaming and not, concurrency 1 and 8");
  cmd->add_option("--runs,-n", args->o.runs, "Requests per concurrency slot")
      ->capture_default_str();
  cmd->add_option("--models", args->models, "Models instead of the default tiers: [TIER=]ID[,...]");
  cmd->add_option("--concurrency,-c", args->concurrency, "Concurrency levels")
      ->capture_default_str();
  cmd->add_option("--output,-o", args->output, "Write one JSON file with every result");
  cmd->add_flag("--verbose,-v", args->verbose, "Print the full result block of every level");
  add_common_bench_options(cmd, &args->o, &args->api, &args->timeout_s, &args->quiet);
  cmd->callback([args, exit_code] { *exit_code = suite_main(*args); });
}

}  // namespace mlxm::cli
