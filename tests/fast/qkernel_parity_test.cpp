// Parity of every quantized kernel on every ISA this machine runs against the scalar
// reference, on identical quantized inputs (XNNPACK-style sweeps): rows 1..9 (the SIMD
// kernels work on blocks of 8), every remainder of the row length modulo 32 (int4
// blocks) and modulo G (ragged last groups), per-channel groups, group sizes the SIMD
// kernels do not specialize (fallbacks), 1..5 tokens (tiles of 4), split row ranges and
// 1 or 2 threads, and every code at its extreme. a8 kernels and activation quantization
// must agree bit for bit; weight-only kernels bit for bit with their own ISA's dot_f32
// over the dequantized row, and within the dot_f32 bound with scalar.
// Every failure names the ISA, shape and seed (SCOPED_TRACE).
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/file.h"
#include "core/thread_pool.h"
#include "kernels/kernel_table.h"
#include "kernels/ops.h"
#include "kernels/qmatrix_view.h"
#include "kernels/scalar/f32_scalar.h"
#include "kernels/scalar/qlinear_scalar.h"
#include "quant/quantized_matrix.h"
#include "support/test_support.h"

namespace nibble {
namespace {

std::vector<const KernelTable*> tables() {
  std::vector<const KernelTable*> out;
  for (Isa isa : supported_isas()) out.push_back(*kernel_table_for(isa));
  return out;
}

const KernelTable& scalar_table() { return **kernel_table_for(Isa::kScalar); }

std::string shape(const char* what, int rows, int cols, int group, int tokens, uint32_t seed) {
  std::ostringstream s;
  s << what << " rows=" << rows << " cols=" << cols << " G=" << group << " tokens=" << tokens << " seed=" << seed;
  return s.str();
}

QuantizedMatrix random_quantized(std::mt19937& rng, int rows, int cols, WeightCodec codec, int group,
                                 ScaleType scale_type, ActivationMode act) {
  std::normal_distribution<float> normal(0.0f, 0.05f);
  DenseMatrix w;
  w.rows = rows;
  w.cols = cols;
  w.data.resize(static_cast<size_t>(rows) * cols);
  for (float& v : w.data) v = normal(rng);
  auto q = quantize_matrix(w, QuantFormat{codec, group, scale_type}, act, "parity");
  EXPECT_TRUE(q.ok()) << q.error().message;
  return std::move(*q);
}

// Activations of n_tokens rows in the padded layout the a8 kernels read.
struct Activations {
  std::vector<uint8_t> codes;
  std::vector<float> scales;
  std::vector<int32_t> zeros;
  ActivationCodes view(int n_tokens, int cols) const {
    return ActivationCodes{codes.data(), activation_stride(cols), scales.data(), zeros.data(), n_tokens};
  }
};

Activations quantize_tokens(const std::vector<float>& x, int n_tokens, int cols) {
  Activations a;
  const size_t stride = activation_stride(cols);
  a.codes.assign(static_cast<size_t>(n_tokens) * stride, 0);
  a.scales.resize(static_cast<size_t>(n_tokens));
  a.zeros.resize(static_cast<size_t>(n_tokens));
  for (int t = 0; t < n_tokens; ++t)
    scalar::quantize_activation_row(x.data() + static_cast<size_t>(t) * cols, cols, a.codes.data() + t * stride,
                                    &a.scales[static_cast<size_t>(t)], &a.zeros[static_cast<size_t>(t)]);
  return a;
}

// The a8 reference written out independently: exact int64 group sums over the real
// elements only, then the documented float combination.
float a8_exact(const QuantizedMatrix& q, int r, const uint8_t* u, float s_a, int32_t z_a) {
  float acc = 0.0f;
  for (int g = 0; g < q.n_groups; ++g) {
    int64_t sum = 0;
    for (int i = g * q.group; i < std::min(q.cols, (g + 1) * q.group); ++i)
      sum += (static_cast<int64_t>(u[i]) - z_a) * q.code(r, i);
    EXPECT_LE(std::llabs(sum), INT32_MAX);
    acc += q.scale(r, g) * static_cast<float>(static_cast<int32_t>(sum));
  }
  return s_a * acc;
}

// Runs one table's a8 kernel over [0, rows) as two calls split at `split`.
std::vector<float> run_a8(const KernelTable& k, const QuantizedMatrix& q, const ActivationCodes& a, int split) {
  std::vector<float> y(static_cast<size_t>(a.n_tokens) * q.rows, -1.0f);
  const QMatrixView v = view_of(q);
  k.qlinear_a8(v, a, 0, split, y.data(), static_cast<size_t>(q.rows));
  k.qlinear_a8(v, a, split, q.rows, y.data(), static_cast<size_t>(q.rows));
  return y;
}

std::vector<float> run_wf(const KernelTable& k, const QuantizedMatrix& q, const std::vector<float>& x, int n_tokens,
                          int split) {
  std::vector<float> y(static_cast<size_t>(n_tokens) * q.rows, -1.0f);
  const QMatrixView v = view_of(q);
  k.qlinear_wf(v, x.data(), static_cast<size_t>(q.cols), n_tokens, 0, split, y.data(), static_cast<size_t>(q.rows));
  k.qlinear_wf(v, x.data(), static_cast<size_t>(q.cols), n_tokens, split, q.rows, y.data(), static_cast<size_t>(q.rows));
  return y;
}

// The weight-only contract: every output of k's kernel (rows split at `split`) equals k's own
// dot_f32 over the dequantized row, bit for bit.
void expect_wf_is_dequantized_dot(const KernelTable& k, const QuantizedMatrix& q, const std::vector<float>& x,
                                  int n_tokens, int split) {
  const std::vector<float> got = run_wf(k, q, x, n_tokens, split);
  std::vector<float> row(static_cast<size_t>(q.cols));
  for (int r = 0; r < q.rows; ++r) {
    q.dequantize_row(r, row.data());
    for (int t = 0; t < n_tokens; ++t)
      ASSERT_EQ(got[static_cast<size_t>(t * q.rows + r)],
                k.dot_f32(row.data(), x.data() + static_cast<size_t>(t) * q.cols, q.cols))
          << "row " << r << " token " << t;
  }
}

// The row lengths of a sweep for group size G: every remainder modulo 32 and modulo G
// (G = 0: per channel, every length up to 300 so the single group takes every remainder).
std::vector<int> sweep_cols(int group) {
  std::vector<int> cols;
  if (group == 0) {
    for (int c = 1; c <= 300; c += (c < 70 ? 1 : 7)) cols.push_back(c);
    return cols;
  }
  const int period = std::max(group, 32);
  for (int rem = 0; rem < period; ++rem) cols.push_back(2 * period + rem);
  cols.push_back(1);
  cols.push_back(group > 1 ? group - 1 : 1);
  return cols;
}

constexpr ScaleType kScaleTypes[3] = {ScaleType::kF16, ScaleType::kBF16, ScaleType::kF32};

TEST(QKernelParity, ActivationQuantizationIsBitIdentical) {
  const uint32_t seed = 4242;
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto check = [&](const std::vector<float>& x, const std::string& what) {
    const int n = static_cast<int>(x.size());
    std::vector<uint8_t> want(static_cast<size_t>(n) + 1, 0xAB);
    float want_s;
    int32_t want_z;
    scalar::quantize_activation_row(x.data(), n, want.data(), &want_s, &want_z);
    for (const KernelTable* k : tables()) {
      SCOPED_TRACE(std::string(isa_name(k->isa)) + " " + what + " n=" + std::to_string(n) + " seed=" + std::to_string(seed));
      std::vector<uint8_t> got(static_cast<size_t>(n) + 1, 0xAB);
      float s;
      int32_t z;
      k->quantize_activation_row(x.data(), n, got.data(), &s, &z);
      EXPECT_EQ(std::memcmp(&s, &want_s, 4), 0) << s << " vs " << want_s;
      EXPECT_EQ(z, want_z);
      ASSERT_EQ(got, want);  // the byte after the row is untouched too
    }
  };
  for (int n = 0; n <= 140; ++n) {
    std::vector<float> x(static_cast<size_t>(n));
    for (float& v : x) v = normal(rng);
    check(x, "normal");
    for (float& v : x) v = std::fabs(v);
    check(x, "positive");
    for (float& v : x) v = -v * 1e-3f;
    check(x, "negative");
  }
  // Exact halves: hi = 127.5, lo = 0 gives s = 0.5 and x / s = k / 2, every tie rounded
  // away from zero; -0.0 entries; all zeros; huge and tiny magnitudes.
  std::vector<float> ties;
  for (int k = 0; k <= 510; ++k) ties.push_back(0.25f * static_cast<float>(k));
  ties.push_back(-0.0f);
  check(ties, "ties");
  check(std::vector<float>(77, 0.0f), "zeros");
  check(std::vector<float>(33, -0.0f), "negative zeros");
  std::vector<float> wide;
  for (int i = 0; i < 97; ++i) wide.push_back(std::ldexp(normal(rng), (i % 60) - 30));
  check(wide, "wide");
  check({3e38f, -3e38f, 1.0f, 0.0f, 1e-40f}, "extreme floats");
  // A range so small that the scale is subnormal (1 / scale overflows): flushed to an
  // all-zero row on every ISA (found by nibble_file_fuzz: 0 * inf was NaN, then UB).
  check({1e-38f, 0.0f, 2e-39f, 1e-45f}, "subnormal range");
  check({-1e-37f, 0.0f, 1e-38f}, "subnormal range, negative");
  check(std::vector<float>(40, 1e-40f), "subnormal values");
  // Non-finite input: the scale is NaN (the NaN is not hidden) and every code 0.
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    for (int pos : {0, 5, 40}) {
      std::vector<float> x(45);
      for (float& v : x) v = normal(rng);
      x[static_cast<size_t>(pos)] = bad;
      for (const KernelTable* k : tables()) {
        SCOPED_TRACE(std::string(isa_name(k->isa)) + " non-finite at " + std::to_string(pos));
        std::vector<uint8_t> got(45, 0xAB);
        float s;
        int32_t z;
        k->quantize_activation_row(x.data(), 45, got.data(), &s, &z);
        EXPECT_TRUE(std::isnan(s));
        EXPECT_EQ(z, 0);
        EXPECT_EQ(got, std::vector<uint8_t>(45, 0));
      }
    }
  }
}

// A random a8 matrix and random tokens: the scalar kernel gives the exact formula
// (a8_exact), and every ISA's qlinear_a8, cut at each split, the scalar kernel's bits.
void expect_a8_matches_scalar(std::mt19937& rng, WeightCodec codec, int rows, int cols, int group, ScaleType st,
                              int tokens, uint32_t seed, const std::vector<int>& splits) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  QuantizedMatrix q = random_quantized(rng, rows, cols, codec, group, st, ActivationMode::kInt8Token);
  std::vector<float> x(static_cast<size_t>(tokens) * cols);
  for (float& v : x) v = normal(rng);
  Activations act = quantize_tokens(x, tokens, cols);
  const ActivationCodes a = act.view(tokens, cols);
  const std::string what = shape(codec_name(codec), rows, cols, group, tokens, seed) + " scale " + scale_type_name(st);
  const std::vector<float> want = run_a8(scalar_table(), q, a, rows);
  for (int t = 0; t < tokens; ++t)
    for (int r = 0; r < rows; ++r)
      ASSERT_EQ(want[static_cast<size_t>(t * rows + r)], a8_exact(q, r, a.codes + t * a.stride, a.scales[t], a.zeros[t]))
          << what << " row " << r << " token " << t;
  for (const KernelTable* k : tables()) {
    SCOPED_TRACE(std::string(isa_name(k->isa)) + " " + what);
    for (int split : splits) ASSERT_EQ(run_a8(*k, q, a, split), want) << "split " << split;
  }
}

