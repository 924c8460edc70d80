#include "bench/runner.h"

#include <atomic>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <mutex>
#include <thread>

#include "bench/progress.h"

namespace mlxm::bench {

namespace {

void read_loadavg(double out[3]) {
  std::ifstream in("/proc/loadavg");
  in >> out[0] >> out[1] >> out[2];
}

std::string iso_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S%z", &tm);
  return buf;
}

Headers auth_headers(const RunOptions& o) {
  Headers h;
  if (!o.api_key.empty()) {
    if (o.api == Api::kAnthropic)
      h.emplace_back("x-api-key", o.api_key);
    else
      h.emplace_back("Authorization", "Bearer " + o.api_key);
  }
  return h;
}

std::string header_backend(const HttpResponse& r) {
  for (const char* name : {"x-backend", "x-mlx-backend"}) {
    auto it = r.headers.find(name);
    if (it != r.headers.end() && !it->second.empty()) return it->second;
  }
  return "";
}

}  // namespace

Status validate(const RunOptions& o) {
  if (o.model.empty()) return invalid_argument("--model is required");
  if (o.runs < 1) return invalid_argument("--runs must be at least 1");
  if (o.warmup < 0) return invalid_argument("--warmup must be 0 or more");
  if (o.max_tokens < 1) return invalid_argument("--max-tokens must be at least 1");
  if (o.concurrency.empty()) return invalid_argument("--concurrency needs at least one level");
  for (int c : o.concurrency) {
    if (c < 1 || c > 4096) return invalid_argument("--concurrency levels must be in [1, 4096]");
  }
  if (o.timeout_ms < 1) return invalid_argument("--timeout must be positive");
  return ok_status();
}

RequestRecord send_request(HttpClient& client, const RunOptions& o, const std::string& prompt,
                           TimePoint level_start, std::string* backend_header) {
  RequestSpec spec;
  spec.model = o.model;
  spec.prompt = prompt;
  spec.max_tokens = o.max_tokens;
  spec.stream = o.stream;
  spec.ignore_eos = o.ignore_eos;
  spec.temperature = o.temperature;
  spec.top_logprobs = o.top_logprobs;
  spec.json_output = o.json_output;
  spec.frequency_penalty = o.frequency_penalty;
  const std::string url = join_url(o.base_url, api_path(o.api));
  const std::string body = request_body(o.api, spec);
  const Headers headers = request_headers(o.api, o.api_key);

  RequestRecord rec;
  SseParser parser;
  bool saw_end = false;
  std::string stream_error;
  std::optional<int64_t> prompt_tokens, completion_tokens;
  TimePoint last_content{};
  const TimePoint t0 = now();
  rec.t_start_ms = ms_between(level_start, t0);

  BodyCallback on_body;
  if (o.stream) {
    on_body = [&](std::string_view piece, TimePoint at) {
      for (const SseEvent& ev : parser.feed(piece)) {
        ReplyInfo info = read_stream_event(o.api, ev);
        if (!info.error.empty()) {
          stream_error = "stream error: " + info.error;
          return false;
        }
        if (info.content) {
          if (!rec.ttft_ms)
            rec.ttft_ms = ms_between(t0, at);
          else
            rec.itl_ms.push_back(ms_between(last_content, at));
          last_content = at;
          rec.chunk_at_ms.push_back(ms_between(level_start, at));
        }
        if (info.prompt_tokens) prompt_tokens = info.prompt_tokens;
        if (info.completion_tokens) completion_tokens = info.completion_tokens;
        if (info.end) saw_end = true;
      }
      return !parser.overflowed();
    };
  }
  HttpResponse resp = client.post(url, body, headers, o.timeout_ms, on_body);
  rec.e2e_ms = ms_since(t0);
  if (backend_header) *backend_header = header_backend(resp);

  if (!stream_error.empty()) {
    rec.error = stream_error;
  } else if (parser.overflowed()) {
    rec.error = "stream event larger than the parser's limit";
  } else if (!resp.error.empty()) {
    rec.error = resp.status ? "HTTP " + std::to_string(resp.status) + ": " + resp.error
                            : "connection: " + resp.error;
  } else if (resp.status < 200 || resp.status >= 300) {
    rec.error = http_error_reason(resp.status, resp.body);
  } else if (o.stream) {
    if (!saw_end) {
      rec.error = o.api == Api::kAnthropic ? "stream ended before message_stop"
                                           : "stream ended before data: [DONE]";
    }
  } else {
    ReplyInfo info = read_body(o.api, resp.body);
    if (!info.error.empty()) rec.error = info.error;
    prompt_tokens = info.prompt_tokens;
    completion_tokens = info.completion_tokens;
  }
  if (rec.error.empty() && (!prompt_tokens || !completion_tokens)) {
    rec.error = o.stream && o.api != Api::kAnthropic
                    ? "no usage in the stream (stream_options.include_usage not honoured)"
                    : "no usage in the response";
  }
  rec.prompt_tokens = prompt_tokens.value_or(0);
  rec.completion_tokens = completion_tokens.value_or(0);
  rec.success = rec.error.empty();
  return rec;
}

