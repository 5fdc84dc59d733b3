#include "kernels/scalar/f32_scalar.h"

#include <algorithm>
#include <cmath>

namespace nibble::scalar {

float dot_f32(const float* a, const float* b, int n) {
  float sum = 0.0f;
  for (int i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

}  // namespace nibble::scalar

namespace nibble::scalar {

void attention_scores(const float* q, const float* keys, size_t stride, int n_positions, int head_dim,
                      float scale, float* out) {
  for (int s = 0; s < n_positions; ++s) out[s] = dot_f32(q, keys + s * stride, head_dim) * scale;
}

void attention_values(const float* weights, const float* values, size_t stride, int n_positions,
                      int head_dim, float* out) {
  for (int i = 0; i < head_dim; ++i) out[i] = 0.0f;
  for (int s = 0; s < n_positions; ++s) {
    const float a = weights[s];
    const float* v = values + s * stride;
    for (int i = 0; i < head_dim; ++i) out[i] += a * v[i];
  }
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

void silu_mul(float* gate, const float* up, int n) {
  for (int i = 0; i < n; ++i) {
    float g = gate[i];
    g *= 1.0f / (1.0f + std::exp(-g));
    gate[i] = g * up[i];
  }
}

}  // namespace nibble::scalar