TEST(QKernelParity, A8MatchesScalarBitForBitOverEveryRemainder) {
  const uint32_t seed = 1234;
  std::mt19937 rng(seed);
  int case_index = 0;
  for (WeightCodec codec : {WeightCodec::kInt4Sym, WeightCodec::kInt8Sym}) {
    // 16, multiples of 32 and per channel are the SIMD paths; 40 and 48 the fallback.
    for (int group : {16, 32, 64, 128, 256, 0, 40, 48}) {
      for (int cols : sweep_cols(group)) {
        const int rows = 1 + case_index % 9;
        // Up to five tokens (decode, small batches), and sometimes whole tiles of sixteen
        // with a remainder (the AMX path).
        const int tokens = case_index % 4 == 3 ? 16 + case_index % 5 : 1 + case_index % 5;
        const ScaleType st = kScaleTypes[case_index % 3];
        ++case_index;
        ASSERT_NO_FATAL_FAILURE(expect_a8_matches_scalar(rng, codec, rows, cols, group, st, tokens, seed, {0, rows / 2, rows}));
      }
    }
  }
}

TEST(QKernelParity, A8RowsOneToNineAndTokenTiles) {
  const uint32_t seed = 99;
  std::mt19937 rng(seed);
  for (WeightCodec codec : {WeightCodec::kInt4Sym, WeightCodec::kInt8Sym}) {
    for (int group : {16, 32, 256, 0}) {
      for (int cols : {100, 257, 512}) {
        for (int rows = 1; rows <= 17; ++rows) {
          // 1..9 tokens, then 16, 17, 32 or 33 (whole tiles of sixteen and a remainder).
          for (const int tokens : {1 + rows % 9, 16 * (1 + rows % 2) + rows % 3 % 2}) {
            std::vector<int> splits(static_cast<size_t>(rows) + 1);
            for (int split = 0; split <= rows; ++split) splits[static_cast<size_t>(split)] = split;
            ASSERT_NO_FATAL_FAILURE(expect_a8_matches_scalar(rng, codec, rows, cols, group, ScaleType::kF16, tokens, seed, splits));
          }
        }
      }
    }
  }
}

