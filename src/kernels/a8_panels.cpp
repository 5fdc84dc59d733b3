#include "kernels/a8_panels.h"

#include <algorithm>
#include <cstring>

#include "kernels/qmatrix_view.h"
#include "kernels/scalar/qlinear_scalar.h"
#include "quant/quantized_matrix.h"

namespace nibble {

int panel_chunk_elements(const QuantizedMatrix& m) { return m.format.codec == WeightCodec::kInt8Sym ? 4 : 8; }

bool panels_fit(const QuantizedMatrix& m) {
  if (m.format.codec == WeightCodec::kInt4Asym || m.activation != ActivationMode::kInt8Token) return false;
  return m.n_groups == 1 || m.group % panel_chunk_elements(m) == 0;
}

A8Panels build_a8_panels(const QuantizedMatrix& m) {
  const int e = panel_chunk_elements(m);
  const bool int4 = e == 8;
  const int n_blocks = (m.rows + kPanelRows - 1) / kPanelRows;
  A8Panels p;
  p.chunks_per_row = (m.cols + e - 1) / e;
  p.codes.assign(static_cast<size_t>(n_blocks) * p.chunks_per_row * kPanelChunkBytes, int4 ? 0x88 : 0);
  const size_t scale_bytes = static_cast<size_t>(scale_type_bytes(m.format.scale_type));
  p.scales.assign(static_cast<size_t>(n_blocks) * m.n_groups * kPanelRows * scale_bytes, 0);
  const QMatrixView view = view_of(m);
  std::vector<int8_t> codes(static_cast<size_t>(m.cols));
  for (int r = 0; r < m.rows; ++r) {
    const int block = r / kPanelRows, lane = r % kPanelRows;
    scalar::unpack_row_codes(view, r, codes.data());
    uint8_t* chunks = p.codes.data() + static_cast<size_t>(block) * p.chunks_per_row * kPanelChunkBytes;
    for (int i = 0; i < m.cols; ++i) {
      const int k = i / e, j = i % e;
      uint8_t& byte = chunks[static_cast<size_t>(k) * kPanelChunkBytes + 4 * lane + (j % 4)];
      if (!int4) {
        byte = static_cast<uint8_t>(codes[static_cast<size_t>(i)]);
        if (codes[static_cast<size_t>(i)] == -128) p.negatable = false;
      } else {
        const uint8_t nibble = static_cast<uint8_t>(codes[static_cast<size_t>(i)] + 8);
        byte = j < 4 ? static_cast<uint8_t>((byte & 0xf0) | nibble) : static_cast<uint8_t>((byte & 0x0f) | (nibble << 4));
      }
    }
    for (int g = 0; g < m.n_groups; ++g) {
      const size_t at = (static_cast<size_t>(block) * m.n_groups + g) * kPanelRows + lane;
      std::memcpy(p.scales.data() + at * scale_bytes,
                  m.scales.data() + (static_cast<size_t>(r) * m.n_groups + g) * scale_bytes, scale_bytes);
    }
  }
  return p;
}

}  // namespace nibble
