// AVX2 kernels for quantized linear layers. Only callable when cpu_supports(Isa::kAvx2).
// Contracts and cross-ISA guarantees: kernels/kernel_table.h.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/qmatrix_view.h"

namespace nibble::avx2 {

// Min/max and finiteness in 8 lanes; the scale and zero point from the scalar rule on
// (min, max); each code with the same multiply and round-half-away-from-zero.
void quantize_activation_row(const float* x, int n, uint8_t* u, float* scale, int32_t* zero_point);

// a8w4 / a8w8. Eight rows at a time, one per lane of the float combination, so each
// lane adds its row's groups in ascending order exactly as the scalar reference does.
// Tokens go four at a time through each block of eight rows (prefill reads the weights
// once per four tokens, and the block's rows stay in cache across tiles).
// Integer sums: int4 codes with vpmaddubsw (|u * c| * 2 <= 4080, no int16 saturation)
// then vpmaddwd by 1; int8 codes widened to int16 and vpmaddwd (exact int32 pairs).
// Group sizes that are a multiple of 32, 16, or per channel run here; any other falls
// back to the scalar kernel (same bits, not fast).
void qlinear_a8(const QMatrixView& w, const ActivationCodes& a, int row_begin, int row_end, float* y,
                size_t y_stride);

// w4 / w4_asym / w8: dequantizes 32 codes at a time in registers and accumulates with
// the exact lane structure of avx2::dot_f32 (four 8-lane FMA accumulators over 32
// elements, then 8 at a time into the first, the tail added one by one), for one to three
// tokens (decode), two per pass. From four tokens on (prefill), and for group sizes that
// are not a multiple of 8 (per channel excepted), each row is dequantized to memory once
// per block of 48 tokens and dotted three tokens at a time in dot_f32's lanes (same bits).
void qlinear_wf(const QMatrixView& w, const float* x, size_t x_stride, int n_tokens, int row_begin,
                int row_end, float* y, size_t y_stride);

}  // namespace nibble::avx2