// Prefill-sized batches: nine tiles of sixteen tokens (the AMX kernel takes them two at a
// time, then one) and five more; 37 rows (two pairs of 16-row panels, then one). Groups of
// 16 and 32 over 288 columns take the tile path; ragged groups (200 columns), 128 and per
// channel the AVX-512 one.
TEST(QKernelParity, A8LongBatchesMatchScalarBitForBit) {
  const uint32_t seed = 2026;
  std::mt19937 rng(seed);
  for (WeightCodec codec : {WeightCodec::kInt4Sym, WeightCodec::kInt8Sym}) {
    for (int group : {16, 32, 128, 0}) {
      for (int cols : {288, 200}) {
        const int rows = 37, tokens = 16 * 9 + 5;
        ASSERT_NO_FATAL_FAILURE(
            expect_a8_matches_scalar(rng, codec, rows, cols, group, ScaleType::kBF16, tokens, seed, {0, 7, 16, 20, rows}));
      }
    }
  }
}

// Every weight code and activation at an extreme: the largest int32 terms, int16
// saturation of vpmaddubsw for int8 codes (255 * 127 * 2 > 32767), eight int4 chunks of
// 255 * -8 summed in int16, and the widest exact group (per channel, 65536 columns:
// 255 * 127 * 65536 < 2^31).
TEST(QKernelParity, A8ExtremeCodesAndActivationsStayExact) {
  std::mt19937 rng(7);
  struct Pattern {
    const char* name;
    uint8_t act_even, act_odd;
    int32_t zero;
  };
  const Pattern patterns[] = {{"u=255,z=0", 255, 255, 0},   {"u=0,z=255", 0, 0, 255},   {"u=0/255,z=0", 0, 255, 0},
                              {"u=255/0,z=255", 255, 0, 255}, {"u=255,z=128", 255, 255, 128}};
  for (WeightCodec codec : {WeightCodec::kInt4Sym, WeightCodec::kInt8Sym}) {
    for (int group : {16, 32, 256, 0}) {
      for (int cols : {31, 300, 512, 65536}) {
        if (cols == 65536 && group != 0 && group != 256) continue;
        const int rows = cols == 65536 ? 2 : 9;
        QuantizedMatrix q = random_quantized(rng, rows, cols, codec, group, ScaleType::kF32, ActivationMode::kInt8Token);
        // Codes: all at the negative extreme, all at the positive one, or alternating
        // (per row). int4 padding nibbles keep their zero weight. Per channel, int8's
        // negative extreme is -128 (a GGUF Q8_0 block may hold it; nibble writes -127 at
        // most), which the AMX kernel must not negate: 31 columns would otherwise go there.
        const int int8_min = group == 0 ? -128 : -127;
        for (int r = 0; r < rows; ++r) {
          for (int i = 0; i < cols; ++i) {
            const bool negative = (r % 3 == 0) || (r % 3 == 2 && i % 2 == 0);
            uint8_t* row = q.codes.data() + static_cast<size_t>(r) * q.row_bytes;
            if (codec == WeightCodec::kInt8Sym) {
              row[i] = static_cast<uint8_t>(static_cast<int8_t>(negative ? int8_min : 127));
            } else {
              size_t byte;
              bool high;
              int4_position(cols, i, &byte, &high);
              const uint8_t u = negative ? 0 : 15;
              row[byte] = high ? static_cast<uint8_t>((row[byte] & 0x0f) | (u << 4)) : static_cast<uint8_t>((row[byte] & 0xf0) | u);
            }
          }
        }
        derive_a8_data(q);
        for (const Pattern& p : patterns) {
          const int tokens = 18;  // one tile of sixteen (AMX) and two more
          const size_t stride = activation_stride(cols);
          Activations act;
          act.codes.assign(tokens * stride, 0);
          for (int t = 0; t < tokens; ++t) {
            for (int i = 0; i < cols; ++i) act.codes[t * stride + i] = i % 2 == 0 ? p.act_even : p.act_odd;
            act.scales.push_back(t % 2 == 0 ? 1.0f : 0.5f);
            act.zeros.push_back(p.zero);
          }
          const ActivationCodes a = act.view(tokens, cols);
          std::vector<float> want(static_cast<size_t>(tokens) * rows);
          for (int t = 0; t < tokens; ++t)
            for (int r = 0; r < rows; ++r)
              want[static_cast<size_t>(t * rows + r)] = a8_exact(q, r, a.codes + t * stride, a.scales[t], a.zeros[t]);
          for (const KernelTable* k : tables()) {
            SCOPED_TRACE(std::string(isa_name(k->isa)) + " " + shape(codec_name(codec), rows, cols, group, tokens, 7) +
                         " " + p.name);
            ASSERT_EQ(run_a8(*k, q, a, rows / 2), want);
          }
        }
      }
    }
  }
}

