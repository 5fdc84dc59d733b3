// AVX-512 kernels for quantized linear layers. Only callable when cpu_supports(Isa::kAvx512).
// Contracts and cross-ISA guarantees: kernels/kernel_table.h.
#pragma once

#include <cstddef>

#include "kernels/qmatrix_view.h"

namespace nibble::avx512 {

// a8w4 / a8w8: the 16-row panel kernel (kernels/avx512/a8_panel_avx512.h, VNNI vpdpbusd on
// 512-bit vectors). The integer group sums are exact, so the same integers as the scalar and
// AVX2 paths, and the float combination is theirs too: the outputs are the same bits.
// Matrices without panels (int4 with zero points, groups that split a chunk): the scalar
// kernel.
void qlinear_a8(const QMatrixView& w, const ActivationCodes& a, int row_begin, int row_end, float* y,
                size_t y_stride);

// w4 / w4_asym / w8 with avx512::dot_f32's exact lanes (kernels/avx512/lanes_avx512.h).
// One token (decode), group a multiple of 16 or per channel: 32 codes per step straight
// to weights in registers; int4 codes through a 16-entry table per group (vpermps of
// float(code - offset) * scale: the very products the scalar dequantization rounds), so no
// per-weight convert or multiply. Otherwise (prefill, other group sizes): each row is
// dequantized to memory once per block of 48 tokens and dotted with four tokens at a time,
// each in dot_f32's lanes and order (same bits).
void qlinear_wf(const QMatrixView& w, const float* x, size_t x_stride, int n_tokens, int row_begin,
                int row_end, float* y, size_t y_stride);

}  // namespace nibble::avx512
