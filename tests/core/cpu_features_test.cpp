#include "core/cpu_features.h"

#include <gtest/gtest.h>

namespace mlxm {
namespace {

TEST(CpuFeaturesTest, ConsistentImplications) {
  const CpuFeatures& f = cpu_features();
  EXPECT_GE(f.n_logical_cores, 1);
  EXPECT_GE(f.n_physical_cores, 1);
  EXPECT_LE(f.n_physical_cores, f.n_logical_cores);
  if (f.avx512vnni) {
    EXPECT_TRUE(f.avx512f);
  }
  if (f.avx512f) {
    EXPECT_TRUE(f.avx2);
  }
  EXPECT_FALSE(cpu_features_string(f).empty());
}

}  // namespace
}  // namespace mlxm