TEST(QKernelParity, WeightOnlyMatchesDequantizedDot) {
  const uint32_t seed = 555;
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const double u = std::ldexp(1.0, -24);
  int case_index = 0;
  for (WeightCodec codec : {WeightCodec::kInt4Sym, WeightCodec::kInt4Asym, WeightCodec::kInt8Sym}) {
    // Multiples of 8 and per channel are the fused paths; 12 and 20 dequantize to memory.
    for (int group : {16, 32, 64, 128, 256, 0, 40, 12, 20}) {
      for (int cols : sweep_cols(group)) {
        const int rows = 1 + case_index % 9;
        // 1..3 tokens take the fused decode path; from 4 on rows are dequantized once and
        // dotted three tokens at a time, in blocks of 48 (53 = a full block + 5 = 3 + 2).
        constexpr int kTokenCounts[] = {1, 2, 3, 4, 5, 7, 11, 53};
        const int tokens = kTokenCounts[case_index % 8];
        const ScaleType st = kScaleTypes[case_index % 3];
        ++case_index;
        QuantizedMatrix q = random_quantized(rng, rows, cols, codec, group, st, ActivationMode::kFloat);
        std::vector<float> x(static_cast<size_t>(tokens) * cols);
        for (float& v : x) v = normal(rng);
        const std::vector<float> want = run_wf(scalar_table(), q, x, tokens, rows);
        std::vector<float> row(static_cast<size_t>(cols));
        for (const KernelTable* k : tables()) {
          SCOPED_TRACE(std::string(isa_name(k->isa)) + " " + shape(codec_name(codec), rows, cols, group, tokens, seed) +
                       " scale " + scale_type_name(st));
          for (int split : {0, rows / 2}) {
            const std::vector<float> got = run_wf(*k, q, x, tokens, split);
            for (int r = 0; r < rows; ++r) {
              q.dequantize_row(r, row.data());
              for (int t = 0; t < tokens; ++t) {
                const float* xt = x.data() + static_cast<size_t>(t) * cols;
                const size_t at = static_cast<size_t>(t * rows + r);
                // Bit for bit: this ISA's dot_f32 over the dequantized row.
                ASSERT_EQ(got[at], k->dot_f32(row.data(), xt, cols)) << "row " << r << " token " << t << " split " << split;
                // Across ISAs: two summation orders, |error| <= 2 gamma(n) sum |w x|.
                double abs_terms = 0;
                for (int i = 0; i < cols; ++i) abs_terms += std::fabs(static_cast<double>(row[static_cast<size_t>(i)]) * xt[i]);
                const double gamma = cols * u / (1 - cols * u);
                ASSERT_LE(std::fabs(static_cast<double>(got[at]) - want[at]), 2 * gamma * abs_terms)
                    << "row " << r << " token " << t;
              }
            }
          }
        }
      }
    }
  }
}

