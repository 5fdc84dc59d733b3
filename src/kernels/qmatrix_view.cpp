#include "kernels/qmatrix_view.h"

#include "quant/quantized_matrix.h"

namespace nibble {

QMatrixView view_of(const QuantizedMatrix& m) {
  QMatrixView v;
  v.codec = m.format.codec;
  v.scale_type = m.format.scale_type;
  v.rows = m.rows;
  v.cols = m.cols;
  v.group = m.group;
  v.n_groups = m.n_groups;
  v.row_bytes = m.row_bytes;
  v.codes = m.codes.data();
  v.scales = m.scales.data();
  v.zero_points = m.zero_points.empty() ? nullptr : m.zero_points.data();
  v.code_sums = m.code_sums.empty() ? nullptr : m.code_sums.data();
  if (!m.panels.empty()) {
    v.panel = m.panels.layout;
    v.panel_bytes = m.panels.bytes.data();
    v.panel_negatable = m.panels.negatable;
  }
  return v;
}

}  // namespace nibble
