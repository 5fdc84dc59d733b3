#include "kernels/scalar/f32_scalar.h"

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

}  // namespace nibble::scalar
