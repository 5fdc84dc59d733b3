#include "quant/group_quantizers.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace nibble {

namespace {

// A scale below FLT_MIN (subnormal) has no finite inverse: x * (1 / d) would be NaN for
// x = 0 and the conversion to an integer undefined. Such a group's values are all below
// 127 * FLT_MIN (about 1.5e-36) in magnitude, so it is stored as an all-zero group.
float flush_subnormal(float d) { return std::fabs(d) < std::numeric_limits<float>::min() ? 0.0f : d; }

}  // namespace

float quantize_group_int8_sym(const float* x, int n, ScaleType type, int8_t* codes) {
  float amax = 0.0f;
  for (int i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  const float d = flush_subnormal(amax / 127.0f);
  const float inverse = d != 0.0f ? 1.0f / d : 0.0f;
  for (int i = 0; i < n; ++i) codes[i] = static_cast<int8_t>(std::round(x[i] * inverse));
  return round_scale(d, type);
}

float quantize_group_int4_sym(const float* x, int n, ScaleType type, int8_t* codes) {
  float amax = 0.0f;
  float signed_max = 0.0f;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      signed_max = x[i];
    }
  }
  const float d = flush_subnormal(signed_max / -8.0f);
  const float inverse = d != 0.0f ? 1.0f / d : 0.0f;
  for (int i = 0; i < n; ++i) {
    // x * inverse is in [-8, 8]; adding 8.5 and truncating rounds half up.
    const int offset = std::min(15, static_cast<int>(static_cast<int8_t>(x[i] * inverse + 8.5f)));
    codes[i] = static_cast<int8_t>(offset - 8);
  }
  return round_scale(d, type);
}

AsymmetricRange asymmetric_range(const float* x, int n, int levels) {
  float lo = 0.0f, hi = 0.0f;
  bool finite = true;
  for (int i = 0; i < n; ++i) {
    finite = finite && std::isfinite(x[i]);
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  AsymmetricRange range;
  range.levels = levels;
  if (!finite) {
    range.scale = std::numeric_limits<float>::quiet_NaN();
    return range;
  }
  range.scale = flush_subnormal((hi - lo) / static_cast<float>(levels));
  if (range.scale == 0.0f) return range;
  range.inverse = 1.0f / range.scale;
  range.zero = std::clamp(static_cast<int>(std::round(-lo * range.inverse)), 0, levels);
  return range;
}

float quantize_group_int4_asym(const float* x, int n, ScaleType type, uint8_t* codes, uint8_t* zero_point) {
  const AsymmetricRange range = asymmetric_range(x, n, 15);
  *zero_point = static_cast<uint8_t>(range.zero);
  if (range.scale == 0.0f) {
    std::fill(codes, codes + n, 0);
    return 0.0f;
  }
  for (int i = 0; i < n; ++i) codes[i] = static_cast<uint8_t>(range.level(x[i]));
  return round_scale(range.scale, type);
}

}  // namespace nibble
