// The lane structure every AVX-512 float dot product shares, so that qlinear_wf's fused
// rows give exactly avx512::dot_f32's bits. Include only from src/kernels/avx512/ (these
// inline helpers are compiled with AVX-512 flags; internal linkage keeps them out of
// baseline objects).
#pragma once

#include <immintrin.h>

namespace nibble::avx512 {
namespace {

// Elements 32j .. 32j+15 accumulate in acc0 and 32j+16 .. 32j+31 in acc1 (one FMA each);
// a last partial block of r < 32 elements puts its first min(r, 16) in acc0 and the rest
// in acc1 with masked FMAs (lanes outside the mask keep their value); then acc0 + acc1
// is summed by halves: 16 -> 8 -> 4 -> 2 -> 1 lanes.
struct DotLanes {
  __m512 acc0 = _mm512_setzero_ps();
  __m512 acc1 = _mm512_setzero_ps();

  void block(__m512 a0, __m512 b0, __m512 a1, __m512 b1) {
    acc0 = _mm512_fmadd_ps(a0, b0, acc0);
    acc1 = _mm512_fmadd_ps(a1, b1, acc1);
  }

  // The partial last block: r (0 < r < 32) elements of a and b.
  void tail(const float* a, const float* b, int r) {
    const __mmask16 m0 = static_cast<__mmask16>(r >= 16 ? 0xffffu : (1u << r) - 1u);
    const __mmask16 m1 = static_cast<__mmask16>(r <= 16 ? 0u : (1u << (r - 16)) - 1u);
    acc0 = _mm512_mask3_fmadd_ps(_mm512_maskz_loadu_ps(m0, a), _mm512_maskz_loadu_ps(m0, b), acc0, m0);
    acc1 = _mm512_mask3_fmadd_ps(_mm512_maskz_loadu_ps(m1, a + 16), _mm512_maskz_loadu_ps(m1, b + 16), acc1, m1);
  }

  float sum() const {
    const __m512 s16 = _mm512_add_ps(acc0, acc1);
    const __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(s16),
                                    _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s16), 1)));
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    s4 = _mm_add_ss(s4, _mm_movehdup_ps(s4));
    return _mm_cvtss_f32(s4);
  }
};

}  // namespace
}  // namespace nibble::avx512
