// Scale search (`--algo mse`): for one group, the stored scale (and zero point) that
// minimises the importance-weighted squared error
//
//   E = sum_i h_i * (x_i - dequant_i)^2,   dequant_i = c_i * s   (int4 asym: (q_i - z) * s)
//
// where s is the scale as stored (after rounding to f16/bf16) and h_i >= 0 is the
// importance of input channel i (mean squared activation from calibration text; all ones
// when none is given). Candidates: the round-to-nearest result of group_quantizers.h
// itself, then a grid of clipped scales, each refitted by weighted least squares and
// re-rounded at the stored scale (in the spirit of llama.cpp's make_qx_quants). The
// round-to-nearest candidate is evaluated first and only a strictly lower E replaces it,
// so the search never does worse than RTN on E, and returns RTN's codes on ties.
//
// Codes and scales obey the same format rules as RTN (docs/QUANT_LAYOUTS.md): int8 sym
// codes in [-127, 127], int4 sym in [-8, 7], int4 asym q and z in [0, 15]. Deterministic:
// the same group and importance give the same bits.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "quant/scheme.h"

namespace nibble {

// Nearest level of v / s (given inverse = 1 / s), clamped to [lo, hi]; the float is clamped
// before the conversion so no value (however large) reaches it out of int's range.
inline int nearest_level(float v, float inverse, int lo, int hi) {
  const float q = std::clamp(v * inverse, static_cast<float>(lo) - 1.0f, static_cast<float>(hi) + 1.0f);
  return std::clamp(static_cast<int>(std::lround(q)), lo, hi);
}

// E above for given codes and stored scale; `importance` null means all ones. Accumulated
// in double, in element order.
double weighted_group_error(const float* x, const float* importance, int n, const int8_t* codes, float scale);
double weighted_group_error_asym(const float* x, const float* importance, int n, const uint8_t* codes, int zero,
                                 float scale);

// Each writes the codes (and zero point) and returns the stored scale, like the RTN
// functions of group_quantizers.h.
float search_group_int8_sym(const float* x, const float* importance, int n, ScaleType type, int8_t* codes);
float search_group_int4_sym(const float* x, const float* importance, int n, ScaleType type, int8_t* codes);
float search_group_int4_asym(const float* x, const float* importance, int n, ScaleType type, uint8_t* codes,
                             uint8_t* zero_point);

}  // namespace nibble
