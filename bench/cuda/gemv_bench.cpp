// CUDA GEMV benchmark: achieved bandwidth of the linear kernels at Llama shapes, against the
// card's device-to-device copy bandwidth measured in the same run, and projected decode tok/s
// (a whole model's GEMVs for one token, weights distinct per layer, as one CUDA graph).
//
// Method (../.library METHOD.md habits): random device-generated weights (never zeros); each
// measurement rotates over enough copies of the layer (≥ 512 MB) that the 50-60 MB L2 cannot
// hold them; the launches are captured in a CUDA graph (no launch gaps from the host), replayed
// 3 times to warm up, then timed 15 times with events; the median replay over the number of
// launches is reported. Bytes = weights + scales + biases read once per GEMV.
//
// Tables: every shape with the default options (the f32 GEMV below kDefaultGemmMinRows rows,
// the GEMM from there); the f32 GEMV against the int8-activation GEMV (ForwardOptions::gemv_i8,
// both forced to the GEMV) for the 1B and 8B shapes at n = 1 and 8 (the i8 time includes its
// activation-quantization launch); the projected decode step with both GEMVs.
//
// Usage: bench_cuda_gemv [--csv FILE] [--quick]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "engine/kernels/cuda/cuda_linear.h"
#include "engine/kernels/cuda/cuda_runtime_api.h"

