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
