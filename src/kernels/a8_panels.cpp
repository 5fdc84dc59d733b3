#include "kernels/a8_panels.h"

#include <cstring>

#include "quant/quantized_matrix.h"

namespace nibble {

int panel_chunk_elements(const QuantizedMatrix& m) { return m.format.codec == WeightCodec::kInt8Sym ? 4 : 8; }

bool panels_fit(const QuantizedMatrix& m) {
  if (m.format.codec == WeightCodec::kInt4Asym || m.activation != ActivationMode::kInt8Token) return false;
  return m.n_groups == 1 || m.group % panel_chunk_elements(m) == 0;
}

A8Panels allocate_a8_panels(const QuantizedMatrix& m) {
  const int e = panel_chunk_elements(m);
  const int n_blocks = (m.rows + kPanelRows - 1) / kPanelRows;
  A8Panels p;
  p.chunks_per_row = (m.cols + e - 1) / e;
  // Code 0 is the byte 0 for int8 and the nibble pair 0x88 (offset binary) for int4.
  p.codes.assign(static_cast<size_t>(n_blocks) * p.chunks_per_row * kPanelChunkBytes, e == 8 ? 0x88 : 0);
  const size_t scale_bytes = static_cast<size_t>(scale_type_bytes(m.format.scale_type));
  p.scales.assign(static_cast<size_t>(n_blocks) * m.n_groups * kPanelRows * scale_bytes, 0);
  return p;
}

bool put_panel_row(A8Panels& p, const QuantizedMatrix& m, int r, const int8_t* codes) {
  const int block = r / kPanelRows, lane = r % kPanelRows;
  uint8_t* chunk = p.codes.data() + static_cast<size_t>(block) * p.chunks_per_row * kPanelChunkBytes + 4 * lane;
  // Chunk k holds the row's four bytes at 4 * lane: elements k * E + j, j < 4 (int8), or
  // the nibbles of k * 8 + j (low) and k * 8 + 4 + j (high).
  bool negatable = true;
  if (m.format.codec == WeightCodec::kInt8Sym) {
    for (int k = 0; k < p.chunks_per_row; ++k, chunk += kPanelChunkBytes, codes += 4) {
      for (int j = 0; j < 4; ++j) {
        chunk[j] = static_cast<uint8_t>(codes[j]);
        negatable = negatable && codes[j] != -128;
      }
    }
  } else {
    for (int k = 0; k < p.chunks_per_row; ++k, chunk += kPanelChunkBytes, codes += 8) {
      for (int j = 0; j < 4; ++j)
        chunk[j] = static_cast<uint8_t>((codes[j] + 8) | ((codes[4 + j] + 8) << 4));
    }
  }
  const size_t scale_bytes = static_cast<size_t>(scale_type_bytes(m.format.scale_type));
  for (int g = 0; g < m.n_groups; ++g) {
    const size_t at = (static_cast<size_t>(block) * m.n_groups + g) * kPanelRows + lane;
    std::memcpy(p.scales.data() + at * scale_bytes,
                m.scales.data() + (static_cast<size_t>(r) * m.n_groups + g) * scale_bytes, scale_bytes);
  }
  return negatable;
}

}  // namespace nibble
