// The reference rounding rules: one group of consecutive floats to integer codes and a
// scale. Every other quantizer (SIMD, GPTQ...) must produce what these produce for the
// same scale. Rules (docs/QUANT_LAYOUTS.md):
//
//   int8 sym   d = amax / 127; c = round_half_away(x / d), in [-127, 127]   (= llama.cpp Q8_0)
//   int4 sym   m = the element of largest magnitude (first on ties), d = m / -8;
//              c = min(7, trunc(x / d + 8.5) - 8), in [-8, 7]              (= llama.cpp Q4_0)
//              so m maps to -8 exactly, and values of the other sign clamp at +7.
//   int4 asym  lo = min(0, min x), hi = max(0, max x), d = (hi - lo) / 15,
//              z = clamp(round(-lo / d), 0, 15), q = clamp(round(x / d) + z, 0, 15)
//
// The codes are computed with the unrounded scale (as llama.cpp does); the scale is then
// stored in the requested type, and dequantization uses the stored value. An all-zero
// group has scale 0 and codes 0 (z = 0). The returned value is the stored scale.
#pragma once

#include <algorithm>
#include <cmath>

#include <cstdint>

#include "quant/scheme.h"

namespace nibble {

// The asymmetric rule shared by int4 asym weights (levels 15) and per-token u8
// activations (levels 255): lo = min(0, min x), hi = max(0, max x), scale = (hi - lo) /
// levels, zero = clamp(round(-lo / scale), 0, levels); scale 0 (all-zero input, or a range
// so small that the scale is subnormal) gives zero 0 and all levels 0.
// An input holding NaN or Inf gives scale NaN (and inverse 0), so the NaN reaches the
// output instead of being hidden, and level() below never converts a non-finite float.
struct AsymmetricRange {
  float scale = 0.0f;
  float inverse = 0.0f;  // 1 / scale, 0 when scale is 0 or NaN
  int zero = 0;
  int levels = 0;

  // The stored level of v: clamp(round(v / scale) + zero, 0, levels).
  int level(float v) const {
    const float q = v * inverse;
    // A float outside int's range (or NaN) must not reach the conversion (UB): such a
    // value is clamped already, and NaN maps to level 0.
    if (!(q > -1e9f)) return 0;
    if (q > 1e9f) return levels;
    return std::clamp(static_cast<int>(std::round(q)) + zero, 0, levels);
  }
};
AsymmetricRange asymmetric_range(const float* x, int n, int levels);

float quantize_group_int8_sym(const float* x, int n, ScaleType type, int8_t* codes);
float quantize_group_int4_sym(const float* x, int n, ScaleType type, int8_t* codes);
float quantize_group_int4_asym(const float* x, int n, ScaleType type, uint8_t* codes, uint8_t* zero_point);

}  // namespace nibble