// Rows of many groups: SIMD kernels may read group scales in batches (AVX-512: sixteen at a
// time), so rows cross several batch boundaries, end inside one, and end exactly on one.
TEST(QKernelParity, WeightOnlyLongRowsCrossScaleBatches) {
  const uint32_t seed = 4242;
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  int case_index = 0;
  for (WeightCodec codec : {WeightCodec::kInt4Sym, WeightCodec::kInt4Asym, WeightCodec::kInt8Sym}) {
    for (int group : {16, 32, 64, 128}) {
      for (int n_groups : {33, 48}) {
        const int cols = n_groups * group - (n_groups == 33 ? group / 2 : 0);  // ragged last group, or none
        const ScaleType st = kScaleTypes[case_index++ % 3];
        const int rows = 3;
        QuantizedMatrix q = random_quantized(rng, rows, cols, codec, group, st, ActivationMode::kFloat);
        for (int tokens : {1, 5}) {  // the fused decode path and the prefill path
          std::vector<float> x(static_cast<size_t>(tokens) * cols);
          for (float& v : x) v = normal(rng);
          for (const KernelTable* k : tables()) {
            SCOPED_TRACE(std::string(isa_name(k->isa)) + " " + shape(codec_name(codec), rows, cols, group, tokens, seed) +
                         " scale " + scale_type_name(st));
            ASSERT_NO_FATAL_FAILURE(expect_wf_is_dequantized_dot(*k, q, x, tokens, 0));
          }
        }
      }
    }
  }
}

