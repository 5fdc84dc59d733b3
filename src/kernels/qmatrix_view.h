// What the quantized kernels read: a QuantizedMatrix and a batch of quantized
// activations as plain pointers and sizes.
//
// Why plain structs: the kernels under src/kernels/<isa>/ are compiled with that ISA's
// flags. An inline function or template they used from a shared header (Buffer::data(),
// std::vector, std::min...) could be emitted in their object with AVX instructions, and
// the linker may then keep that copy for baseline callers too. So the ISA files touch only
// these structs, intrinsics and functions defined out of line.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/scheme.h"

namespace nibble {

struct QuantizedMatrix;

// A read-only view of a QuantizedMatrix (layout: quant/quantized_matrix.h).
struct QMatrixView {
  WeightCodec codec = WeightCodec::kInt8Sym;
  ScaleType scale_type = ScaleType::kF16;
  int rows = 0;
  int cols = 0;
  int group = 0;     // effective group size G (cols for per channel)
  int n_groups = 0;  // ceil(cols / G)
  size_t row_bytes = 0;
  const uint8_t* codes = nullptr;        // rows * row_bytes
  const uint8_t* scales = nullptr;       // rows * n_groups scales of scale_type, little-endian
  const uint8_t* zero_points = nullptr;  // rows * n_groups (int4 asym) or null
  const int32_t* code_sums = nullptr;    // rows * n_groups (a8 layers) or null
  // The same weights as 16-row panels (kernels/a8_panels.h), or null / 0 without them.
  int panel_chunks = 0;                  // chunks per row
  const uint8_t* panel_codes = nullptr;
  const uint8_t* panel_scales = nullptr;  // in scale_type
  bool panel_negatable = false;           // A8Panels::negatable
};

QMatrixView view_of(const QuantizedMatrix& m);

// Per-token asymmetric u8 activations of one a8 layer call (n_tokens rows).
// Row t holds the `cols` codes of token t, then zeros up to `stride`; `stride` is a
// multiple of 32 so kernels may read whole 32-byte chunks. The padding is never given
// weight: the matching weight codes are zero (int4 padding) or not read (see kernels).
struct ActivationCodes {
  const uint8_t* codes = nullptr;  // n_tokens * stride
  size_t stride = 0;
  const float* scales = nullptr;   // n_tokens activation scales s_a
  const int32_t* zeros = nullptr;  // n_tokens zero points z_a in [0, 255]
  int n_tokens = 0;
};

// Row length of an ActivationCodes buffer for `cols` inputs: cols rounded up to 32.
inline size_t activation_stride(int cols) { return (static_cast<size_t>(cols) + 31) / 32 * 32; }

}  // namespace nibble
