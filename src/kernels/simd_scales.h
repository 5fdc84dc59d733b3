// Reading one stored group scale, for the x86 SIMD kernels. Include only from
// src/kernels/<isa>/ sources (the f16 case compiles to F16C's vcvtph2ps); the helpers have
// internal linkage, so each ISA's object keeps its own copy built with its own flags and
// nothing here is shared with baseline code.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/qmatrix_view.h"

namespace nibble {
namespace {

inline int imin(int a, int b) { return a < b ? a : b; }

// The scale at p widened to float exactly (as f16_to_f32 / bf16_to_f32 do).
inline float scale_at(ScaleType type, const uint8_t* p) {
  if (type == ScaleType::kF16) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return _cvtsh_ss(h);
  }
  if (type == ScaleType::kBF16) {
    uint16_t b;
    std::memcpy(&b, p, 2);
    const uint32_t bits = static_cast<uint32_t>(b) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
  float f;
  std::memcpy(&f, p, 4);
  return f;
}

inline int scale_bytes(ScaleType type) { return type == ScaleType::kF32 ? 4 : 2; }

}  // namespace
}  // namespace nibble
