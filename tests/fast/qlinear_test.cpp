// Quantized linear layers against references written out plainly here: exact int32
// group sums for a8 schemes (ragged groups included), derived float bounds otherwise.
#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/ops.h"
#include "kernels/scalar/qlinear_scalar.h"
#include "quant/quantized_matrix.h"

namespace nibble {
namespace {

DenseMatrix random_matrix(std::mt19937& rng, int rows, int cols) {
  std::normal_distribution<float> normal(0.0f, 0.05f);
  DenseMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.data.resize(static_cast<size_t>(rows) * cols);
  for (float& v : m.data) v = normal(rng);
  return m;
}

std::vector<float> random_vector(std::mt19937& rng, int n, float sigma) {
  std::normal_distribution<float> normal(0.0f, sigma);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = normal(rng);
  return v;
}

Linear quantized_linear(const DenseMatrix& w, WeightCodec codec, int group, ActivationMode act) {
  auto q = quantize_matrix(w, QuantFormat{codec, group, ScaleType::kF16}, act, "test");
  EXPECT_TRUE(q.ok());
  Linear linear;
  linear.quantized = std::make_shared<QuantizedMatrix>(std::move(*q));
  return linear;
}

TEST(ActivationQuant, GoldenValues) {
  // lo = -1, hi = 1.55: s = 2.55 / 255 = 0.01, z = 100; u = [0, 100, 255, 150].
  const float x[4] = {-1.0f, 0.0f, 1.55f, 0.5f};
  uint8_t u[4];
  float s;
  int32_t z;
  scalar::quantize_activation_row(x, 4, u, &s, &z);
  EXPECT_FLOAT_EQ(s, 0.01f);
  EXPECT_EQ(z, 100);
  EXPECT_EQ(u[0], 0);
  EXPECT_EQ(u[1], 100);
  EXPECT_EQ(u[2], 255);
  EXPECT_EQ(u[3], 150);
  const float zeros[3] = {0, 0, 0};
  scalar::quantize_activation_row(zeros, 3, u, &s, &z);
  EXPECT_EQ(s, 0.0f);
  EXPECT_EQ(z, 0);
}

// a8 reference: per group, sum over the group's *real* elements of (u - z) * code in
// int64, then the documented float combination. Padding never enters this reference, so
// equality proves padded positions add exactly 0, the zero-point term included.
float a8_reference(const QuantizedMatrix& q, int r, const float* x) {
  std::vector<uint8_t> u(static_cast<size_t>(q.cols));
  float s_a;
  int32_t z_a;
  scalar::quantize_activation_row(x, q.cols, u.data(), &s_a, &z_a);
  float acc = 0.0f;
  for (int g = 0; g < q.n_groups; ++g) {
    int64_t sum = 0;
    for (int i = g * q.group; i < std::min(q.cols, (g + 1) * q.group); ++i)
      sum += (static_cast<int64_t>(u[static_cast<size_t>(i)]) - z_a) * q.code(r, i);
    EXPECT_LE(std::llabs(sum), INT32_MAX);
    acc += q.scale(r, g) * static_cast<float>(static_cast<int32_t>(sum));
  }
  return s_a * acc;
}

TEST(QuantizedLinear, A8MatchesRaggedGroupReferenceBitForBit) {
  const uint32_t seed = 77;
  std::mt19937 rng(seed);
  ThreadPool pool(2);
  for (WeightCodec codec : {WeightCodec::kInt4Sym, WeightCodec::kInt8Sym}) {
    for (int group : {16, 32, 64, 128, 256, 0}) {
      // Every remainder of in_features modulo G (group 0 = per channel: one group per row).
      const int span = group == 0 ? 300 : group;
      for (int rem = 0; rem < span; ++rem) {
        const int cols = group == 0 ? rem + 1 : 2 * group + rem, rows = 3, tokens = 2;
        auto w = random_matrix(rng, rows, cols);
        Linear layer = quantized_linear(w, codec, group, ActivationMode::kInt8Token);
        auto x = random_vector(rng, tokens * cols, 1.0f);
        std::vector<float> y(static_cast<size_t>(tokens * rows));
        linear_forward(layer, x.data(), cols, tokens, y.data(), rows, pool);
        for (int t = 0; t < tokens; ++t)
          for (int r = 0; r < rows; ++r)
            ASSERT_EQ(y[static_cast<size_t>(t * rows + r)], a8_reference(*layer.quantized, r, x.data() + t * cols))
                << codec_name(codec) << " G=" << group << " cols=" << cols << " row " << r << " seed " << seed;
      }
    }
  }
}

TEST(QuantizedLinear, SaturatedCodesAndActivationsStayExact) {
  // Every weight at an extreme code and activations at 0 / 255: the largest int32 terms.
  DenseMatrix w;
  w.rows = 2;
  w.cols = 300;
  w.data.resize(600);
  for (int i = 0; i < 600; ++i) w.data[static_cast<size_t>(i)] = (i % 2 == 0) ? -1.0f : 0.999f;
  ThreadPool pool(1);
  for (WeightCodec codec : {WeightCodec::kInt4Sym, WeightCodec::kInt8Sym}) {
    Linear layer = quantized_linear(w, codec, 256, ActivationMode::kInt8Token);
    std::vector<float> x(300);
    for (int i = 0; i < 300; ++i) x[static_cast<size_t>(i)] = (i % 3 == 0) ? -5.0f : 5.0f;
    std::vector<float> y(2);
    linear_forward(layer, x.data(), 300, 1, y.data(), 2, pool);
    for (int r = 0; r < 2; ++r) EXPECT_EQ(y[static_cast<size_t>(r)], a8_reference(*layer.quantized, r, x.data()));
  }
}

// y must equal dequant(W) x + b. Weight-only: only float rounding separates them, at most
// 2 * gamma(K) * sum |w_i x_i| (two summation orders) plus rounding of the bias add.
// a8: the activation step adds at most s_a / 2 per element, times sum |w_i|.
TEST(QuantizedLinear, EqualsDequantizedMatmulPlusBias) {
  const uint32_t seed = 99;
  std::mt19937 rng(seed);
  ThreadPool pool(1);
  const double u = std::ldexp(1.0, -24);
  struct Case {
    WeightCodec codec;
    ActivationMode act;
  };
  for (Case c : {Case{WeightCodec::kInt4Sym, ActivationMode::kFloat}, Case{WeightCodec::kInt8Sym, ActivationMode::kFloat},
                 Case{WeightCodec::kInt4Asym, ActivationMode::kFloat}, Case{WeightCodec::kInt4Sym, ActivationMode::kInt8Token},
                 Case{WeightCodec::kInt8Sym, ActivationMode::kInt8Token}}) {
    for (int cols : {288, 100, 864}) {
      const int rows = 5;
      auto w = random_matrix(rng, rows, cols);
      Linear layer = quantized_linear(w, c.codec, 64, c.act);
      layer.bias = random_vector(rng, rows, 0.5f);
      auto x = random_vector(rng, cols, 1.0f);
      std::vector<float> y(rows);
      linear_forward(layer, x.data(), cols, 1, y.data(), rows, pool);
      float lo = 0, hi = 0;
      for (float v : x) { lo = std::min(lo, v); hi = std::max(hi, v); }
      const double s_a = (hi - lo) / 255.0;
      std::vector<float> row(static_cast<size_t>(cols));
      for (int r = 0; r < rows; ++r) {
        layer.quantized->dequantize_row(r, row.data());
        double exact = layer.bias[static_cast<size_t>(r)], abs_terms = 0, abs_w = 0;
        for (int i = 0; i < cols; ++i) {
          exact += static_cast<double>(row[static_cast<size_t>(i)]) * x[static_cast<size_t>(i)];
          abs_terms += std::fabs(static_cast<double>(row[static_cast<size_t>(i)]) * x[static_cast<size_t>(i)]);
          abs_w += std::fabs(row[static_cast<size_t>(i)]);
        }
        const double gamma = cols * u / (1 - cols * u);
        double bound = 2 * gamma * abs_terms + u * std::fabs(exact);
        if (c.act == ActivationMode::kInt8Token) bound += 0.5 * s_a * abs_w + 2 * gamma * (abs_terms + abs_w * s_a);
        EXPECT_LE(std::fabs(y[static_cast<size_t>(r)] - exact), bound)
            << codec_name(c.codec) << (c.act == ActivationMode::kInt8Token ? " a8" : " w") << " cols " << cols
            << " row " << r << " seed " << seed;
      }
      // The bias is added after the matmul: removing it shifts each output by exactly b.
      std::vector<float> bias = layer.bias;
      layer.bias.clear();
      std::vector<float> y0(rows);
      linear_forward(layer, x.data(), cols, 1, y0.data(), rows, pool);
      for (int r = 0; r < rows; ++r) EXPECT_EQ(y[static_cast<size_t>(r)], y0[static_cast<size_t>(r)] + bias[static_cast<size_t>(r)]);
    }
  }
}

TEST(QuantizedLinear, ThreadCountDoesNotChangeBits) {
  std::mt19937 rng(5);
  auto w = random_matrix(rng, 70, 288);
  auto x = random_vector(rng, 3 * 288, 1.0f);
  for (ActivationMode act : {ActivationMode::kFloat, ActivationMode::kInt8Token}) {
    Linear layer = quantized_linear(w, WeightCodec::kInt4Sym, 256, act);
    std::vector<float> y1(3 * 70), y2(3 * 70);
    ThreadPool one(1), two(2);
    linear_forward(layer, x.data(), 288, 3, y1.data(), 70, one);
    linear_forward(layer, x.data(), 288, 3, y2.data(), 70, two);
    EXPECT_EQ(y1, y2);
  }
}

// Layers sharing an input (q/k/v, gate/up) run as one split of their rows laid end to end.
// Row counts that are not multiples of the 16-row grain (37, 5) put layer boundaries inside
// a thread's range, and 3 threads split 64 rows unevenly; every output must still be the
// bits of a separate linear_forward, bias included. Mixed groups (a layer in float mode, or
// one not quantized) take the per-layer fallback and must give the same bits too.
TEST(QuantizedLinear, SharedInputEqualsSeparateCalls) {
  std::mt19937 rng(6);
  constexpr int kCols = 288, kTokens = 19;  // 19 tokens: AMX tiles and a remainder
  auto x = random_vector(rng, kTokens * kCols, 1.0f);
  for (ActivationMode act : {ActivationMode::kFloat, ActivationMode::kInt8Token}) {
    for (bool mixed : {false, true}) {
      std::vector<Linear> layers;
      for (int rows : {37, 5, 64}) {
        layers.push_back(quantized_linear(random_matrix(rng, rows, kCols), WeightCodec::kInt4Sym, 32, act));
        layers.back().bias = random_vector(rng, rows, 0.5f);
      }
      if (mixed) layers[1] = quantized_linear(random_matrix(rng, 5, kCols), WeightCodec::kInt8Sym, 32,
                                              act == ActivationMode::kFloat ? ActivationMode::kInt8Token
                                                                            : ActivationMode::kFloat);
      for (int threads : {1, 2, 3}) {
        ThreadPool pool(threads);
        std::vector<std::vector<float>> separate, shared;
        std::vector<LinearOutput> outputs;
        for (const Linear& layer : layers) {
          const size_t rows = static_cast<size_t>(layer.out_features());
          separate.emplace_back(kTokens * rows);
          shared.emplace_back(kTokens * rows, -1.0f);
          linear_forward(layer, x.data(), kCols, kTokens, separate.back().data(), rows, pool);
        }
        for (size_t i = 0; i < layers.size(); ++i)
          outputs.push_back({&layers[i], shared[i].data(), static_cast<size_t>(layers[i].out_features())});
        linear_forward_shared_input(outputs, x.data(), kCols, kTokens, pool);
        for (size_t i = 0; i < layers.size(); ++i)
          EXPECT_EQ(separate[i], shared[i]) << "layer " << i << " threads " << threads << " mixed " << mixed
                                            << " a8 " << (act == ActivationMode::kInt8Token);
      }
    }
  }
}

}  // namespace
}  // namespace nibble
