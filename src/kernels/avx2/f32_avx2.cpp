#include "kernels/avx2/f32_avx2.h"

#include <immintrin.h>

namespace nibble::avx2 {

namespace {

// The eight lanes of v summed by halves: 8 -> 4 -> 2 -> 1.
inline float sum_lanes(__m256 v) {
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  return _mm_cvtss_f32(h);
}

// All bits set in the first m (< 8) lanes: the mask of a partial last vector.
inline __m256i first_lanes(int m) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(m), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

}  // namespace

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
  float sum = sum_lanes(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
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

namespace {

// exp of eight lanes: Cephes expf's reduction and polynomial (x = n ln2 + r, |r| <= ln2 / 2,
// e^r by a degree-7 polynomial, 2^n built in the exponent field in two halves so n = 128
// does not overflow the field). exp(x) = 0 below ln(2^-126), +inf above ln(FLT_MAX), NaN
// for NaN (the comparisons and min/max keep it).
inline __m256 exp8(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-87.3365478515625f), hi = _mm256_set1_ps(88.72283935546875f);
  const __m256 underflow = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  const __m256 overflow = _mm256_cmp_ps(x, hi, _CMP_GT_OQ);
  __m256 v = _mm256_max_ps(lo, _mm256_min_ps(hi, x));  // second operand on NaN: NaN stays
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(v, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  v = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), v);
  v = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), v);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, v, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, v, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, v, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, v, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, v, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(v, v), v);
  y = _mm256_add_ps(y, _mm256_set1_ps(1.0f));
  const __m256i ni = _mm256_cvtps_epi32(n);  // integral already: exact
  const __m256i half = _mm256_srai_epi32(ni, 1);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 p1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(half, bias), 23));
  const __m256 p2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, half), bias), 23));
  y = _mm256_mul_ps(_mm256_mul_ps(y, p1), p2);
  y = _mm256_andnot_ps(underflow, y);
  return _mm256_blendv_ps(y, _mm256_set1_ps(__builtin_inff()), overflow);
}

}  // namespace

void exp_f32(const float* x, float* out, int n) {
  int i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, exp8(_mm256_loadu_ps(x + i)));
  if (i < n) {
    const __m256i m = first_lanes(n - i);
    _mm256_maskstore_ps(out + i, m, exp8(_mm256_maskload_ps(x + i, m)));
  }
}

void softmax(float* x, int n) {
  float max_value = x[0];
  for (int i = 1; i < n; ++i) max_value = max_value < x[i] ? x[i] : max_value;  // std::max's choice
  const __m256 m = _mm256_set1_ps(max_value);
  __m256 acc = _mm256_setzero_ps();
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), m));
    _mm256_storeu_ps(x + i, e);
    acc = _mm256_add_ps(acc, e);
  }
  float sum = sum_lanes(acc);
  if (i < n) {
    // The partial last vector: its exps stored, then added one by one after the lanes.
    const __m256i tail = first_lanes(n - i);
    _mm256_maskstore_ps(x + i, tail, exp8(_mm256_sub_ps(_mm256_maskload_ps(x + i, tail), m)));
    for (int j = i; j < n; ++j) sum += x[j];
  }
  const __m256 s = _mm256_set1_ps(sum);
  int j = 0;
  for (; j + 8 <= n; j += 8) _mm256_storeu_ps(x + j, _mm256_div_ps(_mm256_loadu_ps(x + j), s));
  for (; j < n; ++j) x[j] /= sum;
}

void silu_mul(float* gate, const float* up, int n) {
  const __m256 one = _mm256_set1_ps(1.0f);
  auto silu_mul8 = [&](__m256 g, __m256 u) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
    return _mm256_mul_ps(_mm256_mul_ps(g, _mm256_div_ps(one, _mm256_add_ps(one, e))), u);
  };
  int i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(gate + i, silu_mul8(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
  if (i < n) {
    const __m256i m = first_lanes(n - i);
    _mm256_maskstore_ps(gate + i, m, silu_mul8(_mm256_maskload_ps(gate + i, m), _mm256_maskload_ps(up + i, m)));
  }
}

}  // namespace nibble::avx2
