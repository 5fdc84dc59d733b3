// Non-finite activations (a damaged file can produce them) must reach the output as NaN,
// never through a float-to-int conversion of NaN/Inf (undefined behaviour; UBSan checks
// this test in the asan stage). Found by nibble_file_fuzz; its input is kept in
// fuzz/seeds/nibble_file_fuzz/regression-nan-activation.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "kernels/scalar/qlinear_scalar.h"
#include "quant/group_quantizers.h"

namespace nibble {
namespace {

TEST(NonFiniteActivations, QuantizeToNanScaleAndInRangeCodes) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  for (const std::vector<float>& x : {std::vector<float>{1.0f, nan, -2.0f}, std::vector<float>{inf, 0.5f, 0.0f},
                                      std::vector<float>{-inf, nan, inf}}) {
    std::vector<uint8_t> u(x.size(), 7);
    float scale = 0.0f;
    int32_t zero = -1;
    scalar::quantize_activation_row(x.data(), static_cast<int>(x.size()), u.data(), &scale, &zero);
    EXPECT_TRUE(std::isnan(scale));
    EXPECT_GE(zero, 0);
    EXPECT_LE(zero, 255);
  }
}

// A scale below FLT_MIN has no finite inverse; such groups are stored as zeros (the values
// are below 1.5e-36) instead of converting 0 * inf = NaN to an integer.
TEST(NonFiniteActivations, SubnormalScalesFlushToAnAllZeroGroup) {
  const std::vector<float> tiny = {1e-38f, 0.0f, -2e-39f, 1e-45f};
  std::vector<uint8_t> u(tiny.size(), 7);
  float scale = 1.0f;
  int32_t zero = -1;
  scalar::quantize_activation_row(tiny.data(), static_cast<int>(tiny.size()), u.data(), &scale, &zero);
  EXPECT_EQ(scale, 0.0f);
  EXPECT_EQ(zero, 0);
  EXPECT_EQ(u, std::vector<uint8_t>(tiny.size(), 0));
  std::vector<int8_t> codes(tiny.size(), 7);
  EXPECT_EQ(quantize_group_int8_sym(tiny.data(), 4, ScaleType::kF32, codes.data()), 0.0f);
  EXPECT_EQ(codes, std::vector<int8_t>(tiny.size(), 0));
  codes.assign(tiny.size(), 7);
  EXPECT_EQ(quantize_group_int4_sym(tiny.data(), 4, ScaleType::kF32, codes.data()), 0.0f);
  EXPECT_EQ(codes, std::vector<int8_t>(tiny.size(), 0));
  std::vector<uint8_t> asym(tiny.size(), 7);
  uint8_t zero_point = 9;
  EXPECT_EQ(quantize_group_int4_asym(tiny.data(), 4, ScaleType::kF32, asym.data(), &zero_point), 0.0f);
  EXPECT_EQ(zero_point, 0);
  EXPECT_EQ(asym, std::vector<uint8_t>(tiny.size(), 0));
  // The smallest normal range still quantizes.
  const std::vector<float> small = {127.0f * std::numeric_limits<float>::min(), 0.0f};
  EXPECT_GT(quantize_group_int8_sym(small.data(), 2, ScaleType::kF32, codes.data()), 0.0f);
  EXPECT_EQ(codes[0], 127);
}

TEST(NonFiniteActivations, LevelClampsHugeValuesLikeTheFormula) {
  AsymmetricRange r;
  r.inverse = 1.0f;
  r.zero = 3;
  r.levels = 15;
  EXPECT_EQ(r.level(1e30f), 15);
  EXPECT_EQ(r.level(-1e30f), 0);
  EXPECT_EQ(r.level(4.4f), 7);
  EXPECT_EQ(r.level(-2.6f), 0);
  EXPECT_EQ(r.level(std::numeric_limits<float>::quiet_NaN()), 0);
}

}  // namespace
}  // namespace nibble
