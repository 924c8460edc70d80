// bench_cuda_engine: end-to-end engine throughput on one device (CUDA by default), without the
// CLI's dependencies, so tools/gpu/check.sh can build it on the GPU machine. It writes a
// random-weight model with the loader's make_model (vocab 128256 when no tokenizer is given),
// loads it through Engine::load (the real loader and weight mapping), then times
//   prefill: `batch` prompts of `prompt` tokens in steps of at most `chunk` tokens;
//   decode:  `gen` greedy steps of `batch` tokens (one per sequence), after one untimed decode
//            step (CUDA graph capture of that step shape happens there).
// GB/s = weight bytes read per decode step (all linears + lm_head + one embedding row) x steps /
// decode time. "host ms/step" = time forward() spends on the CPU before waiting for the device
// (validation, metadata, graph launch or kernel enqueues). Prints one human line and one
// `RESULT {json}` line per run. Nothing asserts times.
//
//   bench_cuda_engine --shape llama-3.2-1b --quant q4 [--prompt 128] [--gen 64] [--batch 1]
//                     [--chunk 512] [--dir DIR (reuse/keep the model there)] [--device cpu]
//                     [--argmax host|device] [--sample] [--pipeline]
// --argmax device: every step calls Engine::forward_argmax (greedy ids computed where the
// logits are; only the ids cross PCIe on CUDA) instead of forward() + a host argmax.
// --sample: tokens are sampled at temperature 1, top_p 0.9 (seeded per sequence) instead of
// greedy: with --argmax host by forward() + the host Sampler (what serving does for rows that
// come back as logits), with --argmax device by Engine::forward_sample (sampled on the device).
// --pipeline: the decode steps by Engine::submit / collect, each submitted before the one
// before it is collected, its tokens fed on the device (previous_row_token): the device does
// not wait for the host between steps.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "core/clock.h"
#include "engine/device.h"
#include "engine/engine.h"
#include "engine/kernels/cuda/cuda_ops.h"
#include "engine/loader/make_model.h"
#include "engine/row_sampling.h"
#include "engine/sample/sampler.h"

