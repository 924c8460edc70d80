// mlx-benchmark run: measure a running server over HTTP the way vLLM's `bench serve` does.
//
//   mlx-benchmark run -m MODEL [--runs 5] [--max-tokens 256] [--prompt short|medium|long|@FILE]
//       [--warmup 1] [--stream] [--url http://127.0.0.1:10242] [--concurrency 1,2,4,8]
//       [--api openai|openai-completions|anthropic] [--api-key K] [--output FILE.json]
//       [--plot FILE.svg|FILE.html]
//
// Each concurrency level C sends runs * C requests with at most C in flight. Tokens come from
// the server's usage (streams ask for stream_options.include_usage). TTFT/ITL/TPOT need
// --stream. Exit status: 0 all requests succeeded, 1 some failed (the report still says why),
// 2 bad options.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "bench/plot.h"
#include "bench/report.h"
#include "bench/runner.h"

namespace mlxm::cli {

// Shared with cmd_bench_suite.cpp.
Result<std::vector<int>> parse_int_list(const std::string& text, const char* flag) {
  std::vector<int> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    char* end = nullptr;
    long v = std::strtol(item.c_str(), &end, 10);
    if (*end != '\0' || v < 1 || v > 4096) {
      return invalid_argument(std::string(flag) + ": '" + item +
                              "' is not an integer in [1, 4096]");
    }
    out.push_back(static_cast<int>(v));
  }
  if (out.empty()) return invalid_argument(std::string(flag) + ": empty list");
  return out;
}

// Adds the options `run` and `suite` share.
void add_common_bench_options(CLI::App* cmd, bench::RunOptions* o, std::string* api,
                              double* timeout_s, bool* quiet) {
  cmd->add_option("--url", o->base_url, "Server base URL")->capture_default_str();
  cmd->add_option("--max-tokens", o->max_tokens, "Tokens to generate per request")
      ->capture_default_str();
  cmd->add_option("--prompt", o->prompt,
                  "Prompt: short (~16 tokens), medium (~50), long (~1000) or @FILE")
      ->capture_default_str();
  cmd->add_option("--warmup", o->warmup, "Unmeasured requests sent first")->capture_default_str();
  cmd->add_option("--temperature", o->temperature,
                  "Sampling temperature sent with every request (default: the server's)")
      ->check(CLI::Range(0.0, 2.0));
  cmd->add_option("--top-logprobs", o->top_logprobs,
                  "Ask for each token's logprob and this many alternatives (OpenAI APIs)")
      ->check(CLI::Range(0, 20));
  cmd->add_option("--frequency-penalty", o->frequency_penalty,
                  "frequency_penalty sent with every request (OpenAI APIs)")
      ->check(CLI::Range(-2.0, 2.0));
  cmd->add_flag("--json", o->json_output,
                "Constrain the output to JSON (response_format json_object; OpenAI APIs)");
  cmd->add_option("--api", *api, "openai (chat), openai-completions or anthropic")
      ->capture_default_str();
  cmd->add_option("--api-key", o->api_key, "Sent as Bearer token (x-api-key for anthropic)");
  cmd->add_option("--timeout", *timeout_s, "Per-request timeout in seconds")->capture_default_str();
  cmd->add_flag("!--no-ignore-eos", o->ignore_eos,
                "Let requests stop at EOS (default: ignore_eos, every request makes --max-tokens)");
  cmd->add_flag("--quiet,-q", *quiet, "No progress bar");
}

Status finish_common_options(bench::RunOptions* o, const std::string& api, double timeout_s,
                             bool quiet) {
  MLXM_ASSIGN_OR_RETURN(o->api, bench::parse_api(api));
  if (o->top_logprobs && o->api == bench::Api::kAnthropic) {
    return invalid_argument("--top-logprobs needs an OpenAI API (Anthropic's has no logprobs)");
  }
  if ((o->json_output || o->frequency_penalty) && o->api == bench::Api::kAnthropic) {
    return invalid_argument("--json and --frequency-penalty need an OpenAI API");
  }
  if (!(timeout_s > 0)) return invalid_argument("--timeout must be positive");
  o->timeout_ms = static_cast<long>(timeout_s * 1000);
  o->progress = !quiet;
  return ok_status();
}

