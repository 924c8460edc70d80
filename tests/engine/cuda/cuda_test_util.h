// Helpers of the CUDA kernel tests: skipping without a device, host<->device vectors, error
// metrics. Works with GoogleTest and with tools/gpu/minigtest (the standalone GPU check).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "engine/kernels/cuda/cuda_ops.h"
#include "engine/kernels/cuda/cuda_runtime_api.h"
#include "engine/kernels/kernel_test_util.h"
#include "engine/tensor/dtype.h"

// Skips the current test when no CUDA device is usable (CI machines without a GPU).
#define MLXM_SKIP_WITHOUT_CUDA()                                                      \
  do {                                                                                \
    if (::mlxm::engine::cuda::device_count() == 0)                                    \
      GTEST_SKIP() << "no CUDA device (" << ::mlxm::engine::cuda::no_device_reason()  \
                   << ")";                                                            \
  } while (0)

namespace mlxm::engine::testing {

using cuda::DeviceBuffer;

// Whether device 0 is sm_90 or newer (the bulk GEMV's copies need it).
inline bool device_is_sm90() {
  const auto info = cuda::device_info();
  return info.ok() && info->cc_major >= 9;
}

// The f32 unit roundoff, 2^-24, of the tests' error bounds.
inline constexpr double kU = 1.0 / (1 << 24);

// A weight format of the linear-layer tests: bits (0: dense), group size, scales/weights dtype.
struct Format {
  int bits;
  int group;
  DType dtype;
};

// "bits B group G dtype (n_out x n_in) n N", for failure messages.
inline std::string describe(const Format& f, int64_t n_out, int64_t n_in, int64_t n) {
  return "bits " + std::to_string(f.bits) + " group " + std::to_string(f.group) + " " +
         dtype_name(f.dtype) + " (" + std::to_string(n_out) + " x " + std::to_string(n_in) +
         ") n " + std::to_string(n);
}

template <typename T>
DeviceBuffer to_device(const std::vector<T>& v) {
  auto r = DeviceBuffer::from_host(v.data(), v.size() * sizeof(T));
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? std::move(r).value() : DeviceBuffer();
}

// A device buffer of n elements with every byte 0xFF: unwritten f32 outputs read back as NaN.
template <typename T>
DeviceBuffer poisoned(size_t n) {
  auto r = DeviceBuffer::alloc(n * sizeof(T));
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  if (!r.ok()) return DeviceBuffer();
  DeviceBuffer b = std::move(r).value();
  const Status st = b.fill_bytes(0xFF);
  EXPECT_TRUE(st.ok()) << st.to_string();
  return b;
}

// Device operands for add_rms_norm requests of up to `rows` rows of `dim` values (x, y and the
// weight random, xn poisoned): the producer tests' bad-request cases.
struct AddNormOperands {
  DeviceBuffer x, y, w, xn;
  AddNormOperands(int64_t rows, int64_t dim)
      : x(to_device(random_vector(size_t(rows * dim), 1))),
        y(to_device(random_vector(size_t(rows * dim), 2))),
        w(to_device(random_vector(size_t(dim), 3))),
        xn(poisoned<float>(size_t(rows * dim))) {}
  // add_rms_norm over n rows of d values, also writing target q.
  Status run(int64_t n, int64_t d, const cuda::XTarget& q) const {
    return cuda::add_rms_norm(x.as<float>(), y.as<float>(), w.as<float>(), 1e-5f, n, d,
                              xn.as<float>(), nullptr, q);
  }
};

template <typename T>
std::vector<T> to_host(const DeviceBuffer& b, size_t n) {
  std::vector<T> v(n);
  const Status st = cuda::synchronize();
  EXPECT_TRUE(st.ok()) << st.to_string();
  const Status st2 = b.download(v.data(), n * sizeof(T));
  EXPECT_TRUE(st2.ok()) << st2.to_string();
  return v;
}

// ‖a − b‖ / ‖b‖ in double; NaN anywhere gives NaN (fails every <= check).
inline double rel_l2(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const double d = double(a[i]) - double(b[i]);
    num += d * d;
    den += double(b[i]) * b[i];
  }
  if (a.size() != b.size()) return NAN;
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

}  // namespace mlxm::engine::testing
