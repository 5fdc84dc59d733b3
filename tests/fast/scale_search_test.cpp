// The scale search (--algo mse) against its promise: on its own objective (importance-
// weighted squared error at the stored scale) it never does worse than round-to-nearest,
// its codes stay in each format's range, and on ordinary weights it does strictly better.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "quant/group_quantizers.h"
#include "quant/quantized_matrix.h"
#include "quant/scale_search.h"

namespace nibble {
namespace {

struct GroupErrors {
  double rtn = 0.0;
  double search = 0.0;
};

// E for one group and codec, by RTN and by the search, each recomputed from the codes
// and stored scale they return (so a search that misreports its error cannot pass).
GroupErrors errors_for(WeightCodec codec, ScaleType type, const std::vector<float>& x, const float* h) {
  const int n = static_cast<int>(x.size());
  GroupErrors e;
  if (codec == WeightCodec::kInt4Asym) {
    std::vector<uint8_t> q(x.size());
    uint8_t z = 0;
    float s = quantize_group_int4_asym(x.data(), n, type, q.data(), &z);
    e.rtn = weighted_group_error_asym(x.data(), h, n, q.data(), z, s);
    s = search_group_int4_asym(x.data(), h, n, type, q.data(), &z);
    EXPECT_LE(z, 15);
    for (uint8_t v : q) EXPECT_LE(v, 15);
    EXPECT_GE(s, 0.0f);
    EXPECT_EQ(s, round_scale(s, type)) << "the scale must be representable in its stored type";
    e.search = weighted_group_error_asym(x.data(), h, n, q.data(), z, s);
    return e;
  }
  const bool int8 = codec == WeightCodec::kInt8Sym;
  std::vector<int8_t> c(x.size());
  float s = int8 ? quantize_group_int8_sym(x.data(), n, type, c.data()) : quantize_group_int4_sym(x.data(), n, type, c.data());
  e.rtn = weighted_group_error(x.data(), h, n, c.data(), s);
  s = int8 ? search_group_int8_sym(x.data(), h, n, type, c.data()) : search_group_int4_sym(x.data(), h, n, type, c.data());
  for (int8_t v : c) {
    EXPECT_GE(v, int8 ? -127 : -8);
    EXPECT_LE(v, int8 ? 127 : 7);
  }
  EXPECT_EQ(s, round_scale(s, type)) << "the scale must be representable in its stored type";
  e.search = weighted_group_error(x.data(), h, n, c.data(), s);
  return e;
}

const WeightCodec kCodecs[] = {WeightCodec::kInt8Sym, WeightCodec::kInt4Sym, WeightCodec::kInt4Asym};
const ScaleType kScaleTypes[] = {ScaleType::kF32, ScaleType::kF16, ScaleType::kBF16};

TEST(ScaleSearch, NeverWorseThanRoundToNearestOnItsObjective) {
  const unsigned seed = std::random_device{}();
  std::printf("seed %u\n", seed);
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uniform(0.0f, 4.0f);
  int cases = 0;
  for (int n : {1, 2, 7, 31, 32, 33, 128, 256}) {
    for (int kind = 0; kind < 6; ++kind) {
      std::vector<float> x(static_cast<size_t>(n));
      for (auto& v : x) v = normal(rng) * 0.02f;
      if (kind == 1) x[static_cast<size_t>(n) / 2] *= 40.0f;        // one outlier
      if (kind == 2) for (auto& v : x) v = 0.5f;                   // constant
      if (kind == 3) for (auto& v : x) v = 0.0f;                   // all zero
      if (kind == 4) for (auto& v : x) v = normal(rng) * 1e-36f;   // subnormal scale range
      if (kind == 5) for (auto& v : x) v = std::fabs(v);           // one-signed
      std::vector<float> importance(x.size());
      for (auto& v : importance) v = uniform(rng) < 0.5f ? 0.0f : uniform(rng);  // some channels unused
      for (WeightCodec codec : kCodecs) {
        for (ScaleType type : kScaleTypes) {
          for (const float* h : {static_cast<const float*>(nullptr), static_cast<const float*>(importance.data())}) {
            const GroupErrors e = errors_for(codec, type, x, h);
            EXPECT_LE(e.search, e.rtn) << "seed " << seed << " n " << n << " kind " << kind << " codec "
                                       << codec_name(codec) << " scale " << scale_type_name(type)
                                       << (h ? " weighted" : " unweighted");
            ++cases;
          }
        }
      }
    }
  }
  EXPECT_EQ(cases, 8 * 6 * 3 * 3 * 2);
}

TEST(ScaleSearch, LowersTheErrorOfOrdinaryWeights) {
  // Gaussian weights with a few heavier tails (as trained matrices have): RTN spends its
  // range on the extreme; the search should find a strictly better scale in total.
  std::mt19937 rng(7);
  std::student_t_distribution<float> heavy(4.0f);
  for (WeightCodec codec : kCodecs) {
    double rtn = 0.0, search = 0.0;
    for (int g = 0; g < 500; ++g) {
      std::vector<float> x(32);
      for (auto& v : x) v = heavy(rng) * 0.02f;
      const GroupErrors e = errors_for(codec, ScaleType::kF16, x, nullptr);
      rtn += e.rtn;
      search += e.search;
    }
    std::printf("%s: squared error rtn %.6g, search %.6g (%.1f%%)\n", codec_name(codec), rtn, search,
                100.0 * search / rtn);
    EXPECT_LT(search, rtn) << codec_name(codec);
  }
}

TEST(ScaleSearch, QuantizeMatrixChecksTheImportanceVector) {
  DenseMatrix w;
  w.rows = 2;
  w.cols = 40;  // a ragged last group of 8 with group 32
  w.data = std::vector<float>(80);
  for (size_t i = 0; i < w.data.size(); ++i) w.data[i] = std::sin(static_cast<float>(i)) * 0.1f;
  const QuantFormat format{WeightCodec::kInt4Sym, 32, ScaleType::kF16};
  std::vector<float> importance(40, 1.0f);
  QuantizeOptions options;
  options.algorithm = QuantAlgorithm::kMse;
  options.importance = importance;
  EXPECT_TRUE(quantize_matrix(w, format, ActivationMode::kFloat, "blk.0.wq", options).ok());

  std::vector<float> short_vector(39, 1.0f);
  options.importance = short_vector;
  auto wrong = quantize_matrix(w, format, ActivationMode::kFloat, "blk.0.wq", options);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.error().message.find("39 entries"), std::string::npos) << wrong.error().message;