namespace {

using namespace mlxm;
using namespace mlxm::engine;
namespace fs = std::filesystem;

struct Args {
  std::string shape = "llama-3.2-1b";
  std::string quant = "q4";
  int group = 64;
  int prompt = 128;
  int gen = 64;
  int batch = 1;
  int chunk = 512;
  std::string dir;
  std::string device = "cuda";
  bool device_argmax = false;
  bool sample = false;
  bool pipeline = false;
};

double op_ms(const Engine& e, const char* name) {
  for (const auto& [k, v] : e.op_times_ms()) {
    if (k == name) return v;
  }
  return 0.0;
}
double host_ms(const Engine& e) { return op_ms(e, "host"); }

int run(const Args& a) {
  auto spec = model_spec_for_shape(a.shape);
  if (!spec.ok()) {
    std::fprintf(stderr, "%s\n", spec.status().to_string().c_str());
    return 2;
  }
  spec->bits = a.quant == "q4" ? 4 : a.quant == "q8" ? 8 : 0;
  if (spec->bits == 0 && a.quant != "bf16") {
    std::fprintf(stderr, "--quant q4 | q8 | bf16\n");
    return 2;
  }
  spec->group_size = a.group;
  if (spec->vocab_size == 0) spec->vocab_size = 128256;  // Llama 3 vocabulary
  std::string dir = a.dir;
  bool remove_dir = false;
  if (dir.empty()) {
    dir = (fs::temp_directory_path() / ("mlxm_engine_bench_" + std::to_string(::getpid()))).string();
    remove_dir = true;
  }
  double make_s = 0;
  std::error_code ec;
  if (!fs::exists(fs::path(dir) / "config.json", ec)) {
    const TimePoint t = now();
    const Status st = make_model(*spec, "", dir, 1);
    if (!st.ok()) {
      std::fprintf(stderr, "make_model: %s\n", st.to_string().c_str());
      return 1;
    }
    make_s = ms_since(t) / 1000;
  }
  auto dev = resolve_device(a.device);
  if (!dev.ok()) {
    std::fprintf(stderr, "%s\n", dev.status().to_string().c_str());
    return 1;
  }
  EngineOptions o;
  o.device = *dev;
  o.profile = true;
  const int bs = o.block_size;
  const int n_ctx_max = a.prompt + a.gen + 1;
  const int blocks_per_seq = (n_ctx_max + bs - 1) / bs;
  o.n_kv_blocks = int64_t{blocks_per_seq} * a.batch;
  const TimePoint tl = now();
  auto loaded = Engine::load(dir, o);
  if (!loaded.ok()) {
    std::fprintf(stderr, "load: %s\n", loaded.status().to_string().c_str());
    return 1;
  }
  Engine& e = **loaded;
  const double load_s = ms_since(tl) / 1000;
  const int vocab = e.config().vocab_size;

  std::mt19937 rng(7);
  std::vector<std::vector<int32_t>> prompts(static_cast<size_t>(a.batch));
  for (auto& p : prompts) {
    for (int i = 0; i < a.prompt; ++i) p.push_back(static_cast<int32_t>(rng() % vocab));
  }
  std::vector<BatchSeq> seqs(static_cast<size_t>(a.batch));
  for (int s = 0; s < a.batch; ++s) {
    for (int b = 0; b < blocks_per_seq; ++b) {
      seqs[static_cast<size_t>(s)].block_table.push_back(s * blocks_per_seq + b);
    }
  }
  std::vector<float> logits;
  std::vector<int32_t> ids;
  // --sample: one SamplerState per sequence (fixed seeds), temperature 1, top_p 0.9.
  SamplingParams sp;
  sp.temperature = 1.0f;
  sp.top_p = 0.9f;
  std::vector<SamplerState> states;
  for (int s = 0; s < a.batch; ++s) states.emplace_back(uint64_t{1000} + static_cast<uint64_t>(s));
  Sampler sampler;
  std::vector<RowSampling> specs;
  std::vector<int> row_seq;  // the sequence of each logit row of the last step
  bool token_ok = true;
  // The next token of logit row `row` of the last step (host work included in the timing).
  auto argmax = [&](size_t row) -> int32_t {
    if (a.device_argmax) {
      if (ids[row] < 0) token_ok = false;
      if (a.sample && ids[row] >= 0) states[static_cast<size_t>(row_seq[row])].record_output(ids[row]);
      return std::max(ids[row], 0);
    }
    const float* l = logits.data() + row * static_cast<size_t>(vocab);
    if (!a.sample) return static_cast<int32_t>(std::max_element(l, l + vocab) - l);
    auto r = sampler.sample(std::span<const float>(l, static_cast<size_t>(vocab)), sp,
                            states[static_cast<size_t>(row_seq[row])]);
    if (!r.ok()) token_ok = false;
    return r.ok() ? r->token : 0;
  };
  auto forward = [&](const Batch& b, std::vector<int> seq_of_row) {
    row_seq = std::move(seq_of_row);
    Status st;
    if (a.device_argmax && a.sample) {
      specs.clear();
      for (int s : row_seq) specs.push_back(make_row_sampling(sp, states[static_cast<size_t>(s)]));
      st = e.forward_sample(b, specs, &ids, &logits);
    } else {
      st = a.device_argmax ? e.forward_argmax(b, {}, &ids, &logits) : e.forward(b, &logits);
    }
    if (!st.ok()) std::fprintf(stderr, "forward: %s\n", st.to_string().c_str());
    return st.ok();
  };
  // Warm-up: one step of the first chunk's size (first-touch, lazy module loading, scratch
  // growth and the cuBLASLt plans of that shape), overwritten by the prefill.
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
    if (!forward(w, {0})) return 1;
  }
  e.reset_op_times();
  std::vector<int32_t> next(static_cast<size_t>(a.batch));
  const TimePoint tp = now();
  int prefill_steps = 0;
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
      if (!forward(b, seq_of_row)) return 1;
      ++prefill_steps;
      for (size_t r = 0; r < seq_of_row.size(); ++r) {
        next[static_cast<size_t>(seq_of_row[r])] = argmax(r);
      }
    }
  }
  const double prefill_ms = ms_since(tp);
  const double prefill_host = host_ms(e);

  auto decode_step = [&](int g) {
    Batch b;
    for (int s = 0; s < a.batch; ++s) {
      b.seqs.push_back(BatchSeq{seqs[static_cast<size_t>(s)].block_table, a.prompt + g + 1});
      b.tokens.push_back(next[static_cast<size_t>(s)]);
      b.positions.push_back(a.prompt + g);
      b.seq_ids.push_back(s);
      b.logit_rows.push_back(s);
    }
    std::vector<int> rows(static_cast<size_t>(a.batch));
    for (int s = 0; s < a.batch; ++s) rows[static_cast<size_t>(s)] = s;
    if (!forward(b, std::move(rows))) return false;
    for (int s = 0; s < a.batch; ++s) next[static_cast<size_t>(s)] = argmax(static_cast<size_t>(s));
    if (!token_ok) std::fprintf(stderr, "a row could not be sampled (NaN/inf logits)\n");
    return token_ok;
  };
  const TimePoint tf = now();
  if (!decode_step(0)) return 1;  // untimed: graph capture for this step shape
  const double first_ms = ms_since(tf);
  e.reset_op_times();
  // --pipeline: step g is submitted before step g - 1 is collected, its tokens taken on the
  // device from the step before (previous_row_token); step 1 gets step 0's tokens from here.
  auto pipelined_decode = [&]() {
    std::vector<int32_t> got;
    for (int g = 1; g <= a.gen + 1; ++g) {
      if (g <= a.gen) {
        Batch b;
        specs.clear();
        for (int s = 0; s < a.batch; ++s) {
          const size_t us = static_cast<size_t>(s);
          b.seqs.push_back(BatchSeq{seqs[us].block_table, a.prompt + g + 1});
          b.tokens.push_back(g == 1 ? next[us] : previous_row_token(s));
          b.positions.push_back(a.prompt + g);
          b.seq_ids.push_back(s);
          b.logit_rows.push_back(s);
          specs.push_back(a.sample ? make_row_sampling(sp, states[us]) : RowSampling{});
        }
        const Status st = e.submit(b, specs);
        if (!st.ok()) {
          std::fprintf(stderr, "submit: %s\n", st.to_string().c_str());
          return false;
        }
      }
      if (g == 1) continue;
      const Status st = e.collect(&got);
      if (!st.ok()) {
        std::fprintf(stderr, "collect: %s\n", st.to_string().c_str());
        return false;
      }
      for (int s = 0; s < a.batch; ++s) {
        const int32_t id = got[static_cast<size_t>(s)];
        if (id < 0) {
          std::fprintf(stderr, "a row could not be sampled (NaN/inf logits)\n");
          return false;
        }
        if (a.sample) states[static_cast<size_t>(s)].record_output(id);
        next[static_cast<size_t>(s)] = id;
      }
    }
    return true;
  };
  const TimePoint td = now();
  if (a.pipeline) {
    if (!pipelined_decode()) return 1;
  } else {
    for (int g = 1; g <= a.gen; ++g) {
      if (!decode_step(g)) return 1;
    }
  }
  const double decode_ms = ms_since(td);
  const double decode_host = host_ms(e);
  // GPU work after the enqueue plus the logits copy (the rest of a step is host: building the
  // batch, copying the logits out of the staging buffer, this benchmark's argmax).
  const double decode_wait = op_ms(e, "device_wait");

  const double prefill_tps = 1000.0 * a.batch * a.prompt / prefill_ms;
  const double decode_tps = a.gen > 0 ? 1000.0 * a.batch * a.gen / decode_ms : 0.0;
  const double step_ms = a.gen > 0 ? decode_ms / a.gen : 0.0;
  const double bytes = static_cast<double>(e.weight_bytes_per_token());
  const double gbps = a.gen > 0 ? bytes * a.gen / (decode_ms / 1000.0) / 1e9 : 0.0;
  std::printf(
      "%s %s on %s%s%s%s, batch %d: prefill %d x %d tok %.0f tok/s (%d steps, host %.2f ms) | "
      "decode "
      "%.1f tok/s, %.3f ms/step, %.0f GB/s of weights (%.0f MB/step), host %.3f ms/step, wait "
      "%.3f ms/step, first step %.1f ms | make %.1f s, load %.1f s, KV %.0f MiB\n",
      a.shape.c_str(), a.quant.c_str(), device_name(*dev),
      a.device_argmax ? " (device argmax)" : "", a.sample ? " (sampled T=1 top_p=0.9)" : "",
      a.pipeline ? " (pipelined)" : "", a.batch, a.batch, a.prompt,
      prefill_tps, prefill_steps, prefill_host, decode_tps, step_ms, gbps, bytes / 1e6,
      a.gen > 0 ? decode_host / a.gen : 0.0, a.gen > 0 ? decode_wait / a.gen : 0.0, first_ms,
      make_s, load_s, e.kv_bytes() / 1048576.0);
  std::printf(
      "RESULT {\"shape\":\"%s\",\"quant\":\"%s\",\"device\":\"%s\",\"argmax\":\"%s\","
      "\"sample\":%s,\"pipeline\":%s,\"batch\":%d,\"prompt\":%d,"
      "\"gen\":%d,\"prefill_tok_s\":%.1f,\"decode_tok_s\":%.1f,\"decode_ms_per_step\":%.4f,"
      "\"decode_gb_s\":%.1f,\"weight_bytes_per_step\":%.0f,\"host_ms_per_step\":%.4f,"
      "\"first_decode_step_ms\":%.2f,\"make_s\":%.1f,\"load_s\":%.2f}\n",
      a.shape.c_str(), a.quant.c_str(), device_name(*dev), a.device_argmax ? "device" : "host",
      a.sample ? "true" : "false", a.pipeline ? "true" : "false", a.batch, a.prompt, a.gen,
      prefill_tps,
      decode_tps, step_ms, gbps, bytes, a.gen > 0 ? decode_host / a.gen : 0.0, first_ms, make_s,
      load_s);
  std::fflush(stdout);
  loaded->reset();
  if (remove_dir) fs::remove_all(dir, ec);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    auto need = [&]() {
      if (v == nullptr) {
        std::fprintf(stderr, "%s needs a value\n", k.c_str());
        std::exit(2);
      }
      ++i;
      return std::string(v);
    };
    if (k == "--shape") a.shape = need();
    else if (k == "--quant") a.quant = need();
    else if (k == "--group") a.group = std::atoi(need().c_str());
    else if (k == "--prompt") a.prompt = std::atoi(need().c_str());
    else if (k == "--gen") a.gen = std::atoi(need().c_str());
    else if (k == "--batch") a.batch = std::atoi(need().c_str());
    else if (k == "--chunk") a.chunk = std::atoi(need().c_str());
    else if (k == "--dir") a.dir = need();
    else if (k == "--device") a.device = need();
    else if (k == "--argmax") {
      const std::string m = need();
      if (m != "host" && m != "device") {
        std::fprintf(stderr, "--argmax host | device\n");
        return 2;
      }
      a.device_argmax = m == "device";
    }
    else if (k == "--sample") a.sample = true;
    else if (k == "--pipeline") a.pipeline = true;
    else {
      std::fprintf(stderr, "unknown argument %s (see the file comment)\n", k.c_str());
      return 2;
    }
  }
  if (a.prompt < 1 || a.gen < 0 || a.batch < 1 || a.chunk < 1) {
    std::fprintf(stderr, "--prompt >= 1, --gen >= 0, --batch >= 1, --chunk >= 1\n");
    return 2;
  }
  // MLXM_GEMV_PROBE=N_OUT,N_IN: the bulk GEMV's per-step stamps of that layer shape, in a
  // MLXM_CUDA_TIMELINE build (tools/gpu/gemv_probe.sh).
  if (const char* p = std::getenv("MLXM_GEMV_PROBE")) {
    int n_out = 0, n_in = 0;
    if (std::sscanf(p, "%d,%d", &n_out, &n_in) != 2 || n_out <= 0 || n_in <= 0) {
      std::fprintf(stderr, "MLXM_GEMV_PROBE wants N_OUT,N_IN (got '%s')\n", p);
      return 2;
    }
    mlxm::engine::cuda::gemv_probe_select(n_out, n_in);
  }
  const int rc = run(a);
  // The decode attention's phase stamps, in a MLXM_CUDA_TIMELINE build (tools/gpu/attn_timeline.sh).
  mlxm::engine::cuda::paged_attention_timeline_dump();
  mlxm::engine::cuda::chain_timeline_dump();  // the kernel chain (chain_timeline.py)
  mlxm::engine::cuda::gemv_probe_dump();      // the probed GEMV's steps (gemv_probe.py)
  return rc;
}
