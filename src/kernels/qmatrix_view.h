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

// Panels (kernels/a8_panels.h): blocks of 16 rows, read in 64-byte chunks and lines.
inline constexpr int kPanelRows = 16;
inline constexpr int kPanelChunkBytes = 64;

// Where an a8 layer's panels keep each group of each block.
struct PanelLayout {
  int chunks_per_row = 0;  // ceil(cols / E); 0 when the matrix has no panels
  int group_chunks = 0;    // chunk slots per group: group / E, or chunks_per_row for one group per row
  int n_groups = 0;
  int unit_groups = 0;     // groups per unit: as many as one line of kPanelChunkBytes of scales holds, <= n_groups
  size_t unit_bytes = 0;   // (unit_groups * group_chunks + 1) * kPanelChunkBytes: the codes, then the scales
  // A block's units; the last one holds only the groups left (n_groups % unit_groups when
  // that is not 0), its line of scales right after their codes.
  size_t block_bytes = 0;
};

// Offsets into the panels' bytes. Internal linkage: every file that uses them, the ISA files
// included, compiles its own copy with its own flags (see above).
namespace panel_offsets {
namespace {
// Group g of `block`: its first chunk slot.
inline size_t group_codes(const PanelLayout& p, int block, int g) {
  return static_cast<size_t>(block) * p.block_bytes + static_cast<size_t>(g / p.unit_groups) * p.unit_bytes +
         static_cast<size_t>(g % p.unit_groups) * static_cast<size_t>(p.group_chunks) * kPanelChunkBytes;
}
// Groups in the unit that starts at group `first`.
inline int unit_size(const PanelLayout& p, int first) {
  return p.n_groups - first < p.unit_groups ? p.n_groups - first : p.unit_groups;
}
// Group g of `block`: its kPanelRows scales of `scale_bytes` each, in the line after its unit's codes.
inline size_t group_scales(const PanelLayout& p, int block, int g, size_t scale_bytes) {
  const int first = g - g % p.unit_groups;
  return static_cast<size_t>(block) * p.block_bytes + static_cast<size_t>(g / p.unit_groups) * p.unit_bytes +
         static_cast<size_t>(unit_size(p, first)) * static_cast<size_t>(p.group_chunks) * kPanelChunkBytes +
         static_cast<size_t>(g % p.unit_groups) * kPanelRows * scale_bytes;
}
}  // namespace
}  // namespace panel_offsets

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
  // The same weights as 16-row panels (kernels/a8_panels.h), or null / all 0 without them.
  PanelLayout panel;
  const uint8_t* panel_bytes = nullptr;  // A8Panels::bytes
  bool panel_negatable = false;          // A8Panels::negatable
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
