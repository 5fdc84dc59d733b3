// Sixteen stored scales widened to float at once, for the AVX-512 kernels. Include only from
// src/kernels/avx512/ and src/kernels/amx/ (AVX-512 flags; internal linkage).
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "quant/scheme.h"

namespace nibble::avx512 {
namespace {

// The first n (<= 16) scales of type kScale at p, lanes past n zero, each widened exactly as
// scale_at / load_scale do: one masked load and one convert.
template <ScaleType kScale>
inline __m512 load_scales16(const uint8_t* p, int n = 16) {
  const __mmask16 m = static_cast<__mmask16>(n >= 16 ? 0xffffu : (1u << n) - 1u);
  if constexpr (kScale == ScaleType::kF32) {
    return _mm512_maskz_loadu_ps(m, p);
  } else {
    const __m256i h = _mm256_maskz_loadu_epi16(m, p);
    if constexpr (kScale == ScaleType::kF16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
}

}  // namespace
}  // namespace nibble::avx512
