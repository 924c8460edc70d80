// PackedLinear throughput at the Llama-3.2 1B/3B shapes: q4 / q8 (group 64, bf16 scales) and
// bf16 dense, n = 1 (decode GEMV: GB/s of weights streamed) and n = 128 (prefill: GOP/s).
// Usage: bench_linear [filter-substring] [--threads N] [--isa portable|avx2|avx512]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/kernels/cpu/isa.h"
#include "engine/kernels/cpu/linear.h"

using namespace mlxm::engine;
using Clock = std::chrono::steady_clock;

namespace {

struct Shape {
  const char* name;
  int64_t n_out, n_in;
};

struct Source {
  LinearSource src;
  std::vector<uint32_t> words;
  std::vector<uint16_t> scales, biases, dense;
};

Source make_source(int64_t n_out, int64_t n_in, int bits) {
  Source s;
  std::mt19937 rng(1);
  s.src.n_out = n_out;
  s.src.n_in = n_in;
  s.src.bits = bits;
  s.src.dtype = DType::kBF16;
  if (bits == 0) {
    s.dense.resize(static_cast<size_t>(n_out * n_in));
    for (auto& v : s.dense) v = f32_to_bf16(static_cast<float>(rng() % 1000) * 1e-4f - 0.05f);
    s.src.weight = s.dense.data();
    return s;
  }
  s.src.group_size = 64;
  s.words.resize(static_cast<size_t>(n_out * n_in * bits / 32));
  for (auto& w : s.words) w = static_cast<uint32_t>(rng());
  s.scales.resize(static_cast<size_t>(n_out * n_in / 64));
  s.biases.resize(s.scales.size());
  for (auto& v : s.scales) v = f32_to_bf16(0.01f);
  for (auto& v : s.biases) v = f32_to_bf16(-0.08f);
  s.src.weight = s.words.data();
  s.src.scales = s.scales.data();
  s.src.biases = s.biases.data();
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::string filter;
  int threads = 0;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--isa") && i + 1 < argc) {
      const std::string v = argv[++i];
      cpu::set_isa_override(v == "portable" ? cpu::Isa::kPortable
                            : v == "avx2"   ? cpu::Isa::kAvx2
                                            : cpu::Isa::kAvx512);
    } else {
      filter = argv[i];
    }
  }
  ThreadPool pool(threads);
  std::printf("isa %s, threads %d\n", cpu::isa_name(cpu::active_isa()), pool.n_threads());
  const Shape shapes[] = {
      {"1b.qo 2048x2048", 2048, 2048},      {"1b.gate_up 16384x2048", 16384, 2048},
      {"1b.down 2048x8192", 2048, 8192},    {"1b.lm_head 128256x2048", 128256, 2048},
      {"3b.qo 3072x3072", 3072, 3072},      {"3b.gate_up 16384x3072", 16384, 3072},
      {"3b.down 3072x8192", 3072, 8192},
  };
  std::printf("%-26s %-5s %5s %10s %10s %10s %10s %10s\n", "shape", "quant", "n", "ms(med)",
              "GB/s", "GOP/s", "best GB/s", "best GOP/s");
  for (const Shape& sh : shapes) {
    for (int bits : {4, 8, 0}) {
      const char* qn = bits == 4 ? "q4" : bits == 8 ? "q8" : "bf16";
      const std::string label = std::string(sh.name) + " " + qn;
      if (!filter.empty() && label.find(filter) == std::string::npos) continue;
      Source s = make_source(sh.n_out, sh.n_in, bits);
      auto packed = PackedLinear::pack(s.src);
      if (!packed.ok()) {
        std::printf("pack failed: %s\n", packed.status().message().c_str());
        return 1;
      }
      const PackedLinear& p = packed.value();
      for (int64_t n : {int64_t{1}, int64_t{128}}) {
        std::vector<float> x(static_cast<size_t>(n * sh.n_in)), y(static_cast<size_t>(n * sh.n_out));
        std::mt19937 rng(2);
        std::normal_distribution<float> nd;
        for (auto& v : x) v = nd(rng);
        p.forward(x.data(), n, y.data(), pool);  // warm-up
        const double budget = n == 1 ? 0.5 : 1.5;  // seconds per case
        std::vector<double> times;
        const auto start = Clock::now();
        while (times.size() < 3 ||
               (std::chrono::duration<double>(Clock::now() - start).count() < budget &&
                times.size() < 200)) {
          const auto t0 = Clock::now();
          p.forward(x.data(), n, y.data(), pool);
          times.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
        }
        std::sort(times.begin(), times.end());
        // Median, and the best run (closer to the uncontended speed on a shared machine).
        const double t = times[times.size() / 2];
        const double tb = times.front();
        const double gbs = static_cast<double>(p.bytes()) / t / 1e9;
        const double gops = 2.0 * static_cast<double>(n * sh.n_out * sh.n_in) / t / 1e9;
        std::printf("%-26s %-5s %5lld %10.3f %10.2f %10.1f %10.2f %10.1f\n", sh.name, qn,
                    static_cast<long long>(n), t * 1e3, gbs, gops, gbs * t / tb, gops * t / tb);
        std::fflush(stdout);
      }
    }
  }
  return 0;
}
