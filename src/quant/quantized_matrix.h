// QuantizedMatrix: a [rows][cols] weight matrix as integer codes plus per-group scales.
//
// Layout (docs/QUANT_LAYOUTS.md has the bit diagrams):
// - Groups: each row is cut into groups of G consecutive elements (G = cols for
//   per-channel); the last group is ragged when cols % G != 0 and gets its scale (and
//   zero point) from its real elements only. n_groups = ceil(cols / G).
// - int8 codes: one two's-complement byte per element, row_bytes = cols.
// - int4 codes: each row is cut into blocks of 32 elements (independent of G); in a block
//   of m elements (32, or fewer at the row's end) with h = ceil(m / 2), element j < h sits
//   in the low nibble of the block's byte j and element h + j in its high nibble — for a
//   full block, j and j + 16, as llama.cpp's Q4_0. row_bytes = ceil(cols / 2). Nibbles
//   hold offset binary u = c + 8 for int4 sym (c in [-8, 7]; u = 0 means -8) and q itself
//   for int4 asym. When m is odd the last high nibble is padding holding a zero weight
//   (u = 8 for sym, u = z for asym), so it adds exactly 0 whatever it is multiplied by.
// - scales: [rows][n_groups] in scale_type (little-endian); zero points (asym only):
//   [rows][n_groups] one byte each, in [0, 15].
// - code_sums (derived, not stored): [rows][n_groups] sum of signed codes per group, for
//   the activation zero-point correction of a8 schemes.
// - panels (derived, not stored; a8 layers on CPUs with AVX-512): the same codes, scales
//   and code sums in blocks of 16 interleaved rows for the VNNI kernel (kernels/a8_panels.h).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/buffer.h"
#include "core/status.h"
#include "kernels/a8_panels.h"
#include "model/weights.h"
#include "quant/algorithm.h"
#include "quant/scheme.h"

namespace nibble {

class ThreadPool;

struct QuantizedMatrix {
  QuantFormat format;
  ActivationMode activation = ActivationMode::kFloat;
  int rows = 0;
  int cols = 0;
  int group = 0;     // effective group size G
  int n_groups = 0;  // ceil(cols / G)
  size_t row_bytes = 0;
  // Owned after quantize_matrix(); borrowed from the mapped file after loading.
  Buffer<uint8_t> codes;        // rows * row_bytes
  Buffer<uint8_t> scales;       // rows * n_groups * scale bytes
  Buffer<uint8_t> zero_points;  // rows * n_groups (asym) or empty
  std::vector<int32_t> code_sums;    // rows * n_groups (sym codes) or empty
  A8Panels panels;                   // empty unless derive_a8_data built them

  const uint8_t* row_codes(int r) const { return codes.data() + static_cast<size_t>(r) * row_bytes; }
  float scale(int r, int g) const;
  int zero_point(int r, int g) const;
  // Signed weight code of element i of row r (int4 asym: q - z), so w = code * scale.
  int code(int r, int i) const;
  bool ragged() const { return cols % group != 0; }

  // w[i] = code(r, i) * scale(r, i / G) for i < cols.
  void dequantize_row(int r, float* out) const;

  // Bytes of codes, scales and zero points (code_sums and panels are derived, not counted).
  size_t stored_bytes() const { return codes.size() + scales.size() + zero_points.size(); }
  // Storage bits per logical weight.
  double bits_per_weight() const {
    return 8.0 * static_cast<double>(stored_bytes()) / (static_cast<double>(rows) * cols);
  }
};

// Bytes of packed codes for one row of `cols` elements.
size_t packed_row_bytes(WeightCodec codec, int cols);

// An error naming `name` and the first (row, group) whose scale is NaN or infinite. Loaders
// call it on scales read from a file: a non-finite scale would turn every output it touches
// into NaN, silently, so a damaged file must be refused instead.
Status check_scales_finite(const QuantizedMatrix& m, const std::string& name);

// Position of element i of a row in the int4 layout: byte index and whether it is the
// high nibble.
inline void int4_position(int cols, int i, size_t* byte, bool* high) {
  const int block = i / 32;
  const int m = std::min(32, cols - block * 32);
  const int h = (m + 1) / 2;
  const int j = i - block * 32;
  *byte = static_cast<size_t>(block) * 16 + static_cast<size_t>(j < h ? j : j - h);
  *high = j >= h;
}

// How each group's scale is chosen (quant/algorithm.h); the stored format is the same.
struct QuantizeOptions {
  QuantAlgorithm algorithm = QuantAlgorithm::kRtn;
  // kMse only: w.cols importances (mean squared input activation per channel), or empty
  // for the plain squared weight error.
  std::span<const float> importance;
};

// Quantizes every row of `w`. Errors: group size out of range, non-finite weights or
// importances, an importance vector of the wrong length (`name` identifies the tensor).
Result<QuantizedMatrix> quantize_matrix(const DenseMatrix& w, const QuantFormat& format,
                                        ActivationMode activation, const std::string& name,
                                        const QuantizeOptions& options = {});

// Building blocks shared by the quantizers (quantize_matrix here, gptq_quantize in
// quant/gptq.h), so every algorithm writes the same layout.
//
// The checks every quantizer makes first: a valid format, no int8 activations with
// asymmetric codes, finite weights.
Status validate_quantize_input(const DenseMatrix& w, const QuantFormat& format, ActivationMode activation,
                              const std::string& name);
// One finite, non-negative importance per input channel.
Status validate_importance(std::span<const float> importance, int cols, const std::string& name);
// A matrix of the format's shape with zeroed codes, scales and zero points.
QuantizedMatrix allocate_quantized(const QuantFormat& format, ActivationMode activation, int rows, int cols);
// Stores the scale of (row r, group g); `stored_scale` is already representable in the
// format's scale type (round_scale), so storing it loses nothing.
void set_group_scale(QuantizedMatrix& m, int r, int g, float stored_scale);
// Packs row r's stored nibble values (int4 sym: c + 8; int4 asym: q), one per element, into
// the int4 layout; the row's zero points must be set first (they give the padding value).
void pack_int4_row(QuantizedMatrix& m, int r, const uint8_t* nibbles);

// What an a8 layer derives from its codes after quantizing or loading (or after its codes
// change): code_sums, and the panels when the CPU has AVX-512 (the only kernel reading
// them) and the format allows (panels_fit). Rows are split over `pool` (the same bytes for
// any thread count); null runs them on the calling thread.
void derive_a8_data(QuantizedMatrix& m, ThreadPool* pool = nullptr);

// Checks a format against a row length: group in [1, 65536] (int32 accumulators of an
// a8 group stay exact: 255 * 127 * 65536 < 2^31) or 0 for per-channel.
Status validate_format(const QuantFormat& format, int cols, const std::string& name);

}  // namespace nibble
