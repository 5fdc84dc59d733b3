// The a8w4 / a8w8 kernel over 16-row panels (kernels/a8_panels.h), AVX-512 VNNI.
#pragma once

#include <cstddef>

#include "kernels/qmatrix_view.h"

namespace nibble::avx512 {

// qlinear_a8 for a matrix with panels (w.panel_bytes set): the same bits as
// scalar::qlinear_a8. Lane i of every vector is row i of a block: each vpdpbusd adds four
// u8 x s8 products per row into that row's int32 sum (exact), so a group's sum needs no
// horizontal add; groups then combine per lane in ascending order, a multiply then an add,
// as the reference. Any [row_begin, row_end) works (a block cut by the split computes its
// rows on both sides and each side stores only its own).
void a8_panel_rows(const QMatrixView& w, const ActivationCodes& a, int row_begin, int row_end, float* y,
                   size_t y_stride);

}  // namespace nibble::avx512
