#include "kernels/ops.h"

#include <algorithm>
#include <cmath>

#include "kernels/kernel_table.h"

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

void linear_forward(const Linear& layer, const float* x, size_t x_stride, int n_tokens, float* y,
                    size_t y_stride, ThreadPool& pool) {
  matmul(layer.weight, x, x_stride, n_tokens, y, y_stride, pool);
  if (layer.bias.empty()) return;
  for (int t = 0; t < n_tokens; ++t) {
    float* out = y + static_cast<size_t>(t) * y_stride;
    for (int r = 0; r < layer.weight.rows; ++r) out[r] += layer.bias[static_cast<size_t>(r)];
  }
}

}  // namespace nibble
