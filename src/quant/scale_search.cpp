#include "quant/scale_search.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "quant/group_quantizers.h"

namespace nibble {

namespace {

void nearest_codes_sym(const float* x, int n, float s, int lo, int hi, int8_t* codes) {
  const float inverse = 1.0f / s;
  for (int i = 0; i < n; ++i) codes[i] = static_cast<int8_t>(nearest_level(x[i], inverse, lo, hi));
}

// argmin_s sum h (x - c s)^2 = sum h x c / sum h c^2 for codes c; 0 when every c is 0.
template <typename Code>
float least_squares_scale(const float* x, const float* h, int n, const Code* codes, int zero) {
  double num = 0.0, den = 0.0;
  for (int i = 0; i < n; ++i) {
    const double c = static_cast<double>(codes[i]) - zero;
    const double w = h ? h[i] : 1.0;
    num += w * x[i] * c;
    den += w * c * c;
  }
  return den > 0.0 ? static_cast<float>(num / den) : 0.0f;
}

// The stored form of a refitted scale, or 0 when it cannot be stored usefully (zero,
// subnormal, overflowing the scale type).
float storable(float s, ScaleType type) {
  if (!std::isfinite(s) || std::fabs(s) < std::numeric_limits<float>::min()) return 0.0f;
  const float stored = round_scale(s, type);
  return std::isfinite(stored) && std::fabs(stored) >= std::numeric_limits<float>::min() ? stored : 0.0f;
}

// A per-thread scratch buffer for trial codes (groups hold up to 65536 elements).
template <typename Code>
Code* scratch(int n) {
  thread_local std::vector<Code> buffer;
  if (buffer.size() < static_cast<size_t>(n)) buffer.resize(static_cast<size_t>(n));
  return buffer.data();
}

// The symmetric search: `rtn_scale` holds RTN's stored scale and `codes` its codes.
// `bases` are the unrefined candidate scales.
float search_sym(const float* x, const float* h, int n, ScaleType type, int lo, int hi,
                 const std::vector<float>& bases, float rtn_scale, int8_t* codes) {
  float best_scale = rtn_scale;
  double best_error = weighted_group_error(x, h, n, codes, rtn_scale);
  int8_t* trial = scratch<int8_t>(n);
  for (float base : bases) {
    if (storable(base, ScaleType::kF32) == 0.0f) continue;
    nearest_codes_sym(x, n, base, lo, hi, trial);
    const float s = storable(least_squares_scale(x, h, n, trial, 0), type);
    if (s == 0.0f) continue;
    nearest_codes_sym(x, n, s, lo, hi, trial);  // the best codes for the scale as stored
    const double error = weighted_group_error(x, h, n, trial, s);
    if (error < best_error) {
      best_error = error;
      best_scale = s;
      std::copy(trial, trial + n, codes);
    }
  }
  return best_scale;
}

}  // namespace

double weighted_group_error(const float* x, const float* importance, int n, const int8_t* codes, float scale) {
  double sum = 0.0;
  for (int i = 0; i < n; ++i) {
    const double d = static_cast<double>(x[i]) - static_cast<float>(codes[i]) * scale;
    sum += (importance ? importance[i] : 1.0) * d * d;
  }
  return sum;
}

double weighted_group_error_asym(const float* x, const float* importance, int n, const uint8_t* codes, int zero,
                                 float scale) {
  double sum = 0.0;
  for (int i = 0; i < n; ++i) {
    const double d = static_cast<double>(x[i]) - static_cast<float>(codes[i] - zero) * scale;
    sum += (importance ? importance[i] : 1.0) * d * d;
  }
  return sum;
}

float search_group_int8_sym(const float* x, const float* importance, int n, ScaleType type, int8_t* codes) {
  const float rtn = quantize_group_int8_sym(x, n, type, codes);
  if (rtn == 0.0f) return rtn;  // an all-zero group: nothing to improve
  float amax = 0.0f;
  for (int i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  // amax mapped to 111..143: from clipping the extremes to leaving headroom that the
  // least-squares refit then moves.
  std::vector<float> bases;
  for (int k = -16; k <= 16; ++k) bases.push_back(amax / static_cast<float>(127 + k));
  return search_sym(x, importance, n, type, -127, 127, bases, rtn, codes);
}

float search_group_int4_sym(const float* x, const float* importance, int n, ScaleType type, int8_t* codes) {
  const float rtn = quantize_group_int4_sym(x, n, type, codes);
  if (rtn == 0.0f) return rtn;
  float amax = 0.0f, signed_max = 0.0f;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      signed_max = x[i];
    }
  }
  // Two families: the extreme mapped near -8 (RTN's choice, using the extra negative
  // level) and near +7 (the other sign then gets the extra level).
  std::vector<float> bases;
  for (int k = -10; k <= 10; ++k) {
    bases.push_back(signed_max / -(8.0f + 0.1f * static_cast<float>(k)));
    bases.push_back(signed_max / (7.0f + 0.1f * static_cast<float>(k)));
  }
  return search_sym(x, importance, n, type, -8, 7, bases, rtn, codes);
}

float search_group_int4_asym(const float* x, const float* importance, int n, ScaleType type, uint8_t* codes,
                             uint8_t* zero_point) {
  const float rtn = quantize_group_int4_asym(x, n, type, codes, zero_point);
  if (rtn == 0.0f) return rtn;
  float lo = 0.0f, hi = 0.0f;
  for (int i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  float best_scale = rtn;
  double best_error = weighted_group_error_asym(x, importance, n, codes, *zero_point, rtn);
  uint8_t* trial = scratch<uint8_t>(n);
  auto levels = [&](float s, int z) {
    const float inverse = 1.0f / s;
    for (int i = 0; i < n; ++i) trial[i] = static_cast<uint8_t>(nearest_level(x[i], inverse, -z, 15 - z) + z);
  };
  // The range shrunk by up to 30% (clipping the tails) or widened by 4%; for each, the
  // nearest zero point and its two neighbours.
  for (int k = -2; k <= 15; ++k) {
    const float base = (hi - lo) / 15.0f * (1.0f - 0.02f * static_cast<float>(k));
    if (storable(base, ScaleType::kF32) == 0.0f) continue;
    const int z0 = std::clamp(static_cast<int>(std::lround(-lo / base)), 0, 15);
    for (int z = std::max(0, z0 - 1); z <= std::min(15, z0 + 1); ++z) {
      levels(base, z);
      const float s = storable(least_squares_scale(x, importance, n, trial, z), type);
      if (s <= 0.0f) continue;  // the asymmetric convention keeps scales positive
      levels(s, z);
      const double error = weighted_group_error_asym(x, importance, n, trial, z, s);
      if (error < best_error) {
        best_error = error;
        best_scale = s;
        *zero_point = static_cast<uint8_t>(z);
        std::copy(trial, trial + n, codes);
      }
    }
  }
  return best_scale;
}

}  // namespace nibble
