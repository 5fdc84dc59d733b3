// GPTQ against its promise: on the calibration inputs X it gives a smaller layer-output
// error ||W X^T - Q X^T|| than round-to-nearest, in every codec and with or without
// act_order, while writing the same stored format (codes in range, ragged last group).
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "quant/gptq.h"
#include "quant/quantized_matrix.h"

namespace nibble {
namespace {

struct Layer {
  DenseMatrix w;
  std::vector<float> x;  // tokens x cols
  int tokens = 0;
  std::vector<double> hessian;  // mean x x^T
};

// Inputs with correlated channels and a few loud ones, as transformer activations have:
// that correlation is what GPTQ exploits and RTN ignores.
Layer make_layer(int rows, int cols, int tokens, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::student_t_distribution<float> heavy(4.0f);
  Layer layer;
  layer.w.rows = rows;
  layer.w.cols = cols;
  layer.w.data = std::vector<float>(static_cast<size_t>(rows) * cols);
  for (auto& v : layer.w.data) v = heavy(rng) * 0.05f;
  std::vector<float> mix(static_cast<size_t>(cols) * cols);
  for (auto& v : mix) v = normal(rng) / std::sqrt(static_cast<float>(cols));
  std::vector<float> gain(static_cast<size_t>(cols), 1.0f);
  for (int i = 0; i < cols; i += 9) gain[static_cast<size_t>(i)] = 8.0f;
  layer.tokens = tokens;
  layer.x.assign(static_cast<size_t>(tokens) * cols, 0.0f);
  std::vector<float> z(static_cast<size_t>(cols));
  for (int t = 0; t < tokens; ++t) {
    for (auto& v : z) v = normal(rng);
    for (int i = 0; i < cols; ++i) {
      float sum = 0.0f;
      for (int k = 0; k < cols; ++k) sum += z[static_cast<size_t>(k)] * mix[static_cast<size_t>(k) * cols + i];
      layer.x[static_cast<size_t>(t) * cols + i] = (sum + 0.3f * z[static_cast<size_t>(i)]) * gain[static_cast<size_t>(i)];
    }
  }
  layer.hessian.assign(static_cast<size_t>(cols) * cols, 0.0);
  for (int t = 0; t < tokens; ++t) {
    const float* row = layer.x.data() + static_cast<size_t>(t) * cols;
    for (int i = 0; i < cols; ++i)
      for (int j = 0; j < cols; ++j) layer.hessian[static_cast<size_t>(i) * cols + j] += static_cast<double>(row[i]) * row[j];
  }
  for (double& v : layer.hessian) v /= tokens;
  return layer;
}

// ||W X^T - Q X^T||_F^2 over the layer's tokens, in double.
double output_error(const Layer& layer, const QuantizedMatrix& q) {
  const int cols = layer.w.cols;
  double sum = 0.0;
  std::vector<float> deq(static_cast<size_t>(cols));
  for (int r = 0; r < layer.w.rows; ++r) {
    q.dequantize_row(r, deq.data());
    for (int t = 0; t < layer.tokens; ++t) {
      const float* x = layer.x.data() + static_cast<size_t>(t) * cols;
      double d = 0.0;
      for (int i = 0; i < cols; ++i) d += (static_cast<double>(layer.w.row(r)[i]) - deq[static_cast<size_t>(i)]) * x[i];
      sum += d * d;
    }
  }
  return sum;
}

const WeightCodec kCodecs[] = {WeightCodec::kInt8Sym, WeightCodec::kInt4Sym, WeightCodec::kInt4Asym};

TEST(Gptq, LowersTheLayerOutputErrorVersusRoundToNearest) {
  // 72 inputs with group 32: two full groups and a ragged one of 8.
  const Layer layer = make_layer(24, 72, 400, 11);
  for (WeightCodec codec : kCodecs) {
    const QuantFormat format{codec, 32, ScaleType::kF16};
    auto rtn = quantize_matrix(layer.w, format, ActivationMode::kFloat, "t");
    ASSERT_TRUE(rtn.ok());
    const double rtn_error = output_error(layer, *rtn);
    for (bool act_order : {false, true}) {
      GptqOptions options;
      options.act_order = act_order;
      options.block = 16;  // several lazy-batch blocks, one ending inside a group
      auto gptq = gptq_quantize(layer.w, format, ActivationMode::kFloat, "t", layer.hessian, options);
      ASSERT_TRUE(gptq.ok()) << gptq.error().message;
      const double gptq_error = output_error(layer, *gptq);
      std::printf("%s act_order %d: ||WX - QX||^2 rtn %.6g gptq %.6g (%.1f%%)\n", codec_name(codec), act_order,
                  rtn_error, gptq_error, 100.0 * gptq_error / rtn_error);
      EXPECT_LT(gptq_error, rtn_error) << codec_name(codec) << " act_order " << act_order;
    }
  }
}

TEST(Gptq, WritesTheSameFormatAsRoundToNearest) {
  const Layer layer = make_layer(6, 40, 64, 5);
  for (WeightCodec codec : kCodecs) {
    for (ActivationMode activation : {ActivationMode::kFloat, ActivationMode::kInt8Token}) {
      if (codec == WeightCodec::kInt4Asym && activation == ActivationMode::kInt8Token) continue;
      const QuantFormat format{codec, 32, ScaleType::kBF16};
      auto a = gptq_quantize(layer.w, format, activation, "t", layer.hessian);
      auto b = gptq_quantize(layer.w, format, activation, "t", layer.hessian);
      auto rtn = quantize_matrix(layer.w, format, activation, "t");
      ASSERT_TRUE(a.ok() && b.ok() && rtn.ok());
      EXPECT_EQ(a->row_bytes, rtn->row_bytes);
      EXPECT_EQ(a->n_groups, rtn->n_groups);
      EXPECT_EQ(a->scales.size(), rtn->scales.size());
      // Deterministic: the same bits twice.
      EXPECT_TRUE(std::equal(a->codes.begin(), a->codes.end(), b->codes.begin()));
      EXPECT_TRUE(std::equal(a->scales.begin(), a->scales.end(), b->scales.begin()));
      const int lo = codec == WeightCodec::kInt8Sym ? -127 : codec == WeightCodec::kInt4Sym ? -8 : -15;
      const int hi = codec == WeightCodec::kInt8Sym ? 127 : codec == WeightCodec::kInt4Sym ? 7 : 15;
      std::vector<int32_t> sums(static_cast<size_t>(a->rows) * a->n_groups, 0);
      for (int r = 0; r < a->rows; ++r) {
        for (int i = 0; i < a->cols; ++i) {
          const int c = a->code(r, i);
          EXPECT_GE(c, lo);
          EXPECT_LE(c, hi);
          sums[static_cast<size_t>(r) * a->n_groups + i / a->group] += c;
        }
        for (int g = 0; g < a->n_groups; ++g) {
          EXPECT_TRUE(std::isfinite(a->scale(r, g)));
          if (codec == WeightCodec::kInt4Asym) {
            EXPECT_LE(a->zero_point(r, g), 15);
          }
        }
      }
      if (activation == ActivationMode::kInt8Token) {
        EXPECT_EQ(a->code_sums, sums) << codec_name(codec);
      }
    }
  }
}

TEST(Gptq, RefusesBadInputsWithTheRuleBroken) {
  Layer layer = make_layer(4, 16, 32, 2);
  const QuantFormat format{WeightCodec::kInt4Sym, 8, ScaleType::kF16};
  std::vector<double> short_h(layer.hessian.begin(), layer.hessian.end() - 1);
  auto wrong_size = gptq_quantize(layer.w, format, ActivationMode::kFloat, "blk.0.wq", short_h);
  ASSERT_FALSE(wrong_size.ok());
  EXPECT_NE(wrong_size.error().message.find("255 entries"), std::string::npos) << wrong_size.error().message;

  std::vector<double> nan_h = layer.hessian;
  nan_h[17] = std::nan("");
  auto nan = gptq_quantize(layer.w, format, ActivationMode::kFloat, "blk.0.wq", nan_h);
  ASSERT_FALSE(nan.ok());
  EXPECT_NE(nan.error().message.find("[1][1]"), std::string::npos) << nan.error().message;

  GptqOptions bad_damp;
  bad_damp.damp = 0.0;
  auto damp = gptq_quantize(layer.w, format, ActivationMode::kFloat, "blk.0.wq", layer.hessian, bad_damp);
  ASSERT_FALSE(damp.ok());
  EXPECT_NE(damp.error().message.find("damping must be in (0, 1]"), std::string::npos) << damp.error().message;

  GptqOptions bad_block;
  bad_block.block = 0;
  EXPECT_FALSE(gptq_quantize(layer.w, format, ActivationMode::kFloat, "blk.0.wq", layer.hessian, bad_block).ok());

  // A dead input channel (never active) is quantized, not refused.
  std::vector<double> dead = layer.hessian;
  for (int i = 0; i < 16; ++i) dead[static_cast<size_t>(i) * 16 + 3] = dead[3 * 16 + static_cast<size_t>(i)] = 0.0;
  EXPECT_TRUE(gptq_quantize(layer.w, format, ActivationMode::kFloat, "blk.0.wq", dead).ok());

  layer.w.data[5] = INFINITY;
  auto inf = gptq_quantize(layer.w, format, ActivationMode::kFloat, "blk.0.wq", layer.hessian);
  ASSERT_FALSE(inf.ok());
  EXPECT_NE(inf.error().message.find("weight [0][5]"), std::string::npos) << inf.error().message;
}

TEST(Gptq, TiedTableHessianAddsTheEmbeddingObjective) {
  const Layer layer = make_layer(4, 12, 50, 8);
  const std::vector<double> h = tied_table_hessian(layer.hessian, 12, 1.0);
  double mean_diagonal = 0.0;
  for (int i = 0; i < 12; ++i) mean_diagonal += h[static_cast<size_t>(i) * 13];
  // The classifier part is scaled to a mean diagonal of 1, then 1 x identity is added.
  EXPECT_NEAR(mean_diagonal / 12.0, 2.0, 1e-12);
  for (int i = 0; i < 12; ++i)
    for (int j = 0; j < 12; ++j)
      if (i != j) {
        EXPECT_EQ(h[static_cast<size_t>(i) * 12 + j], h[static_cast<size_t>(j) * 12 + i]);
      }
}

}  // namespace
}  // namespace nibble
