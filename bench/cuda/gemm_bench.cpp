// CUDA many-row linear benchmark: the tensor-core GEMM (gemm.cu) against the f32 GEMV (8 rows
// per launch) at the engine's fused Llama shapes (qkv, o, gate+up, down, lm_head), q4/q8 group
// 64 with bf16 scales, n = 8 .. 2048 activation rows. Reports µs per call, GB/s of weights and
// TFLOP/s (2·n·n_out·n_in / time), so the GEMM threshold and the prefill rate can be chosen
// from measurements. At n = 128, 256, 512, 2048 the cuBLASLt path runs too ("cublas": weight rows dequantized into
// a scratch of 64 MB of rows + x + the 32 MB cuBLASLt workspace, one matmul per chunk; the
// times include the dequantization and the x conversion), and a second table compares it with
// the GEMM (to choose kDefaultCublasMinRows).
//
// Method as in gemv_bench.cpp: device-generated random weights; rotation over ≥ 512 MB of
// copies of the layer (beyond the L2); launches captured in one CUDA graph, 2 warm-up replays,
// median of 7 timed replays over the number of launches. The GEMM gets the engine's 16 MB
// split-K workspace (64 MB before run 26 of bench/NOTES.md).
//
// Usage: bench_cuda_gemm [--csv FILE] [--quick] [--only LAYER] [--rows N]
//   --quick: the 8B shapes only; --only: one layer name (qkv, o_proj, gate+up, down, lm_head);
//   --rows: only the runs with N activation rows (with --only: one kernel to profile with ncu).
//   MLXM_CUDA_GEMM_DECODE=off|always|auto: see cuda_linear.h GemmDecode.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "engine/kernels/cuda/cuda_linear.h"
#include "engine/kernels/cuda/cuda_runtime_api.h"

