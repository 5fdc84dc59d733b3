#include "kernels/avx2/f32_avx2.h"

#include <immintrin.h>

namespace nibble::avx2 {

float dot_f32(const float* a, const float* b, int n) {
  __m256 acc0 = _mm256_setzero_ps();
  __m256 acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps();
  __m256 acc3 = _mm256_setzero_ps();
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), acc3);
  }
  for (; i + 8 <= n; i += 8)
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  __m256 acc = _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3));
  __m128 half = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  half = _mm_add_ps(half, _mm_movehl_ps(half, half));
  half = _mm_add_ss(half, _mm_movehdup_ps(half));
  float sum = _mm_cvtss_f32(half);
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

}  // namespace nibble::avx2

namespace nibble::avx2 {

void attention_scores(const float* q, const float* keys, size_t stride, int n_positions, int head_dim,
                      float scale, float* out) {
  for (int s = 0; s < n_positions; ++s) out[s] = dot_f32(q, keys + s * stride, head_dim) * scale;
}

void attention_values(const float* weights, const float* values, size_t stride, int n_positions,
                      int head_dim, float* out) {
  const int vec_end = head_dim - head_dim % 8;
  for (int i = 0; i < head_dim; ++i) out[i] = 0.0f;
  for (int s = 0; s < n_positions; ++s) {
    const __m256 a = _mm256_set1_ps(weights[s]);
    const float* v = values + s * stride;
    int i = 0;
    for (; i < vec_end; i += 8)
      _mm256_storeu_ps(out + i, _mm256_fmadd_ps(a, _mm256_loadu_ps(v + i), _mm256_loadu_ps(out + i)));
    for (; i < head_dim; ++i) out[i] += weights[s] * v[i];
  }
}

}  // namespace nibble::avx2