namespace {

LevelResult run_level(const RunOptions& o, const std::string& prompt, int concurrency,
                      std::string* backend_header, bool sample) {
  LevelResult lr;
  lr.num_requests = o.runs * concurrency;
  lr.requests.resize(static_cast<size_t>(lr.num_requests));
  ProgressBar bar("concurrency " + std::to_string(concurrency), lr.num_requests, o.progress);
  std::optional<LoadSampler> sampler;
  if (sample && o.sample_interval_ms > 0) {
    sampler.emplace(o.base_url, o.model, auth_headers(o), o.sample_interval_ms);
    sampler->start();
  }
  std::atomic<int> next{0};
  std::mutex mu;
  const TimePoint level_start = now();
  std::vector<std::thread> workers;
  for (int w = 0; w < concurrency; ++w) {
    workers.emplace_back([&] {
      HttpClient client;
      for (int i = next.fetch_add(1); i < lr.num_requests; i = next.fetch_add(1)) {
        std::string backend;
        RequestRecord rec = send_request(client, o, prompt, level_start, &backend);
        bar.tick(rec.success);
        std::lock_guard<std::mutex> lock(mu);
        if (!backend.empty() && backend_header->empty()) *backend_header = backend;
        lr.requests[static_cast<size_t>(i)] = std::move(rec);
      }
    });
  }
  for (auto& t : workers) t.join();
  const double duration_s = ms_since(level_start) / 1000.0;
  bar.finish();
  if (sampler) lr.server = sampler->stop();
  lr.metrics = aggregate(lr.requests, duration_s, concurrency, o.stream);
  return lr;
}

}  // namespace

Result<RunReport> run_benchmark(const RunOptions& o, std::FILE* console) {
  MLXM_RETURN_IF_ERROR(validate(o));
  RunReport rep;
  rep.options = o;
  rep.date = iso_now();
  read_loadavg(rep.load_average_start);
  HttpClient client;
  const Headers auth = auth_headers(o);
  MLXM_ASSIGN_OR_RETURN(rep.prompt, build_prompt(client, o.base_url, o.model, o.prompt, auth));

  if (auto admin = fetch_admin_models(client, o.base_url, auth, &rep.admin_note)) {
    rep.before = read_model_load(*admin, o.model);
    rep.admin_available = true;
  }
  std::string header_backend_label;
  for (int i = 0; i < o.warmup; ++i) {
    RequestRecord r = send_request(client, o, rep.prompt.text, now(), &header_backend_label);
    if (!r.success) rep.warmup_errors.push_back(r.error);
  }
  if (rep.admin_available) {  // the warmup may have loaded the model
    if (auto admin = fetch_admin_models(client, o.base_url, auth)) {
      ModelLoad m = read_model_load(*admin, o.model);
      if (m.found && !rep.before.found) rep.before = m;
    }
  }
  for (int c : o.concurrency) {
    rep.levels.push_back(
        run_level(o, rep.prompt.text, c, &header_backend_label, rep.admin_available));
    if (console) {
      std::fputs(format_result_block(rep.levels.back().metrics).c_str(), console);
      std::fflush(console);
    }
  }
  if (rep.admin_available) {
    if (auto admin = fetch_admin_models(client, o.base_url, auth))
      rep.after = read_model_load(*admin, o.model);
  }
  // The backend label is what the server says: its X-Backend header, else the admin entry's
  // backend/device, else "local" for a model the server lists as its own, else "remote".
  if (!header_backend_label.empty())
    rep.backend = header_backend_label;
  else if (!rep.after.backend.empty())
    rep.backend = rep.after.backend;
  else if (!rep.before.backend.empty())
    rep.backend = rep.before.backend;
  else if (rep.after.found || rep.before.found)
    rep.backend = "local";
  else {
    bool any_success = false;
    for (const LevelResult& l : rep.levels) any_success |= l.metrics.completed > 0;
    rep.backend = any_success ? "remote" : "unknown";
  }
  read_loadavg(rep.load_average_end);
  return rep;
}

}  // namespace mlxm::bench