namespace {

using mlxm::Status;
using mlxm::engine::DType;
using mlxm::engine::cuda::CudaLinear;
using mlxm::engine::cuda::DeviceBuffer;
using mlxm::engine::cuda::ForwardOptions;
using mlxm::engine::cuda::Stream;

struct Shape {
  const char* model;
  const char* name;
  int64_t n_out, n_in;
};

int fail(const char* what, const Status& st) {
  std::fprintf(stderr, "FAIL: %s: %s\n", what, st.to_string().c_str());
  return 1;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const char* csv_path = nullptr;
  bool quick = false;
  std::string only;
  int only_rows = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--csv") == 0 && i + 1 < argc) {
      csv_path = argv[++i];
    } else if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else if (std::strcmp(argv[i], "--rows") == 0 && i + 1 < argc) {
      only_rows = std::atoi(argv[++i]);
      if (only_rows < 1 || only_rows > 2048) {
        std::fprintf(stderr, "--rows: want 1..2048, got '%s'\n", argv[i]);
        return 2;
      }
    } else {
      std::fprintf(stderr, "usage: %s [--csv FILE] [--quick] [--only LAYER] [--rows N]\n",
                   argv[0]);
      return 2;
    }
  }
  namespace cu = mlxm::engine::cuda;
  if (cu::device_count() == 0) {
    std::printf("SKIP: no CUDA device (%s)\n", cu::no_device_reason().c_str());
    return 0;
  }
  FILE* csv = csv_path != nullptr ? std::fopen(csv_path, "w") : nullptr;
  if (csv != nullptr) std::fprintf(csv, "kernel,model,shape,format,n,us,gbs,tflops\n");

  std::vector<Shape> shapes = {{"llama-3.1-8b", "qkv", 6144, 4096},
                               {"llama-3.1-8b", "o_proj", 4096, 4096},
                               {"llama-3.1-8b", "gate+up", 28672, 4096},
                               {"llama-3.1-8b", "down", 4096, 14336},
                               {"llama-3.1-8b", "lm_head", 128256, 4096}};
  if (!quick) {
    shapes.push_back({"llama-3.2-3b", "gate+up", 16384, 3072});
    shapes.push_back({"llama-3.2-3b", "down", 3072, 8192});
  }
  const int max_n = 2048;
  const int64_t max_in = 14336, max_out = 128256;
  auto x_buf = DeviceBuffer::alloc(size_t(max_n) * max_in * sizeof(float));
  auto y_buf = DeviceBuffer::alloc(size_t(max_n) * max_out * sizeof(float));
  const size_t ws_floats = size_t(4) << 20;
  auto ws = DeviceBuffer::alloc(ws_floats * sizeof(float));
  if (!x_buf.ok()) return fail("alloc x", x_buf.status());
  if (!y_buf.ok()) return fail("alloc y", y_buf.status());
  if (!ws.ok()) return fail("alloc workspace", ws.status());
  const Status lt = cu::cublaslt_status();
  if (!lt.ok()) std::printf("cuBLASLt unavailable, no cublas runs: %s\n", lt.to_string().c_str());
  const size_t lt_bytes = cu::cublas_scratch_size(max_n, max_in);
  auto lt_buf = DeviceBuffer::alloc(lt.ok() ? lt_bytes : 256);
  if (!lt_buf.ok()) return fail("alloc cuBLASLt scratch", lt_buf.status());
  {
    std::vector<float> xh(size_t(max_n) * max_in);
    uint32_t s = 777;
    for (auto& v : xh) {
      s = s * 1664525u + 1013904223u;
      v = static_cast<float>(s >> 8) / static_cast<float>(1 << 24) * 2.0f - 1.0f;
    }
    Status st = x_buf->upload(xh.data(), xh.size() * sizeof(float));
    if (!st.ok()) return fail("upload x", st);
  }
  const float* x = x_buf->as<const float>();
  float* y = y_buf->as<float>();

  // MLXM_CUDA_GEMM_DECODE=off|always|auto (default): 4-bit rows <= 64 on the 64x64 GEMM, the
  // decode GEMM, or the engine's choice.
  const char* gd = std::getenv("MLXM_CUDA_GEMM_DECODE");
  const std::string gd_s = gd != nullptr ? gd : "auto";
  const mlxm::engine::cuda::GemmDecode gemm_decode =
      gd_s == "off"      ? mlxm::engine::cuda::GemmDecode::kOff
      : gd_s == "always" ? mlxm::engine::cuda::GemmDecode::kAlways
                         : mlxm::engine::cuda::GemmDecode::kAuto;
  std::printf("%-13s %-8s %-12s %-5s %4s %-6s %10s %8s %8s\n", "model", "layer", "shape", "fmt",
              "n", "path", "us", "GB/s", "TFLOP/s");
  struct Cmp {
    std::string model, name, fmt;
    int n;
    double old_us, new_us, old_gbs, new_gbs;
  };
  std::vector<Cmp> cmp_lt;  // many rows: GEMM (old) vs cuBLASLt (new)
  for (int bits : {4, 8}) {
    const char* fmt = bits == 4 ? "q4g64" : "q8g64";
    for (const Shape& sh : shapes) {
      if (!only.empty() && only != sh.name) continue;
      auto probe = CudaLinear::random(sh.n_out, sh.n_in, bits, 64, DType::kBF16, 1);
      if (!probe.ok()) return fail("CudaLinear::random", probe.status());
      const size_t bytes = probe->bytes();
      const size_t copies = std::clamp<size_t>((size_t(512) << 20) / bytes + 1, 2, 64);
      std::vector<CudaLinear> layers;
      layers.push_back(std::move(probe).value());
      for (size_t c = 1; c < copies; ++c) {
        auto l = CudaLinear::random(sh.n_out, sh.n_in, bits, 64, DType::kBF16, 1 + c);
        if (!l.ok()) return fail("CudaLinear::random", l.status());
        layers.push_back(std::move(l).value());
      }
      struct Run {
        int n;
        bool gemm;
        bool cublas = false;
      };
      std::vector<Run> runs;
      for (int n : {2, 4, 8, 16}) runs.push_back({n, false});
      for (int n : {2, 4, 8, 16, 32, 64, 128, 256, 512}) runs.push_back({n, true});
      if (sh.n_out > 100000) runs = {{4, false}, {4, true}, {16, true}, {64, true}, {512, true}};
      runs.push_back({2048, true});
      for (int n : {128, 256, 512, 2048}) {
        if (lt.ok() && (sh.n_out < 100000 || n >= 512)) runs.push_back({n, true, true});
      }
      for (const Run& r : runs) {
        if (only_rows != 0 && r.n != only_rows) continue;
        ForwardOptions opt;
        opt.gemm_min_rows = r.gemm ? 1 : (1 << 30);
        opt.workspace = ws->as<float>();
        opt.workspace_floats = ws_floats;
        opt.gemm_decode = gemm_decode;
        opt.cublas_min_rows = r.cublas ? 1 : (1 << 30);
        opt.cublas_scratch = lt_buf->data();
        opt.cublas_scratch_bytes = lt_buf->size();
        if (r.cublas) {  // cuBLASLt plans and modules made outside the graph capture
          if (!layers[0].uses_cublas(r.n, opt)) {
            return fail("cuBLASLt path", mlxm::internal_error("uses_cublas() is false"));
          }
          Status st = layers[0].forward(x, r.n, y, nullptr, opt);
          if (st.ok()) st = cu::synchronize();
          if (!st.ok()) return fail("cuBLASLt warm-up", st);
        }
        auto t = cu::time_graph_ms(
            [&](Stream s) -> Status {
              for (const CudaLinear& l : layers) {
                MLXM_RETURN_IF_ERROR(l.forward(x, r.n, y, s, opt));
              }
              return mlxm::ok_status();
            },
            2, 7);
        if (!t.ok()) return fail("time_graph_ms", t.status());
        const double us = median(t.value()) * 1e3 / static_cast<double>(copies);
        const double gbs = static_cast<double>(bytes) / (us * 1e-6) / 1e9;
        const double tflops = 2.0 * r.n * double(sh.n_out) * double(sh.n_in) / (us * 1e-6) / 1e12;
        char shape[32];
        std::snprintf(shape, sizeof(shape), "%lldx%lld", static_cast<long long>(sh.n_out),
                      static_cast<long long>(sh.n_in));
        const char* path = r.cublas ? "cublas" : r.gemm ? "gemm" : "gemv";
        std::printf("%-13s %-8s %-12s %-5s %4d %-6s %10.2f %8.0f %8.1f\n", sh.model, sh.name, shape,
                    fmt, r.n, path, us, gbs, tflops);
        if (csv != nullptr) {
          std::fprintf(csv, "%s,%s,%s,%s,%d,%.3f,%.1f,%.2f\n", path, sh.model, shape, fmt, r.n, us,
                       gbs, tflops);
        }
        if (r.gemm && r.n >= 128) {
          Cmp* c = nullptr;
          for (Cmp& e : cmp_lt) {
            if (e.model == sh.model && e.name == sh.name && e.fmt == fmt && e.n == r.n) c = &e;
          }
          if (c == nullptr) {
            cmp_lt.push_back({sh.model, sh.name, fmt, r.n, 0, 0, 0, 0});
            c = &cmp_lt.back();
          }
          (r.cublas ? c->new_us : c->old_us) = us;
          (r.cublas ? c->new_gbs : c->old_gbs) = tflops;  // TFLOP/s in this table
        }
      }
      std::fflush(stdout);
    }
  }
  std::printf(
      "\nmany rows, tensor-core GEMM vs cuBLASLt (dequantize + x conversion + matmul):\n"
      "%-13s %-8s %-5s %4s %9s %9s %8s %8s %7s\n",
      "model", "layer", "fmt", "n", "gemm us", "cublas us", "gemm TF", "cublasTF", "speedup");
  for (const Cmp& c : cmp_lt) {
    if (c.old_us <= 0 || c.new_us <= 0) continue;
    std::printf("%-13s %-8s %-5s %4d %9.2f %9.2f %8.1f %8.1f %6.2fx\n", c.model.c_str(),
                c.name.c_str(), c.fmt.c_str(), c.n, c.old_us, c.new_us, c.old_gbs, c.new_gbs,
                c.old_us / c.new_us);
  }
  if (csv != nullptr) std::fclose(csv);
  return 0;
}