namespace {

struct RunArgs {
  bench::RunOptions o;
  std::string api = "openai";
  std::string concurrency = "1";
  std::string output;
  std::string plot;
  double timeout_s = 600;
  bool quiet = false;
  bool no_server_stats = false;
};

int run_main(RunArgs& a) {
  auto fail = [](const Status& st) {
    std::fprintf(stderr, "mlx-benchmark run: %s\n", st.message().c_str());
    return 2;
  };
  if (Status st = finish_common_options(&a.o, a.api, a.timeout_s, a.quiet); !st.ok())
    return fail(st);
  auto levels = parse_int_list(a.concurrency, "--concurrency");
  if (!levels.ok()) return fail(levels.status());
  a.o.concurrency = *levels;
  if (a.no_server_stats) a.o.sample_interval_ms = 0;
  if (!a.plot.empty()) {  // check the name before spending minutes measuring
    if (Status st = bench::check_plot_path(a.plot); !st.ok()) return fail(st);
  }
  if (Status st = bench::validate(a.o); !st.ok()) return fail(st);

  std::printf("mlx-benchmark run: %s at %s (%s%s), max_tokens %d, %d run(s) x concurrency %s\n",
              a.o.model.c_str(), a.o.base_url.c_str(), bench::api_name(a.o.api),
              a.o.stream ? ", streaming" : ", not streaming", a.o.max_tokens, a.o.runs,
              a.concurrency.c_str());
  std::fflush(stdout);
  auto report = bench::run_benchmark(a.o, stdout);
  if (!report.ok()) return fail(report.status());
  std::fputs(bench::format_summary(*report).c_str(), stdout);

  int rc = 0;
  if (!a.output.empty()) {
    if (Status st = bench::write_json_file(a.output, bench::run_json(*report)); !st.ok()) {
      std::fprintf(stderr, "mlx-benchmark run: %s\n", st.message().c_str());
      rc = 2;
    } else {
      std::printf("wrote %s\n", a.output.c_str());
    }
  }
  if (!a.plot.empty()) {
    std::vector<bench::LevelMetrics> ms;
    for (const auto& l : report->levels) ms.push_back(l.metrics);
    const std::string title =
        a.o.model + " (" + report->backend + ", " + (a.o.stream ? "stream" : "no stream") +
        ", prompt " + report->prompt.name + ", max_tokens " + std::to_string(a.o.max_tokens) + ")";
    if (Status st = bench::write_plot(a.plot, ms, title); !st.ok()) {
      std::fprintf(stderr, "mlx-benchmark run: %s\n", st.message().c_str());
      rc = 2;
    } else {
      std::printf("wrote %s\n", a.plot.c_str());
    }
  }
  if (rc == 0) {
    for (const auto& l : report->levels) {
      if (l.metrics.failed > 0) rc = 1;
    }
  }
  return rc;
}

}  // namespace

void add_bench_run_command(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand("run",
                                     "Measure a running server over HTTP (vLLM bench serve "
                                     "metrics: TTFT, TPOT, ITL, E2EL, tok/s)");
  cmd->add_option("--model,-m", args->o.model, "Model id as the server knows it")->required();
  cmd->add_option("--runs,-n", args->o.runs,
                  "Requests per concurrency slot (a level sends runs x C)")
      ->capture_default_str();
  cmd->add_flag("--stream", args->o.stream, "Stream (needed for TTFT, TPOT and ITL)");
  cmd->add_option("--concurrency,-c", args->concurrency, "Concurrency level(s), e.g. 1,2,4,8")
      ->capture_default_str();
  cmd->add_option("--output,-o", args->output, "Write the JSON report here");
  cmd->add_option("--plot", args->plot,
                  "Write a chart (.svg or .html) of throughput and latency vs concurrency");
  cmd->add_flag("--no-server-stats", args->no_server_stats,
                "Do not poll /admin/models during the run");
  add_common_bench_options(cmd, &args->o, &args->api, &args->timeout_s, &args->quiet);
  cmd->callback([args, exit_code] { *exit_code = run_main(*args); });
}

}  // namespace mlxm::cli
