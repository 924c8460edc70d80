// Which calls the batched-decode GEMM takes, how it splits K and its warps per block
// (engine/kernels/cuda/gemm_decode_plan.h), without a GPU: the choices measured on the H200
// (bench/NOTES.md, runs 25-29, 185, 197-198) for the Llama 3.1 8B shapes on 132 SMs with the
// engine's 16 MB workspace, the plan's independence of n within a row class, and every call
// that does not qualify.
#include <gtest/gtest.h>

#include <string>

#include "engine/kernels/cuda/gemm_decode_plan.h"

namespace mlxm::engine::cuda::detail {
namespace {

constexpr size_t kEngineWorkspace = size_t{4} << 20;  // floats: the CUDA engine's 16 MB
constexpr int kH200Sms = 132;
constexpr GemmDecode kOff = GemmDecode::kOff, kAuto = GemmDecode::kAuto,
                     kAlways = GemmDecode::kAlways;

struct Layer {
  const char* name;
  int n_out, n_in;
};
constexpr Layer kQkv{"qkv", 6144, 4096}, kO{"o", 4096, 4096}, kGateUp{"gate+up", 28672, 4096},
    kDown{"down", 4096, 14336}, kLmHead{"lm_head", 128256, 4096};

DecodeGemmPlan plan(const Layer& l, int n, GemmDecode mode = kAuto, size_t ws = kEngineWorkspace,
                    int bits = 4, int group = 64) {
  return plan_gemm_decode(n, l.n_out, l.n_in, bits, group, ws, mode, kH200Sms);
}

TEST(GemmDecodePlanTest, EightBillionShapesAtSixtyFourRowsKeepOnlyOProjOnTheOldGemm) {
  // Measured at 64 rows (bench/NOTES.md run 185, µs, decode GEMM / 64x64 GEMM): o 25.9 / 22.4
  // (256 blocks, under two per SM); qkv 29.2 / 36.6 (384 blocks), down 49.9 / 68.0 (448),
  // gate+up 84.0 (448), lm_head 275.9 (1,002 tiles) on the decode GEMM.
  const DecodeGemmPlan o = plan(kO, 64);
  EXPECT_FALSE(o.use);
  EXPECT_NE(std::string(o.why).find("64x64"), std::string::npos) << o.why;
  for (const Layer& l : {kQkv, kDown}) EXPECT_TRUE(plan(l, 64).use) << l.name;
  EXPECT_EQ(plan(kQkv, 64).kz, 8);
  EXPECT_EQ(plan(kDown, 64).kz, 14);
  const DecodeGemmPlan gu = plan(kGateUp, 64);
  ASSERT_TRUE(gu.use);
  EXPECT_EQ(gu.row_class, 64);
  EXPECT_EQ(gu.kz, 2);  // 224 tiles: 2 splits fill one wave of 4 blocks per SM
  EXPECT_EQ(gu.tiles_per_split, 32);
  const DecodeGemmPlan lm = plan(kLmHead, 64);
  ASSERT_TRUE(lm.use);
  EXPECT_EQ(lm.kz, 1);  // 1,002 tiles
}

TEST(GemmDecodePlanTest, EightBillionShapesAtSixteenRowsAllTakeTheDecodeGemm) {
  // Splits by the busiest SM (splits_16; bench/NOTES.md runs 205-206): qkv 48 tiles x 11 splits
  // of 6 K-tiles fill one wave; o 32 x 16 splits of 4.
  const DecodeGemmPlan qkv = plan(kQkv, 16);
  ASSERT_TRUE(qkv.use);
  EXPECT_EQ(qkv.kz, 11);
  EXPECT_EQ(qkv.tiles_per_split, 6);
  const DecodeGemmPlan o = plan(kO, 16);
  ASSERT_TRUE(o.use);
  EXPECT_EQ(o.kz, 16);
  EXPECT_EQ(o.tiles_per_split, 4);
  // down: 32 tiles x 16 splits; partial sums for 16 rows fit 16 MB (for 64 rows: 14 splits).
  const DecodeGemmPlan down = plan(kDown, 16);
  ASSERT_TRUE(down.use);
  EXPECT_EQ(down.kz, 16);
  EXPECT_EQ(down.tiles_per_split, 14);
  EXPECT_LE(gemm_decode_workspace_floats(kDown.n_out, kDown.n_in, down.kz, 16), kEngineWorkspace);
  EXPECT_GT(gemm_decode_workspace_floats(kDown.n_out, kDown.n_in, 16), kEngineWorkspace);
  // gate+up: 224 tiles x 4 splits of 16 (896 blocks: 6 or 7 per SM, where 2 splits left SMs
  // with 3 or 4 blocks of 32 K-tiles).
  const DecodeGemmPlan gu = plan(kGateUp, 16);
  ASSERT_TRUE(gu.use);
  EXPECT_EQ(gu.kz, 4);
  EXPECT_EQ(gu.tiles_per_split, 16);
  EXPECT_EQ(plan(kLmHead, 16).kz, 1);  // 1,002 tiles: 8 blocks per SM already
  EXPECT_EQ(plan(kGateUp, 32).kz, 2);
  EXPECT_TRUE(plan(kLmHead, 16).use);
  // At 32 rows o still has 256 blocks (>= 132 SMs) and takes the decode GEMM (18.4 vs 19.3 µs).
  EXPECT_TRUE(plan(kO, 32).use);
}

TEST(GemmDecodePlanTest, EightWarpsAtSixteenRowsAndForOneWaveAtThirtyTwo) {
  for (const Layer& l : {kQkv, kO, kGateUp, kDown, kLmHead}) {
    EXPECT_EQ(plan(l, 16, kAlways).warps, 8) << l.name;
    EXPECT_EQ(plan(l, 64, kAlways).warps, 4) << l.name;
  }
  // 32 rows, 8B (run 198): qkv 48 x 8 = 384 and o 32 x 8 = 256 blocks fit one wave of 3 per
  // SM (396) and gain with 8 warps; gate+up 224 x 2 = 448, down 32 x 16 = 512 and lm_head 1,002
  // do not, and lost.
  EXPECT_EQ(plan(kQkv, 32).warps, 8);
  EXPECT_EQ(plan(kO, 32).warps, 8);
  EXPECT_EQ(plan(kGateUp, 32).warps, 4);
  EXPECT_EQ(plan(kDown, 32).warps, 4);
  EXPECT_EQ(plan(kLmHead, 32).warps, 4);
  // 3B's down (24 tiles x 16 splits = 384 blocks) fits; its gate+up (128 x 4 = 512) does not.
  EXPECT_EQ(plan({"3B down", 3072, 8192}, 32).warps, 8);
  EXPECT_EQ(plan({"3B gate+up", 16384, 3072}, 32).warps, 4);
}

TEST(GemmDecodePlanTest, ThreeBillionSplitsAtSixteenRows) {
  // qkv 40 tiles and o 24 tiles x 12 splits of 4 K-tiles; gate+up 128 x 4 (512 blocks, one
  // wave); down 24 x 16 splits of 8.
  const struct {
    Layer layer;
    int kz, tiles_per_split;
  } want[] = {{{"3B qkv", 5120, 3072}, 12, 4},
              {{"3B o", 3072, 3072}, 12, 4},
              {{"3B gate+up", 16384, 3072}, 4, 12},
              {{"3B down", 3072, 8192}, 16, 8}};
  for (const auto& w : want) {
    const DecodeGemmPlan p = plan(w.layer, 16);
    ASSERT_TRUE(p.use) << w.layer.name;
    EXPECT_EQ(p.kz, w.kz) << w.layer.name;
    EXPECT_EQ(p.tiles_per_split, w.tiles_per_split) << w.layer.name;
  }
}

TEST(GemmDecodePlanTest, SplitDependsOnTheLayerAndRowClassNotOnTheRowCount) {
  for (const Layer& l : {kQkv, kO, kGateUp, kDown, kLmHead}) {
    for (int n = 1; n <= 64; ++n) {
      const DecodeGemmPlan ref = plan(l, n <= 16 ? 1 : n <= 32 ? 17 : 33, kAlways);
      ASSERT_TRUE(ref.use) << l.name;
      const DecodeGemmPlan p = plan(l, n, kAlways);
      ASSERT_TRUE(p.use) << l.name << " n " << n;
      EXPECT_EQ(p.kz, ref.kz) << l.name << " n " << n;
      EXPECT_EQ(p.tiles_per_split, ref.tiles_per_split) << l.name << " n " << n;
      EXPECT_EQ(p.warps, ref.warps) << l.name << " n " << n;
      EXPECT_EQ(p.x_floats, ref.x_floats) << l.name << " n " << n;
      EXPECT_EQ(p.row_class, n <= 16 ? 16 : n <= 32 ? 32 : 64) << l.name << " n " << n;
    }
  }
}

TEST(GemmDecodePlanTest, SplitsCoverEveryKTileAndFitTheWorkspace) {
  for (int n_in : {32, 96, 160, 640, 1120, 2048, 4096, 8192, 14336, 28672}) {
    for (int n_out : {9, 37, 300, 4096, 28672}) {
      for (size_t ws : {size_t{1} << 16, size_t{1} << 20, kEngineWorkspace}) {
        for (int n : {1, 9, 20, 33}) {
          const DecodeGemmPlan p = plan({"x", n_out, n_in}, n, kAlways, ws);
          if (!p.use) {
            EXPECT_GT(gemm_decode_workspace_floats(n_out, n_in, 1), ws);  // only for lack of room
            continue;
          }
          const int k_tiles = p.kpad / 64;
          EXPECT_EQ(p.kpad % 64, 0);
          EXPECT_GE(p.kpad, n_in);
          EXPECT_LT(p.kpad - n_in, 64);
          EXPECT_GE(p.kz, 1);
          EXPECT_LE(p.kz, 16);
          EXPECT_GE(p.kz * p.tiles_per_split, k_tiles) << n_out << " x " << n_in;
          EXPECT_LT((p.kz - 1) * p.tiles_per_split, k_tiles) << "no empty split";
          EXPECT_LE(gemm_decode_workspace_floats(n_out, n_in, p.kz, p.row_class), ws);
          EXPECT_EQ(p.x_floats % 64, 0u) << "partial sums start 256-byte aligned";
          // Only the instantiations gemm_decode.cu has: 8 warps at 16 rows, 4 or 8 at 32, 4 at 64.
          EXPECT_TRUE(p.row_class == 16 ? p.warps == 8
                      : p.row_class == 32 ? (p.warps == 4 || p.warps == 8)
                                          : p.warps == 4)
              << n_out << " x " << n_in << " n " << n;
        }
      }
    }
  }
}

TEST(GemmDecodePlanTest, CallsThatDoNotQualifyGoToTheOldGemm) {
  EXPECT_FALSE(plan(kGateUp, 16, kOff).use);
  EXPECT_FALSE(plan(kGateUp, 16, kAuto, kEngineWorkspace, /*bits=*/8).use);
  EXPECT_FALSE(plan(kGateUp, 16, kAlways, kEngineWorkspace, /*bits=*/3).use);
  EXPECT_FALSE(plan(kGateUp, 16, kAlways, kEngineWorkspace, 4, /*group=*/16).use);
  EXPECT_FALSE(plan(kGateUp, 0).use);
  EXPECT_FALSE(plan(kGateUp, 65).use);
  EXPECT_FALSE(plan(kGateUp, 16, kAlways, /*ws=*/0).use);
  EXPECT_FALSE(plan({"odd", 256, 100}, 16, kAlways).use);  // n_in % 32 != 0
  // x for 64 rows of 14336 values (1.8 MB) does not fit 1 MB.
  EXPECT_FALSE(plan(kDown, 16, kAlways, size_t{1} << 18).use);
  for (const DecodeGemmPlan& p : {plan(kGateUp, 16, kOff), plan(kGateUp, 65)}) {
    EXPECT_FALSE(std::string(p.why).empty());
  }
  // Always ignores the measured preference but keeps the rules of the kernel.
  const DecodeGemmPlan o = plan(kO, 64, kAlways);
  ASSERT_TRUE(o.use);
  EXPECT_EQ(o.kz, 8);
}

}  // namespace
}  // namespace mlxm::engine::cuda::detail
