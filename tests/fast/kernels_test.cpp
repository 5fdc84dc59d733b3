// Parity of every float kernel on every ISA this machine has against the scalar reference.
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/kernel_table.h"
#include "kernels/scalar/f32_scalar.h"

namespace nibble {
namespace {

std::vector<Isa> available_isas() { return supported_isas(); }

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
      const double u = std::ldexp(1.0, -24);
      const double gamma = n * u / (1.0 - n * u);
      const double got = table->dot_f32(a.data(), b.data(), n);
      const double want = scalar::dot_f32(a.data(), b.data(), n);
      ASSERT_LE(std::fabs(got - want), 2.0 * gamma * abs_sum)
          << isa_name(isa) << " n=" << n << " seed=" << seed;
    }
  }
}

// gamma(n) = n u / (1 - n u), u = 2^-24: the bound on any summation order of n terms.
double gamma_of(int n) {
  const double u = std::ldexp(1.0, -24);
  return n * u / (1.0 - n * u);
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
  auto bad = parse_isa("sse9");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("sse9"), std::string::npos);
}

}  // namespace
}  // namespace nibble
