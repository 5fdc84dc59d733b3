#include "kernels/a8_panels.h"

#include <algorithm>
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
  const int scale_bytes = scale_type_bytes(m.format.scale_type);
  A8Panels p;
  PanelLayout& l = p.layout;
  l.chunks_per_row = (m.cols + e - 1) / e;
  l.group_chunks = m.n_groups == 1 ? l.chunks_per_row : m.group / e;
  l.n_groups = m.n_groups;
  l.unit_groups = std::min(m.n_groups, kPanelChunkBytes / (kPanelRows * scale_bytes));
  l.unit_bytes = (static_cast<size_t>(l.unit_groups) * l.group_chunks + 1) * kPanelChunkBytes;
  const int whole_units = m.n_groups / l.unit_groups, left = m.n_groups % l.unit_groups;
  l.block_bytes = static_cast<size_t>(whole_units) * l.unit_bytes +
                  (left > 0 ? (static_cast<size_t>(left) * l.group_chunks + 1) * kPanelChunkBytes : 0);
  // Code 0 is the byte 0 for int8 and the nibble pair 0x88 (offset binary) for int4; the
  // scale lines are written over by every row, padding rows' scales stay 0.
  p.bytes.assign(static_cast<size_t>(n_blocks) * l.block_bytes, e == 8 ? 0x88 : 0);
  for (int block = 0; block < n_blocks; ++block)
    for (int g = 0; g < m.n_groups; g += l.unit_groups)
      std::memset(p.bytes.data() + panel_offsets::group_scales(l, block, g, static_cast<size_t>(scale_bytes)), 0,
                  kPanelChunkBytes);
  return p;
}

bool put_panel_row(A8Panels& p, const QuantizedMatrix& m, int r, const int8_t* codes) {
  const PanelLayout& l = p.layout;
  const int block = r / kPanelRows, lane = r % kPanelRows;
  // Chunk k holds the row's four bytes at 4 * lane: elements k * E + j, j < 4 (int8), or
  // the nibbles of k * 8 + j (low) and k * 8 + 4 + j (high).
  const bool int8 = m.format.codec == WeightCodec::kInt8Sym;
  const int e = int8 ? 4 : 8;
  const size_t scale_bytes = static_cast<size_t>(scale_type_bytes(m.format.scale_type));
  bool negatable = true;
  for (int g = 0; g < m.n_groups; ++g) {
    const int k0 = g * l.group_chunks;
    const int k1 = std::min(k0 + l.group_chunks, l.chunks_per_row);
    uint8_t* chunk = p.bytes.data() + panel_offsets::group_codes(l, block, g) + 4 * lane;
    for (int k = k0; k < k1; ++k, chunk += kPanelChunkBytes) {
      const int8_t* c = codes + static_cast<size_t>(k) * e;
      for (int j = 0; j < 4; ++j) {
        if (int8) {
          chunk[j] = static_cast<uint8_t>(c[j]);
          negatable = negatable && c[j] != -128;
        } else {
          chunk[j] = static_cast<uint8_t>((c[j] + 8) | ((c[4 + j] + 8) << 4));
        }
      }
    }
    std::memcpy(p.bytes.data() + panel_offsets::group_scales(l, block, g, scale_bytes) + lane * scale_bytes,
                m.scales.data() + (static_cast<size_t>(r) * m.n_groups + g) * scale_bytes, scale_bytes);
  }
  return negatable;
}

}  // namespace nibble
