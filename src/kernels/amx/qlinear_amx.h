// The a8w4 / a8w8 kernel on AMX int8 tiles (Intel Sapphire Rapids and later): prefill's
// matrix-matrix product over the 16-row panels of kernels/a8_panels.h.
#pragma once

#include <cstddef>

#include "kernels/qmatrix_view.h"

namespace nibble::amx {

// qlinear_a8 with the same bits as scalar::qlinear_a8 (the table's a8 contract). Whole
// tiles of sixteen tokens go through the tile unit when every group has the same number of
// inputs G <= 32 (q4_g32, q8_g32, a8w4:32, ...) and no int8 code is -128: per group, one
// TDPBUSD of depth 2G multiplies sixteen tokens' u8 activations, followed by their zero
// point, by a panel's sixteen rows of s8 codes, followed by the codes negated, into sixteen
// by sixteen exact int32 sums I = sum u * c - z_a * code_sum, two token tiles by two panels
// at a time; the sums are stored from the tile and each lane adds scale * float(I) in
// ascending group order, a multiply then an add, as the reference. The remaining tokens
// (decode, a prefill's last < 16) and other matrices take avx512::qlinear_a8 (same bits).
void qlinear_a8(const QMatrixView& w, const ActivationCodes& a, int row_begin, int row_end, float* y,
                size_t y_stride);

}  // namespace nibble::amx