TEST(QKernelParity, WeightOnlyExtremeCodes) {
  std::mt19937 rng(8);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (WeightCodec codec : {WeightCodec::kInt4Sym, WeightCodec::kInt4Asym, WeightCodec::kInt8Sym}) {
    for (int cols : {7, 45, 300}) {
      const int rows = 3;
      QuantizedMatrix q = random_quantized(rng, rows, cols, codec, 32, ScaleType::kF16, ActivationMode::kFloat);
      for (int r = 0; r < rows; ++r) {
        uint8_t* row = q.codes.data() + static_cast<size_t>(r) * q.row_bytes;
        // Every stored byte at an extreme: int8 127 / -127; int4 both nibbles 0 or 15,
        // padding nibbles included (they are never given weight).
        for (size_t b = 0; b < q.row_bytes; ++b) {
          const bool even = (r + b) % 2 == 0;
          row[b] = codec == WeightCodec::kInt8Sym ? (even ? 0x7f : 0x81) : (even ? 0x00 : 0xff);
        }
      }
      for (int tokens : {1, 5}) {  // the decode and the prefill path
        std::vector<float> x(static_cast<size_t>(tokens) * cols);
        for (float& v : x) v = normal(rng);
        for (const KernelTable* k : tables()) {
          SCOPED_TRACE(std::string(isa_name(k->isa)) + " " + shape(codec_name(codec), rows, cols, 32, tokens, 8));
          ASSERT_NO_FATAL_FAILURE(expect_wf_is_dequantized_dot(*k, q, x, tokens, 1));
        }
      }
    }
  }
}

// Through linear_forward and the pool: 1 and 2 threads give the same bits on every ISA,
// and a8 layers the same bits on every ISA.
// Resident kB of the mapping holding `address` (/proc/self/smaps), or -1.
long mapping_rss_kb(const void* address) {
  std::ifstream smaps("/proc/self/smaps");
  const auto at = reinterpret_cast<uintptr_t>(address);
  bool inside = false;
  for (std::string line; std::getline(smaps, line);) {
    uintptr_t begin = 0, end = 0;
    char dash = 0;
    std::istringstream range(line);
    if (range >> std::hex >> begin >> dash >> end && dash == '-') {
      inside = at >= begin && at < end;
    } else if (inside && line.rfind("Rss:", 0) == 0) {
      return std::stol(line.substr(4));
    }
  }
  return -1;
}

