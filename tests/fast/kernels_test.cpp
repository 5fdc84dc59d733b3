// Parity of every float kernel on every ISA this machine has against the scalar reference.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/kernel_table.h"
#include "kernels/scalar/f32_scalar.h"
#if defined(__x86_64__)
#include "kernels/avx2/f32_avx2.h"
#endif

namespace nibble {
namespace {

std::vector<Isa> available_isas() { return supported_isas(); }

// gamma(n) = n u / (1 - n u), u = 2^-24: the bound on any summation order of n terms.
double gamma_of(int n) {
  const double u = std::ldexp(1.0, -24);
  return n * u / (1.0 - n * u);
}

TEST(Kernels, ScalarDotAddsLeftToRight) {
  // 1e8 + 1 - 1e8 is 0 in float when added left to right (1 is lost), 1 otherwise.
  const float a[3] = {1e8f, 1.0f, -1e8f};
  const float b[3] = {1.0f, 1.0f, 1.0f};
  EXPECT_EQ(scalar::dot_f32(a, b, 3), 0.0f);
}

TEST(Kernels, DotMatchesScalarWithinRoundingBound) {
  // Any summation order of n products has |error| <= gamma(n) * sum|a_i b_i| against the
  // exact sum (Higham, Accuracy and Stability, 3.1), gamma(n) = n u / (1 - n u), u = 2^-24.
  // Two orders differ by at most twice that (an FMA only removes rounding steps).
  const uint32_t seed = 20261123;
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (Isa isa : available_isas()) {
    const KernelTable* table = *kernel_table_for(isa);
    for (int n = 0; n <= 200; ++n) {
      std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
      double abs_sum = 0.0;
      for (int i = 0; i < n; ++i) {
        a[i] = normal(rng);
        b[i] = normal(rng);
        abs_sum += std::fabs(static_cast<double>(a[i]) * b[i]);
      }
      const double gamma = gamma_of(n);
      const double got = table->dot_f32(a.data(), b.data(), n);
      const double want = scalar::dot_f32(a.data(), b.data(), n);
      ASSERT_LE(std::fabs(got - want), 2.0 * gamma * abs_sum)
          << isa_name(isa) << " n=" << n << " seed=" << seed;
    }
  }
}

// Attention over the KV cache against the scalar kernels, every ISA, head sizes with and
// without a multiple of 8 or 32 and position counts through every remainder of 8. Scores:
// a dot product of head_dim terms then a multiply by the scale (one more rounding), so two
// orders differ by at most 2 * gamma(head_dim + 1) * scale * sum|q_i k_i|; values: each
// element a sum of n_positions products, at most 2 * gamma(n_positions) * sum_s |w_s v_si|.
TEST(Kernels, AttentionMatchesScalarWithinRoundingBound) {
  const uint32_t seed = 20261129;
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  for (Isa isa : available_isas()) {
    const KernelTable* table = *kernel_table_for(isa);
    for (int head_dim : {4, 8, 12, 16, 40, 48, 64, 72, 128}) {
      const size_t stride = static_cast<size_t>(head_dim) * 3;  // kv_dim: other heads interleaved
      for (int n = 1; n <= 41; ++n) {
        SCOPED_TRACE(std::string(isa_name(isa)) + " head_dim " + std::to_string(head_dim) + " positions " +
                     std::to_string(n) + " seed " + std::to_string(seed));
        std::vector<float> q(static_cast<size_t>(head_dim)), cache(static_cast<size_t>(n) * stride), w(n);
        for (float& v : q) v = normal(rng);
        for (float& v : cache) v = normal(rng);
        for (float& v : w) v = unit(rng);
        const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
        std::vector<float> got(n), want(n);
        table->attention_scores(q.data(), cache.data(), stride, n, head_dim, scale, got.data());
        scalar::attention_scores(q.data(), cache.data(), stride, n, head_dim, scale, want.data());
        for (int s = 0; s < n; ++s) {
          double abs_sum = 0.0;
          for (int i = 0; i < head_dim; ++i) abs_sum += std::fabs(double{q[i]} * cache[s * stride + i]);
          ASSERT_LE(std::fabs(double{got[s]} - want[s]), 2.0 * gamma_of(head_dim + 1) * scale * abs_sum) << "score " << s;
        }
        std::vector<float> out(static_cast<size_t>(head_dim), -1.0f), ref(static_cast<size_t>(head_dim), -2.0f);
        table->attention_values(w.data(), cache.data(), stride, n, head_dim, out.data());
        scalar::attention_values(w.data(), cache.data(), stride, n, head_dim, ref.data());
        for (int i = 0; i < head_dim; ++i) {
          double abs_sum = 0.0;
          for (int s = 0; s < n; ++s) abs_sum += std::fabs(double{w[s]} * cache[s * stride + i]);
          ASSERT_LE(std::fabs(double{out[i]} - ref[i]), 2.0 * gamma_of(n) * abs_sum) << "element " << i;
        }
      }
    }
  }
}

#if defined(__x86_64__)
// The SIMD exp against the true exp (double) over the float range, one bit pattern in
// 4099 (every exponent, ~500k values), and its edges: relative error <= kExpRelError
// between ln(2^-126) and ln(FLT_MAX); 0 below, +inf above, NaN for NaN.
TEST(Kernels, SimdExpWithinItsStatedErrorOverTheFloatRange) {
  if (!cpu_supports(Isa::kAvx2)) GTEST_SKIP() << "no AVX2";
  std::vector<float> x;
  for (uint32_t bits = 0; bits < 0x80000000u; bits += 4099) {
    float v;
    std::memcpy(&v, &bits, 4);
    if (v <= 88.72283935546875f) x.push_back(v);
    if (v <= 87.3365478515625f) x.push_back(-v);
  }
  std::vector<float> got(x.size());
  avx2::exp_f32(x.data(), got.data(), static_cast<int>(x.size()));
  double worst = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double want = std::exp(static_cast<double>(x[i]));
    const double rel = std::fabs(got[i] - want) / want;
    worst = std::max(worst, rel);
    ASSERT_LE(rel, kExpRelError) << "x = " << x[i] << " got " << got[i] << " want " << want;
  }
  char worst_text[32];
  std::snprintf(worst_text, sizeof worst_text, "%.3g", worst);
  RecordProperty("worst_relative_error", worst_text);
  const float edges[] = {-87.5f, -100.0f, -std::numeric_limits<float>::infinity(), 88.8f, 1000.0f,
                         std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()};
  float out[7];
  avx2::exp_f32(edges, out, 7);
  EXPECT_EQ(out[0], 0.0f);
  EXPECT_EQ(out[1], 0.0f);
  EXPECT_EQ(out[2], 0.0f);
  EXPECT_EQ(out[3], std::numeric_limits<float>::infinity());
  EXPECT_EQ(out[4], std::numeric_limits<float>::infinity());
  EXPECT_EQ(out[5], std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(out[6]));
}
#endif

// softmax and silu_mul against scalar within kernel_table.h's bounds, every ISA, lengths
// through every remainder of 8, inputs wide enough to underflow some exps.
TEST(Kernels, SoftmaxAndSiluMatchScalarWithinTheirBounds) {
  const uint32_t seed = 4242;
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const double u = std::ldexp(1.0, -24), ulp = std::ldexp(1.0, -23), tiny = std::ldexp(1.0, -126);
  for (Isa isa : available_isas()) {
    const KernelTable* table = *kernel_table_for(isa);
    for (int n = 1; n <= 70; ++n) {
      for (float spread : {1.0f, 30.0f}) {
        SCOPED_TRACE(std::string(isa_name(isa)) + " n " + std::to_string(n) + " spread " + std::to_string(spread) +
                     " seed " + std::to_string(seed));
        std::vector<float> x(static_cast<size_t>(n));
        for (float& v : x) v = spread * normal(rng);
        std::vector<float> got = x, want = x;
        table->softmax(got.data(), n);
        scalar::softmax(want.data(), n);
        const double rel = 2.0 * (kExpRelError + ulp) + 2.0 * gamma_of(n) + 2.0 * u;
        for (int i = 0; i < n; ++i) ASSERT_LE(std::fabs(double{got[i]} - want[i]), rel * want[i] + tiny) << i;

        std::vector<float> up(static_cast<size_t>(n));
        for (float& v : up) v = normal(rng);
        std::vector<float> gate_got = x, gate_want = x;
        table->silu_mul(gate_got.data(), up.data(), n);
        scalar::silu_mul(gate_want.data(), up.data(), n);
        for (int i = 0; i < n; ++i)
          ASSERT_LE(std::fabs(double{gate_got[i]} - gate_want[i]),
                    (kExpRelError + ulp + 8.0 * u) * std::fabs(double{gate_want[i]}))
              << i;
      }
    }
  }
}

TEST(Kernels, DotIsDeterministicPerIsa) {
  std::vector<float> a(1000), b(1000);
  for (int i = 0; i < 1000; ++i) {
    a[i] = std::sin(i * 0.37f);
    b[i] = std::cos(i * 0.11f);
  }
  for (Isa isa : available_isas()) {
    const KernelTable* table = *kernel_table_for(isa);
    const float first = table->dot_f32(a.data(), b.data(), 1000);
    for (int repeat = 0; repeat < 10; ++repeat) ASSERT_EQ(table->dot_f32(a.data(), b.data(), 1000), first);
  }
}

TEST(Kernels, ParseIsa) {
  EXPECT_EQ(*parse_isa("scalar"), Isa::kScalar);
  EXPECT_EQ(*parse_isa("avx2"), Isa::kAvx2);
  EXPECT_EQ(*parse_isa("avx512"), Isa::kAvx512);
  EXPECT_EQ(*parse_isa("amx"), Isa::kAmx);
  auto bad = parse_isa("sse9");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("sse9"), std::string::npos);
}

}  // namespace
}  // namespace nibble
