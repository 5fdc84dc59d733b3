#include "kernels/ops.h"

#include <algorithm>
#include <cmath>

#include <vector>

#include "kernels/kernel_table.h"
#include "kernels/qmatrix_view.h"
#include "kernels/scalar/f32_scalar.h"
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

void softmax(float* x, int n) { scalar::softmax(x, n); }

namespace {

void float_matmul(const DenseMatrix& w, const float* x, size_t x_stride, int n_tokens, float* y,
                  size_t y_stride, ThreadPool& pool, const KernelTable& k) {
  const auto dot = k.dot_f32;
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

}  // namespace

void matmul(const DenseMatrix& w, const float* x, size_t x_stride, int n_tokens, float* y,
            size_t y_stride, ThreadPool& pool) {
  float_matmul(w, x, x_stride, n_tokens, y, y_stride, pool, kernels());
}

namespace {

// Quantized layer through the table's kernels. a8 schemes first quantize each token's
// activations (per token, u8) into rows padded to a multiple of 32 with zeros. Rows are
// split across the pool in multiples of 16 (whole blocks of the SIMD kernels' 8 rows);
// every output is computed by one thread, independently of the split.
void quantized_forward(const QuantizedMatrix& w, const float* x, size_t x_stride, int n_tokens, float* y,
                       size_t y_stride, ThreadPool& pool, const KernelTable& k) {
  const QMatrixView view = view_of(w);
  constexpr size_t kRowGrain = 16;
  if (w.activation == ActivationMode::kInt8Token) {
    const size_t stride = activation_stride(w.cols);
    std::vector<uint8_t> act_codes(static_cast<size_t>(n_tokens) * stride, 0);
    std::vector<float> act_scales(static_cast<size_t>(n_tokens));
    std::vector<int32_t> act_zeros(static_cast<size_t>(n_tokens));
    auto quantize_tokens = [&](size_t begin, size_t end) {
      for (size_t t = begin; t < end; ++t)
        k.quantize_activation_row(x + t * x_stride, w.cols, act_codes.data() + t * stride, &act_scales[t],
                                  &act_zeros[t]);
    };
    // Tokens are independent: split across the pool (one token runs inline).
    pool.parallel_for(static_cast<size_t>(n_tokens), 1, quantize_tokens);
    const ActivationCodes act{act_codes.data(), stride, act_scales.data(), act_zeros.data(), n_tokens};
    pool.parallel_for(static_cast<size_t>(w.rows), kRowGrain, [&](size_t begin, size_t end) {
      k.qlinear_a8(view, act, static_cast<int>(begin), static_cast<int>(end), y, y_stride);
    });
    return;
  }
  pool.parallel_for(static_cast<size_t>(w.rows), kRowGrain, [&](size_t begin, size_t end) {
    k.qlinear_wf(view, x, x_stride, n_tokens, static_cast<int>(begin), static_cast<int>(end), y, y_stride);
  });
}

}  // namespace

void linear_forward(const Linear& layer, const float* x, size_t x_stride, int n_tokens, float* y,
                    size_t y_stride, ThreadPool& pool) {
  linear_forward(layer, x, x_stride, n_tokens, y, y_stride, pool, kernels());
}

void linear_forward(const Linear& layer, const float* x, size_t x_stride, int n_tokens, float* y,
                    size_t y_stride, ThreadPool& pool, const KernelTable& table) {
  if (layer.quantized) {
    quantized_forward(*layer.quantized, x, x_stride, n_tokens, y, y_stride, pool, table);
  } else {
    float_matmul(layer.weight, x, x_stride, n_tokens, y, y_stride, pool, table);
  }
  if (layer.bias.empty()) return;
  for (int t = 0; t < n_tokens; ++t) {
    float* out = y + static_cast<size_t>(t) * y_stride;
    for (int r = 0; r < layer.out_features(); ++r) out[r] += layer.bias[static_cast<size_t>(r)];
  }
}

}  // namespace nibble
