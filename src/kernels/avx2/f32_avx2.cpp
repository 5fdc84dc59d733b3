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

namespace {

// Sum of each vector's lanes: lane j of the result = the sum of v[j]'s eight lanes.
inline __m256 sum_lanes8(const __m256* v) {
  const __m256 s01 = _mm256_hadd_ps(v[0], v[1]);
  const __m256 s23 = _mm256_hadd_ps(v[2], v[3]);
  const __m256 s45 = _mm256_hadd_ps(v[4], v[5]);
  const __m256 s67 = _mm256_hadd_ps(v[6], v[7]);
  const __m256 s0123 = _mm256_hadd_ps(s01, s23);  // v0..v3: low-half sums | high-half sums
  const __m256 s4567 = _mm256_hadd_ps(s45, s67);
  return _mm256_add_ps(_mm256_permute2f128_ps(s0123, s4567, 0x20), _mm256_permute2f128_ps(s0123, s4567, 0x31));
}

}  // namespace

void attention_scores(const float* q, const float* keys, size_t stride, int n_positions, int head_dim,
                      float scale, float* out) {
  int s = 0;
  if (head_dim % 8 == 0) {
    // Eight positions at a time: one FMA chain per position, q loaded once for the eight,
    // then the eight chains summed together (no per-position horizontal reduction).
    const __m256 scale8 = _mm256_set1_ps(scale);
    for (; s + 8 <= n_positions; s += 8) {
      const float* k = keys + static_cast<size_t>(s) * stride;
      __m256 acc[8];
      for (int j = 0; j < 8; ++j) acc[j] = _mm256_setzero_ps();
      for (int i = 0; i < head_dim; i += 8) {
        const __m256 qi = _mm256_loadu_ps(q + i);
        for (int j = 0; j < 8; ++j) acc[j] = _mm256_fmadd_ps(qi, _mm256_loadu_ps(k + j * stride + i), acc[j]);
      }
      _mm256_storeu_ps(out + s, _mm256_mul_ps(sum_lanes8(acc), scale8));
    }
  }
  for (; s < n_positions; ++s) out[s] = dot_f32(q, keys + s * stride, head_dim) * scale;
}

void attention_values(const float* weights, const float* values, size_t stride, int n_positions,
                      int head_dim, float* out) {
  // Each output element is sum over s ascending of weights[s] * v[s][i], one FMA per term
  // from 0; 32 elements at a time stay in registers across all positions.
  int i = 0;
  for (; i + 32 <= head_dim; i += 32) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    for (int s = 0; s < n_positions; ++s) {
      const __m256 w = _mm256_set1_ps(weights[s]);
      const float* v = values + s * stride + i;
      a0 = _mm256_fmadd_ps(w, _mm256_loadu_ps(v), a0);
      a1 = _mm256_fmadd_ps(w, _mm256_loadu_ps(v + 8), a1);
      a2 = _mm256_fmadd_ps(w, _mm256_loadu_ps(v + 16), a2);
      a3 = _mm256_fmadd_ps(w, _mm256_loadu_ps(v + 24), a3);
    }
    _mm256_storeu_ps(out + i, a0);
    _mm256_storeu_ps(out + i + 8, a1);
    _mm256_storeu_ps(out + i + 16, a2);
    _mm256_storeu_ps(out + i + 24, a3);
  }
  for (; i + 8 <= head_dim; i += 8) {
    __m256 a0 = _mm256_setzero_ps();
    for (int s = 0; s < n_positions; ++s)
      a0 = _mm256_fmadd_ps(_mm256_set1_ps(weights[s]), _mm256_loadu_ps(values + s * stride + i), a0);
    _mm256_storeu_ps(out + i, a0);
  }
  for (; i < head_dim; ++i) {
    float sum = 0.0f;
    for (int s = 0; s < n_positions; ++s) sum += weights[s] * values[s * stride + i];
    out[i] = sum;
  }
}

}  // namespace nibble::avx2