// An a8 layer as loading a file makes it (codes and scales borrowed from the mapping),
// derived on two threads: the same code sums and panels as on one, the same outputs on
// every ISA (the scalar and AVX2 kernels read the codes, so after the release they come
// back from the file), and, when panels were built, the mapping's pages of codes and
// scales no longer resident.
TEST(QKernelParity, A8LayerBorrowedFromAFileDerivesOnTwoThreadsAndReleasesItsPages) {
  const uint32_t seed = 77;
  std::mt19937 rng(seed);
  const int rows = 520, cols = 2048;  // 32.5 panel blocks; 130 pages of codes
  const QuantizedMatrix q = random_quantized(rng, rows, cols, WeightCodec::kInt4Sym, 32, ScaleType::kF16,
                                             ActivationMode::kInt8Token);
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t scales_at = (q.codes.size() + page - 1) / page * page;
  std::vector<std::byte> file(scales_at + q.scales.size());
  std::memcpy(file.data(), q.codes.data(), q.codes.size());
  std::memcpy(file.data() + scales_at, q.scales.data(), q.scales.size());
  const std::string path = testing::temp_dir() + "/layer.bin";
  ASSERT_TRUE(write_file_atomic(path, file).ok());
  auto mapped = MappedFile::open(path);
  ASSERT_TRUE(mapped.ok()) << mapped.error().message;
  auto mapping = std::make_shared<const MappedFile>(std::move(*mapped));
  const auto* bytes = reinterpret_cast<const uint8_t*>(mapping->bytes().data());

  QuantizedMatrix m = q;
  m.codes = Buffer<uint8_t>::borrow({bytes, q.codes.size()}, mapping);
  m.scales = Buffer<uint8_t>::borrow({bytes + scales_at, q.scales.size()}, mapping);
  size_t checksum = 0;
  for (std::byte b : mapping->bytes()) checksum += static_cast<size_t>(b);  // every page resident
  ASSERT_GT(checksum, 0u);
  const long resident_before = mapping_rss_kb(bytes);
  ThreadPool two(2);
  derive_a8_data(m, &two);
  EXPECT_EQ(m.code_sums, q.code_sums);
  EXPECT_EQ(m.panels.layout.block_bytes, q.panels.layout.block_bytes);
  EXPECT_TRUE(m.panels.bytes == q.panels.bytes);
  if (!m.panels.empty()) {
    // Every whole page of codes (130) and of scales (16 of the 16.25) is released.
    const long released_kb = static_cast<long>((q.codes.size() / page + q.scales.size() / page) * page / 1024);
    EXPECT_LE(mapping_rss_kb(bytes), resident_before - released_kb) << "resident before: " << resident_before;
  }

  std::vector<float> x(static_cast<size_t>(3) * cols);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& v : x) v = normal(rng);
  const Activations act = quantize_tokens(x, 3, cols);
  const ActivationCodes a = act.view(3, cols);
  const std::vector<float> want = run_a8(scalar_table(), q, a, 250);
  for (const KernelTable* k : tables()) {
    SCOPED_TRACE(std::string(isa_name(k->isa)) + " " + shape("int4_sym", rows, cols, 32, 3, seed));
    EXPECT_EQ(run_a8(*k, m, a, 250), want);
  }
  EXPECT_TRUE(std::equal(m.codes.begin(), m.codes.end(), q.codes.begin(), q.codes.end()));
}

TEST(QKernelParity, ThreadsAndIsasThroughLinearForward) {
  const uint32_t seed = 31;
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  ThreadPool one(1), two(2);
  for (ActivationMode act : {ActivationMode::kInt8Token, ActivationMode::kFloat}) {
    for (WeightCodec codec : {WeightCodec::kInt4Sym, WeightCodec::kInt8Sym}) {
      for (int group : {32, 256, 0}) {
        const int rows = 77, cols = 544, tokens = 6;
        Linear layer;
        layer.quantized = std::make_shared<QuantizedMatrix>(
            random_quantized(rng, rows, cols, codec, group, ScaleType::kF16, act));
        std::vector<float> x(static_cast<size_t>(tokens) * cols);
        for (float& v : x) v = normal(rng);
        std::vector<float> reference;
        for (const KernelTable* k : tables()) {
          SCOPED_TRACE(std::string(isa_name(k->isa)) + " " + shape(codec_name(codec), rows, cols, group, tokens, seed) +
                       (act == ActivationMode::kInt8Token ? " a8" : " w"));
          std::vector<float> y1(static_cast<size_t>(tokens) * rows), y2(y1.size());
          linear_forward(layer, x.data(), cols, tokens, y1.data(), rows, one, *k);
          linear_forward(layer, x.data(), cols, tokens, y2.data(), rows, two, *k);
          EXPECT_EQ(y1, y2);
          if (act == ActivationMode::kInt8Token) {
            if (reference.empty()) reference = y1;
            EXPECT_EQ(y1, reference);
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace nibble
