// Golden bytes, decoded by hand, pin every packed layout (docs/QUANT_LAYOUTS.md); then
// exhaustive code coverage and round-trip error bounds for each rounding rule.
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "core/half.h"
#include "quant/group_quantizers.h"
#include "quant/quantized_matrix.h"

namespace nibble {
namespace {

DenseMatrix matrix(int rows, int cols, std::vector<float> data) {
  DenseMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.data = std::move(data);
  return m;
}

QuantizedMatrix quantize(const DenseMatrix& w, WeightCodec codec, int group, ScaleType scale = ScaleType::kF16) {
  auto q = quantize_matrix(w, QuantFormat{codec, group, scale}, ActivationMode::kFloat, "test");
  EXPECT_TRUE(q.ok()) << (q.ok() ? "" : q.error().message);
  return q.ok() ? std::move(*q) : QuantizedMatrix{};
}

uint16_t stored_f16(const QuantizedMatrix& q, int r, int g) {
  uint16_t bits;
  std::memcpy(&bits, q.scales.data() + (static_cast<size_t>(r) * q.n_groups + g) * 2, 2);
  return bits;
}

TEST(QuantGolden, Int4SymIsLlamaCppQ4_0) {
  // x[i] = (i - 8) * 0.5 for i < 16, then zeros. The largest magnitude is x[0] = -4, so
  // d = -4 / -8 = 0.5 and x / d + 8.5 truncates to i: element i has u = i (code i - 8).
  // Elements 16..31 are 0, u = 8. Byte j holds element j (low) and j + 16 (high): 0x8j.
  std::vector<float> x(32, 0.0f);
  for (int i = 0; i < 16; ++i) x[i] = (i - 8) * 0.5f;
  auto q = quantize(matrix(1, 32, x), WeightCodec::kInt4Sym, 32);
  ASSERT_EQ(q.codes.size(), 16u);
  for (int j = 0; j < 16; ++j) EXPECT_EQ(q.codes[j], 0x80 | j) << j;
  EXPECT_EQ(stored_f16(q, 0, 0), 0x3800);  // 0.5
  EXPECT_EQ(q.code(0, 0), -8);             // the group's extreme is the end of the range
  EXPECT_EQ(q.code(0, 3), -5);             // negative input, negative code
  EXPECT_EQ(q.code(0, 15), 7);
  EXPECT_EQ(q.code(0, 20), 0);
}

TEST(QuantGolden, Int4SymPositiveExtremeGivesNegativeScale) {
  // The signed maximum is +4: d = 4 / -8 = -0.5 and 4 maps to code -8 (u = 0); -0.5 maps
  // to +1 (u = 9); 3.5 maps to -7 (u = 1). f16(-0.5) = 0xb800.
  std::vector<float> x(32, 0.0f);
  x[0] = 4.0f;
  x[1] = -0.5f;
  x[16] = 3.5f;
  auto q = quantize(matrix(1, 32, x), WeightCodec::kInt4Sym, 32);
  EXPECT_EQ(stored_f16(q, 0, 0), 0xb800);
  EXPECT_EQ(q.codes[0], 0x10);  // element 0 low nibble u=0, element 16 high nibble u=1
  EXPECT_EQ(q.codes[1], 0x89);  // element 1 u=9, element 17 u=8
  EXPECT_EQ(q.code(0, 0), -8);
}

TEST(QuantGolden, Int8SymIsLlamaCppQ8_0) {
  // amax 1.27: d = 0.01; -0.635 / 0.01 = -63.5 rounds half away from zero to -64.
  std::vector<float> x(32, 0.0f);
  x[0] = 1.27f;
  x[1] = -0.635f;
  x[2] = -1.27f;
  auto q = quantize(matrix(1, 32, x), WeightCodec::kInt8Sym, 32);
  EXPECT_EQ(q.codes[0], 0x7f);
  EXPECT_EQ(q.codes[1], 0xc0);  // -64 in two's complement
  EXPECT_EQ(q.codes[2], 0x81);  // -127
  EXPECT_EQ(q.codes[3], 0x00);
  EXPECT_EQ(stored_f16(q, 0, 0), f32_to_f16(0.01f));
}

TEST(QuantGolden, Int4AsymShortBlockNibbleOrder) {
  // One row of 4: lo = -1, hi = 2, d = 0.2, z = round(1 / 0.2) = 5.
  // q = [0, 5, 15, round(2.5) + 5 = 8]. A block of m = 4 has h = 2: byte 0 holds elements
  // 0 (low) and 2 (high), byte 1 elements 1 and 3.
  auto q = quantize(matrix(1, 4, {-1.0f, 0.0f, 2.0f, 0.5f}), WeightCodec::kInt4Asym, 4);
  ASSERT_EQ(q.codes.size(), 2u);
  EXPECT_EQ(q.codes[0], 0xf0);
  EXPECT_EQ(q.codes[1], 0x85);
  EXPECT_EQ(q.zero_points[0], 5);
  EXPECT_EQ(q.code(0, 0), -5);
}

TEST(QuantGolden, OddRaggedRowPadsWithAZeroWeight) {
  // 5 elements, group 32 (ragged): h = 3; byte 2's high nibble is padding, u = 8 (code 0).
  // Largest magnitude -2: d = 0.25; codes -8, -4, 0, 4, 7 -> u = 0, 4, 8, 12, 15.
  auto q = quantize(matrix(1, 5, {-2.0f, -1.0f, 0.0f, 1.0f, 1.75f}), WeightCodec::kInt4Sym, 32);
  ASSERT_EQ(q.codes.size(), 3u);
  EXPECT_EQ(q.codes[0], 0xc0);  // e0 u=0 | e3 u=12
  EXPECT_EQ(q.codes[1], 0xf4);  // e1 u=4 | e4 u=15
  EXPECT_EQ(q.codes[2], 0x88);  // e2 u=8 | padding u=8
  EXPECT_TRUE(q.ragged());
}

TEST(QuantGolden, AllZeroGroupHasZeroScaleAndZeroCodes) {
  for (WeightCodec codec : {WeightCodec::kInt8Sym, WeightCodec::kInt4Sym, WeightCodec::kInt4Asym}) {
    auto q = quantize(matrix(1, 40, std::vector<float>(40, 0.0f)), codec, 32);
    for (int i = 0; i < 40; ++i) EXPECT_EQ(q.code(0, i), 0) << codec_name(codec);
    EXPECT_EQ(q.scale(0, 0), 0.0f);
    std::vector<float> out(40, 1.0f);
    q.dequantize_row(0, out.data());
    for (float v : out) EXPECT_EQ(v, 0.0f);
  }
}

TEST(QuantExhaustive, EveryCodeRoundTripsExactly) {
  // Values placed exactly on the grid of an f16-exact scale come back as the same codes.
  struct Case {
    WeightCodec codec;
    int lo, hi;
  };
  for (const Case& c : {Case{WeightCodec::kInt8Sym, -127, 127}, Case{WeightCodec::kInt4Sym, -8, 7}}) {
    const float d = c.codec == WeightCodec::kInt4Sym ? 0.25f : 0.125f;
    std::vector<float> x;
    for (int code = c.lo; code <= c.hi; ++code) x.push_back(code * d);
    const int n = static_cast<int>(x.size());
    auto q = quantize(matrix(1, n, x), c.codec, n);
    for (int i = 0; i < n; ++i) ASSERT_EQ(q.code(0, i), c.lo + i) << codec_name(c.codec);
    std::vector<float> back(static_cast<size_t>(n));
    q.dequantize_row(0, back.data());
    EXPECT_EQ(back, x);
  }
  // Asymmetric: q in [0, 15] with z = 5 and d = 0.25 (lo = -1.25, hi = 2.5).
  std::vector<float> x;
  for (int code = 0; code <= 15; ++code) x.push_back((code - 5) * 0.25f);
  auto q = quantize(matrix(1, 16, x), WeightCodec::kInt4Asym, 16);
  EXPECT_EQ(q.zero_points[0], 5);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(q.code(0, i), i - 5);
}

// |x - dequant| <= s/2 (unclamped) or s (clamping schemes: int4 sym clamps the side
// opposite its extreme at +7; int4 asym clamps after rounding z), plus the scale-rounding
// term |code| * |d - stored d| (codes use the unrounded d), plus float rounding of x / d.
TEST(QuantRoundTrip, ErrorWithinTheDerivedBound) {
  const uint32_t seed = 1234;
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (WeightCodec codec : {WeightCodec::kInt8Sym, WeightCodec::kInt4Sym, WeightCodec::kInt4Asym}) {
    for (ScaleType scale : {ScaleType::kF32, ScaleType::kF16, ScaleType::kBF16}) {
      for (int group : {16, 32, 128}) {
        const int cols = 3 * group + 5;  // ragged last group
        std::vector<float> data(static_cast<size_t>(4 * cols));
        for (float& v : data) v = normal(rng) * 0.02f;
        auto w = matrix(4, cols, data);
        auto q = quantize(w, codec, group, scale);
        for (int r = 0; r < 4; ++r) {
          std::vector<float> back(static_cast<size_t>(cols));
          q.dequantize_row(r, back.data());
          for (int g = 0; g < q.n_groups; ++g) {
            const int begin = g * group, n = std::min(group, cols - begin);
            const float* xs = w.row(r) + begin;
            // The unrounded scale, by the same rule as the quantizer.
            float amax = 0, signed_max = 0, lo = 0, hi = 0;
            for (int i = 0; i < n; ++i) {
              if (std::fabs(xs[i]) > amax) { amax = std::fabs(xs[i]); signed_max = xs[i]; }
              lo = std::min(lo, xs[i]);
              hi = std::max(hi, xs[i]);
            }
            const float d = codec == WeightCodec::kInt8Sym ? amax / 127 : codec == WeightCodec::kInt4Sym ? signed_max / -8 : (hi - lo) / 15;
            const double s = std::fabs(q.scale(r, g));
            const double step = codec == WeightCodec::kInt8Sym ? 0.5 * s : s;
            for (int i = 0; i < n; ++i) {
              const int c = q.code(r, begin + i);
              const double bound = step + std::abs(c) * std::fabs(d - q.scale(r, g)) + 1e-6 * std::fabs(d);
              ASSERT_LE(std::fabs(xs[i] - back[static_cast<size_t>(begin + i)]), bound)
                  << codec_name(codec) << " " << scale_type_name(scale) << " G=" << group << " row " << r
                  << " i " << begin + i << " seed " << seed;
            }
          }
        }
      }
    }
  }
}

TEST(QuantFormat, RejectsBadGroupsAndNonFiniteWeights) {
  auto w = matrix(1, 4, {1.0f, NAN, 0.0f, 1.0f});
  auto nan = quantize_matrix(w, QuantFormat{WeightCodec::kInt8Sym, 32, ScaleType::kF16}, ActivationMode::kFloat, "blk.0.wq");
  ASSERT_FALSE(nan.ok());
  EXPECT_NE(nan.error().message.find("blk.0.wq"), std::string::npos);
  auto bad_group = quantize_matrix(matrix(1, 4, {1, 2, 3, 4}), QuantFormat{WeightCodec::kInt8Sym, -3, ScaleType::kF16},
                                   ActivationMode::kFloat, "t");
  ASSERT_FALSE(bad_group.ok());
  EXPECT_NE(bad_group.error().message.find("-3"), std::string::npos);
  auto asym_a8 = quantize_matrix(matrix(1, 4, {1, 2, 3, 4}), QuantFormat{WeightCodec::kInt4Asym, 4, ScaleType::kF16},
                                 ActivationMode::kInt8Token, "t");
  EXPECT_FALSE(asym_a8.ok());
}

}  // namespace
}  // namespace nibble
