// The a8w4 / a8w8 kernel on AMX int8 tiles (Intel Sapphire Rapids and later): prefill's
// matrix-matrix product over the 16-row panels of kernels/a8_panels.h.
#pragma once

#include <cstddef>

#include "kernels/qmatrix_view.h"

namespace nibble::amx {

// qlinear_a8 with the same bits as scalar::qlinear_a8 (the table's a8 contract). Whole
// tiles of sixteen tokens go through the tile unit when every group has the same number of
// inputs, at most 64 (q4_g32, q8_g32, a8w4:32, ...): per group, TDPBUSD multiplies sixteen
// tokens' u8 activations by a panel's sixteen rows of s8 codes into sixteen by sixteen
// int32 sums (exact, as vpdpbusd), two token tiles by two panels at a time; the sums are
// stored from the tile and each lane subtracts z_a * code_sum and adds scale * float(sum) in
// ascending group order, a multiply then an add, as the reference. The remaining tokens
// (decode, a prefill's last < 16) and other matrices take avx512::qlinear_a8 (same bits).
// Measured here: tile products, loads and stores each take about as long, so with one
// product per group of 32 the stores bound it; 1.1B prefill at -t 2 ran ~1.5x the
// AVX-512 panel kernel.
void qlinear_a8(const QMatrixView& w, const ActivationCodes& a, int row_begin, int row_end, float* y,
                size_t y_stride);

}  // namespace nibble::amx