  importance[5] = -1.0f;
  options.importance = importance;
  auto negative = quantize_matrix(w, format, ActivationMode::kFloat, "blk.0.wq", options);
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.error().message.find("channel 5 is -1"), std::string::npos) << negative.error().message;

  importance[5] = std::nanf("");
  auto nan = quantize_matrix(w, format, ActivationMode::kFloat, "blk.0.wq", options);
  ASSERT_FALSE(nan.ok());
  EXPECT_NE(nan.error().message.find("channel 5"), std::string::npos) << nan.error().message;
}

TEST(ScaleSearch, MatrixErrorIsNoWorseThanRoundToNearestPerGroup) {
  // The whole-matrix path (packing, ragged last group, asym zero points) keeps the
  // per-group promise: compare dequantized rows group by group.
  std::mt19937 rng(3);
  std::student_t_distribution<float> heavy(4.0f);
  DenseMatrix w;
  w.rows = 5;
  w.cols = 72;
  w.data = std::vector<float>(static_cast<size_t>(w.rows) * w.cols);
  for (auto& v : w.data) v = heavy(rng) * 0.05f;
  for (WeightCodec codec : kCodecs) {
    const QuantFormat format{codec, 32, ScaleType::kF16};
    QuantizeOptions mse;
    mse.algorithm = QuantAlgorithm::kMse;
    auto rtn_q = quantize_matrix(w, format, ActivationMode::kFloat, "t", {});
    auto mse_q = quantize_matrix(w, format, ActivationMode::kFloat, "t", mse);
    ASSERT_TRUE(rtn_q.ok() && mse_q.ok());
    std::vector<float> a(72), b(72);
    for (int r = 0; r < w.rows; ++r) {
      rtn_q->dequantize_row(r, a.data());
      mse_q->dequantize_row(r, b.data());
      for (int g = 0; g < 3; ++g) {
        double ea = 0.0, eb = 0.0;
        for (int i = g * 32; i < std::min(72, g * 32 + 32); ++i) {
          const double x = w.row(r)[i];
          ea += (x - a[static_cast<size_t>(i)]) * (x - a[static_cast<size_t>(i)]);
          eb += (x - b[static_cast<size_t>(i)]) * (x - b[static_cast<size_t>(i)]);
        }
        EXPECT_LE(eb, ea) << codec_name(codec) << " row " << r << " group " << g;
      }
    }
  }
}

}  // namespace
}  // namespace nibble
