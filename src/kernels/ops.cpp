#include "kernels/ops.h"

#include <algorithm>
#include <cmath>

#include <vector>

#include "kernels/kernel_table.h"
#include "kernels/scalar/qlinear_scalar.h"
#include "quant/quantized_matrix.h"

namespace nibble {

void rmsnorm(float* out, const float* x, const float* weight, int n, float eps) {
  float ss = 0.0f;
  for (int i = 0; i < n; ++i) ss += x[i] * x[i];
  ss /= static_cast<float>(n);
  ss += eps;
  ss = 1.0f / std::sqrt(ss);
  for (int i = 0; i < n; ++i) out[i] = weight[i] * (ss * x[i]);
}

void softmax(float* x, int n) {
  float max_value = x[0];
  for (int i = 1; i < n; ++i) max_value = std::max(max_value, x[i]);
  float sum = 0.0f;
  for (int i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max_value);
    sum += x[i];
  }
  for (int i = 0; i < n; ++i) x[i] /= sum;
}

void matmul(const DenseMatrix& w, const float* x, size_t x_stride, int n_tokens, float* y,
            size_t y_stride, ThreadPool& pool) {
  const auto dot = kernels().dot_f32;
  // Blocks of rows per task keep a few weight rows hot in cache while the tokens of a
  // tile stream past them.
  constexpr size_t kRowGrain = 16;
  constexpr int kTokenTile = 16;
  pool.parallel_for(static_cast<size_t>(w.rows), kRowGrain, [&](size_t begin, size_t end) {
    for (int t0 = 0; t0 < n_tokens; t0 += kTokenTile) {
      int t1 = std::min(n_tokens, t0 + kTokenTile);
      for (size_t r = begin; r < end; ++r) {
        const float* row = w.row(static_cast<int>(r));
        for (int t = t0; t < t1; ++t)
          y[static_cast<size_t>(t) * y_stride + r] = dot(row, x + static_cast<size_t>(t) * x_stride, w.cols);
      }
    }
  });
}

namespace {

// Quantized layer: each task unpacks a block of rows' codes once and applies them to
// every token. a8 schemes first quantize each token's activations (per token, u8).
void quantized_forward(const QuantizedMatrix& w, const float* x, size_t x_stride, int n_tokens, float* y,
                       size_t y_stride, ThreadPool& pool) {
  const size_t cols = static_cast<size_t>(w.cols);
  std::vector<uint8_t> act_codes;
  std::vector<float> act_scales;
  std::vector<int32_t> act_zeros;
  if (w.activation == ActivationMode::kInt8Token) {
    act_codes.resize(static_cast<size_t>(n_tokens) * cols);
    act_scales.resize(static_cast<size_t>(n_tokens));
    act_zeros.resize(static_cast<size_t>(n_tokens));
    for (int t = 0; t < n_tokens; ++t)
      scalar::quantize_activation_row(x + static_cast<size_t>(t) * x_stride, w.cols, act_codes.data() + t * cols,
                                      &act_scales[static_cast<size_t>(t)], &act_zeros[static_cast<size_t>(t)]);
  }
  constexpr size_t kRowGrain = 16;
  const auto dot = kernels().dot_f32;
  pool.parallel_for(static_cast<size_t>(w.rows), kRowGrain, [&](size_t begin, size_t end) {
    std::vector<int8_t> codes(cols);
    std::vector<float> dequantized(w.activation == ActivationMode::kFloat ? cols : 0);
    for (size_t r = begin; r < end; ++r) {
      const int row = static_cast<int>(r);
      scalar::unpack_row_codes(w, row, codes.data());
      if (w.activation == ActivationMode::kFloat) {
        scalar::dequantize_row_codes(w, row, codes.data(), dequantized.data());
        for (int t = 0; t < n_tokens; ++t)
          y[static_cast<size_t>(t) * y_stride + r] = dot(dequantized.data(), x + static_cast<size_t>(t) * x_stride, w.cols);
        continue;
      }
      for (int t = 0; t < n_tokens; ++t)
        y[static_cast<size_t>(t) * y_stride + r] =
            act_scales[static_cast<size_t>(t)] *
            scalar::qdot_int8(w, row, codes.data(), act_codes.data() + t * cols, act_zeros[static_cast<size_t>(t)]);
    }
  });
}

}  // namespace

void linear_forward(const Linear& layer, const float* x, size_t x_stride, int n_tokens, float* y,
                    size_t y_stride, ThreadPool& pool) {
  if (layer.quantized) {
    quantized_forward(*layer.quantized, x, x_stride, n_tokens, y, y_stride, pool);
  } else {
    matmul(layer.weight, x, x_stride, n_tokens, y, y_stride, pool);
  }
  if (layer.bias.empty()) return;
  for (int t = 0; t < n_tokens; ++t) {
    float* out = y + static_cast<size_t>(t) * y_stride;
    for (int r = 0; r < layer.out_features(); ++r) out[r] += layer.bias[static_cast<size_t>(r)];
  }
}

}  // namespace nibble