namespace {

using mlxm::Status;
using mlxm::engine::DType;
using mlxm::engine::cuda::CudaLinear;
using mlxm::engine::cuda::DeviceBuffer;
using mlxm::engine::cuda::Stream;

struct Shape {
  const char* model;
  const char* name;
  int64_t n_out;
  int64_t n_in;
};

struct ModelShape {
  const char* name;
  int layers;
  int64_t hidden, inter, q_out, kv_out, vocab;
};

const ModelShape kModels[] = {
    {"llama-3.2-1b", 16, 2048, 8192, 2048, 512, 128256},
    {"llama-3.2-3b", 28, 3072, 8192, 3072, 1024, 128256},
    {"llama-3.1-8b", 32, 4096, 14336, 4096, 1024, 128256},
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
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--csv") == 0 && i + 1 < argc) {
      csv_path = argv[++i];
    } else if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else {
      std::fprintf(stderr, "usage: %s [--csv FILE] [--quick]\n", argv[0]);
      return 2;
    }
  }
  namespace cu = mlxm::engine::cuda;
  if (cu::device_count() == 0) {
    std::printf("SKIP: no CUDA device (%s)\n", cu::no_device_reason().c_str());
    return 0;
  }
  auto di = cu::device_info(0);
  if (!di.ok()) return fail("device_info", di.status());
  std::printf("device: %s, cc %d.%d, %d SMs, L2 %zu MB, memory %zu MB (%zu MB free)\n",
              di->name.c_str(), di->cc_major, di->cc_minor, di->sm_count, di->l2_bytes >> 20,
              di->total_bytes >> 20, di->free_bytes >> 20);
  FILE* csv = csv_path != nullptr ? std::fopen(csv_path, "w") : nullptr;
  if (csv != nullptr) std::fprintf(csv, "kind,model,shape,format,n,us,gbs,pct_copy\n");

  auto copy = cu::copy_bandwidth_gbs(size_t(1) << 30, 20);
  if (!copy.ok()) return fail("copy bandwidth", copy.status());
  const double copy_gbs = copy.value();
  std::printf("device-to-device copy: %.0f GB/s (read + write, 1 GiB, median of 20)\n\n", copy_gbs);
  if (csv != nullptr) std::fprintf(csv, "copy,,,,,,%.1f,100\n", copy_gbs);

  // Unique GEMV shapes of the three models.
  std::vector<Shape> shapes;
  for (const ModelShape& m : kModels) {
    const Shape s[] = {{m.name, "q_proj/o_proj", m.q_out, m.hidden},
                       {m.name, "k/v_proj", m.kv_out, m.hidden},
                       {m.name, "gate/up", m.inter, m.hidden},
                       {m.name, "down", m.hidden, m.inter},
                       {m.name, "lm_head", m.vocab, m.hidden}};
    for (const Shape& x : s) shapes.push_back(x);
  }
  struct Fmt {
    const char* name;
    int bits;
  };
  std::vector<Fmt> fmts = {{"q4g64", 4}, {"q8g64", 8}};
  const std::vector<int> ns = quick ? std::vector<int>{1, 8} : std::vector<int>{1, 2, 4, 8};

  auto x_buf = DeviceBuffer::alloc(8 * 16384 * sizeof(float));
  auto y_buf = DeviceBuffer::alloc(8 * 131072 * sizeof(float));
  if (!x_buf.ok()) return fail("alloc x", x_buf.status());
  if (!y_buf.ok()) return fail("alloc y", y_buf.status());
  {
    // Activations: random finite floats in [-1, 1).
    std::vector<float> xh(8 * 16384);
    uint32_t s = 12345;
    for (auto& v : xh) {
      s = s * 1664525u + 1013904223u;
      v = static_cast<float>(s >> 8) / static_cast<float>(1 << 24) * 2.0f - 1.0f;
    }
    Status st = x_buf->upload(xh.data(), xh.size() * sizeof(float));
    if (!st.ok()) return fail("upload x", st);
  }
  const float* x = x_buf->as<const float>();
  float* y = y_buf->as<float>();
  auto scratch = DeviceBuffer::alloc(cu::gemv_i8_scratch_bytes(16384));
  if (!scratch.ok()) return fail("alloc gemv scratch", scratch.status());
  cu::ForwardOptions f32_gemv;  // the f32 GEMV at every n
  f32_gemv.gemm_min_rows = 1 << 30;
  f32_gemv.gemv_i8 = false;
  cu::ForwardOptions i8_gemv = f32_gemv;  // the int8-activation GEMV at every n
  i8_gemv.gemv_i8 = true;
  i8_gemv.gemv_scratch = scratch->data();
  i8_gemv.gemv_scratch_bytes = scratch->size();
  // Median µs per launch of `layers` (a graph of one forward per layer).
  auto time_us = [&](const std::vector<CudaLinear>& layers, int n,
                     const cu::ForwardOptions& opt) -> mlxm::Result<double> {
    auto t = cu::time_graph_ms(
        [&](Stream s) -> Status {
          for (const CudaLinear& l : layers) MLXM_RETURN_IF_ERROR(l.forward(x, n, y, s, opt));
          return mlxm::ok_status();
        },
        3, 15);
    if (!t.ok()) return t.status();
    return median(t.value()) * 1e3 / static_cast<double>(layers.size());
  };
  struct Cmp {
    std::string model, layer, shape, fmt;
    int n;
    double us_f32, us_i8;
    size_t bytes;
  };
  std::vector<Cmp> cmps;

  std::printf("%-13s %-14s %-13s %-6s %2s %10s %9s %7s\n", "model", "layer", "shape", "format", "n",
              "us/GEMV", "GB/s", "%copy");
  for (const Fmt& f : fmts) {
    for (const Shape& sh : shapes) {
      auto probe = CudaLinear::random(sh.n_out, sh.n_in, f.bits, 64, DType::kBF16, 1);
      if (!probe.ok()) return fail("CudaLinear::random", probe.status());
      const size_t bytes = probe->bytes();
      const size_t copies = std::clamp<size_t>((size_t(512) << 20) / bytes + 1, 2, 128);
      std::vector<CudaLinear> layers;
      layers.push_back(std::move(probe).value());
      for (size_t c = 1; c < copies; ++c) {
        auto l = CudaLinear::random(sh.n_out, sh.n_in, f.bits, 64, DType::kBF16, 1 + c);
        if (!l.ok()) return fail("CudaLinear::random", l.status());
        layers.push_back(std::move(l).value());
      }
      for (int n : ns) {
        auto t = cu::time_graph_ms(
            [&](Stream s) -> Status {
              for (const CudaLinear& l : layers) MLXM_RETURN_IF_ERROR(l.forward(x, n, y, s));
              return mlxm::ok_status();
            },
            3, 15);
        if (!t.ok()) return fail("time_graph_ms", t.status());
        const double us = median(t.value()) * 1e3 / static_cast<double>(copies);
        const double gbs = static_cast<double>(bytes) / (us * 1e-6) / 1e9;
        char shape[32];
        std::snprintf(shape, sizeof(shape), "%lldx%lld", static_cast<long long>(sh.n_out),
                      static_cast<long long>(sh.n_in));
        std::printf("%-13s %-14s %-13s %-6s %2d %10.2f %9.0f %6.1f%%\n", sh.model, sh.name, shape,
                    f.name, n, us, gbs, 100.0 * gbs / copy_gbs);
        if (csv != nullptr) {
          std::fprintf(csv, "gemv,%s,%s,%s,%d,%.3f,%.1f,%.2f\n", sh.model, shape, f.name, n, us,
                       gbs, 100.0 * gbs / copy_gbs);
        }
        const bool cmp_model = std::strcmp(sh.model, "llama-3.2-3b") != 0;
        if (cmp_model && (n == 1 || n == 8)) {
          auto a = time_us(layers, n, f32_gemv);
          if (!a.ok()) return fail("time f32 GEMV", a.status());
          auto b = time_us(layers, n, i8_gemv);
          if (!b.ok()) return fail("time i8 GEMV", b.status());
          cmps.push_back({sh.model, sh.name, shape, f.name, n, a.value(), b.value(), bytes});
        }
      }
      std::fflush(stdout);
    }
  }

  std::printf("\nf32 GEMV vs int8-activation GEMV (both forced to the GEMV):\n");
  std::printf("%-13s %-14s %-13s %-6s %2s %9s %7s %9s %7s %6s %7s\n", "model", "layer", "shape",
              "format", "n", "us f32", "GB/s", "us i8", "GB/s", "%copy", "speedup");
  for (const Cmp& c : cmps) {
    const double g32 = static_cast<double>(c.bytes) / (c.us_f32 * 1e-6) / 1e9;
    const double g8 = static_cast<double>(c.bytes) / (c.us_i8 * 1e-6) / 1e9;
    std::printf("%-13s %-14s %-13s %-6s %2d %9.2f %7.0f %9.2f %7.0f %5.1f%% %6.2fx\n",
                c.model.c_str(), c.layer.c_str(), c.shape.c_str(), c.fmt.c_str(), c.n, c.us_f32,
                g32, c.us_i8, g8, 100.0 * g8 / copy_gbs, c.us_f32 / c.us_i8);
    if (csv != nullptr) {
      std::fprintf(csv, "gemv_f32,%s,%s,%s,%d,%.3f,%.1f,%.2f\n", c.model.c_str(),
                   c.shape.c_str(), c.fmt.c_str(), c.n, c.us_f32, g32, 100.0 * g32 / copy_gbs);
      std::fprintf(csv, "gemv_i8,%s,%s,%s,%d,%.3f,%.1f,%.2f\n", c.model.c_str(),
                   c.shape.c_str(), c.fmt.c_str(), c.n, c.us_i8, g8, 100.0 * g8 / copy_gbs);
    }
  }
  std::fflush(stdout);

  // The generic (correct, not tuned) path, for scale: 3 and 6 bits, and 4 bits with F32 scales.
  std::printf("\ngeneric path (not tuned), 4096x4096, n = 1:\n");
  for (auto [name, bits, dt] : {std::tuple{"q3g64", 3, DType::kBF16},
                                std::tuple{"q6g64", 6, DType::kBF16},
                                std::tuple{"q4g64-f32", 4, DType::kF32}}) {
    std::vector<CudaLinear> layers;
    for (int c = 0; c < 24; ++c) {
      auto l = CudaLinear::random(4096, 4096, bits, 64, dt, 7 + c);
      if (!l.ok()) return fail("CudaLinear::random", l.status());
      layers.push_back(std::move(l).value());
    }
    auto t = cu::time_graph_ms(
        [&](Stream s) -> Status {
          for (const CudaLinear& l : layers) MLXM_RETURN_IF_ERROR(l.forward(x, 1, y, s));
          return mlxm::ok_status();
        },
        3, 15);
    if (!t.ok()) return fail("time_graph_ms", t.status());
    const double us = median(t.value()) * 1e3 / 24.0;
    const double gbs = static_cast<double>(layers[0].bytes()) / (us * 1e-6) / 1e9;
    std::printf("  %-10s %8.2f us %7.0f GB/s %5.1f%%\n", name, us, gbs, 100.0 * gbs / copy_gbs);
    if (csv != nullptr) {
      std::fprintf(csv, "generic,,4096x4096,%s,1,%.3f,%.1f,%.2f\n", name, us, gbs,
                   100.0 * gbs / copy_gbs);
    }
  }

  // Whole-model decode step (GEMVs only, n = 1, q4 g64 bf16): projected tokens/s.
  std::printf("\nprojected single-stream decode, GEMVs only (q4g64, n = 1, one graph per step;"
              " f32 GEMV, then int8):\n");
  std::printf("%-13s %9s %9s %9s %7s %11s %9s %9s\n", "model", "MB/step", "ms/step", "tok/s",
              "GB/s", "limit tok/s", "ms i8", "tok/s i8");
  for (const ModelShape& m : kModels) {
    std::vector<CudaLinear> layers;
    size_t bytes = 0;
    auto add = [&](int64_t o, int64_t i) -> Status {
      MLXM_ASSIGN_OR_RETURN(CudaLinear l, CudaLinear::random(o, i, 4, 64, DType::kBF16,
                                                             100 + layers.size()));
      bytes += l.bytes();
      layers.push_back(std::move(l));
      return mlxm::ok_status();
    };
    for (int li = 0; li < m.layers; ++li) {
      for (auto [o, i] : {std::pair{m.q_out, m.hidden}, std::pair{m.kv_out, m.hidden},
                          std::pair{m.kv_out, m.hidden}, std::pair{m.hidden, m.q_out},
                          std::pair{m.inter, m.hidden}, std::pair{m.inter, m.hidden},
                          std::pair{m.hidden, m.inter}}) {
        Status st = add(o, i);
        if (!st.ok()) return fail("model layer", st);
      }
    }
    Status st = add(m.vocab, m.hidden);
    if (!st.ok()) return fail("lm_head", st);
    auto t = time_us(layers, 1, f32_gemv);
    if (!t.ok()) return fail("time_graph_ms", t.status());
    auto t8 = time_us(layers, 1, i8_gemv);
    if (!t8.ok()) return fail("time_graph_ms (i8)", t8.status());
    const double ms = t.value() * static_cast<double>(layers.size()) * 1e-3;
    const double ms8 = t8.value() * static_cast<double>(layers.size()) * 1e-3;
    const double gbs = static_cast<double>(bytes) / (ms * 1e-3) / 1e9;
    const double limit = copy_gbs * 1e9 / static_cast<double>(bytes);
    std::printf("%-13s %9.1f %9.3f %9.0f %7.0f %11.0f %9.3f %9.0f\n", m.name, bytes / 1e6, ms,
                1e3 / ms, gbs, limit, ms8, 1e3 / ms8);
    if (csv != nullptr) {
      std::fprintf(csv, "decode_step,%s,,q4g64,1,%.3f,%.1f,%.2f\n", m.name, ms * 1e3, gbs,
                   100.0 * gbs / copy_gbs);
      const double gbs8 = static_cast<double>(bytes) / (ms8 * 1e-3) / 1e9;
      std::fprintf(csv, "decode_step_i8,%s,,q4g64,1,%.3f,%.1f,%.2f\n", m.name, ms8 * 1e3, gbs8,
                   100.0 * gbs8 / copy_gbs);
    }
    std::fflush(stdout);
  }
  if (csv != nullptr) std::fclose(csv);
  return 0;
}
