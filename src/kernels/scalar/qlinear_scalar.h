// Reference (scalar) kernels for quantized linear layers. SIMD kernels must match them:
// integer accumulations exactly, float combinations in the order stated here (this
// folder is built with -ffp-contract=off, so a multiply then an add is never fused).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/qmatrix_view.h"
#include "quant/quantized_matrix.h"

namespace nibble::scalar {

// Unpacks row r's codes as signed values (int4 asym: q - z), cols of them.
void unpack_row_codes(const QuantizedMatrix& m, int r, int8_t* out);
void unpack_row_codes(const QMatrixView& m, int r, int8_t* out);

// Weight-only layers dequantize a row, w[i] = float(code[i]) * scale(r, i / G) (exact in
// float32 for f16 and bf16 scales: at most 8 + 11 significant bits), and then use the
// kernel table's float dot product, so they inherit its guarantees.
void dequantize_row_codes(const QuantizedMatrix& m, int r, const int8_t* codes, float* out);
void dequantize_row_codes(const QMatrixView& m, int r, const int8_t* codes, float* out);

// Dynamic int8 activations (u8 codes `u`, zero point `z_a`): per group an exact int32
// sum of u[i] * code[i], minus z_a * code_sum (so padded or zero-code positions add 0);
// then, in float32, starting from 0, for groups g ascending acc = acc + scale(r, g) *
// float(that int32) (a multiply, then an add). The caller multiplies by the activation
// scale: y = s_a * acc.
float qdot_int8(const QuantizedMatrix& m, int r, const int8_t* codes, const uint8_t* u, int32_t z_a);
float qdot_int8(const QMatrixView& m, int r, const int8_t* codes, const uint8_t* u, int32_t z_a);

// Per-token asymmetric u8 quantization of x[0..n): lo = min(0, min x), hi = max(0, max x),
// s = (hi - lo) / 255, z = clamp(round(-lo / s), 0, 255), u = clamp(round(x / s) + z, 0, 255)
// with x / s computed as x * (1 / s) and round() halves away from zero.
// An all-zero row gives s = 0, z = 0, u = 0.
void quantize_activation_row(const float* x, int n, uint8_t* u, float* scale, int32_t* zero_point);

// The kernel table's reference entries (contracts in kernels/kernel_table.h):
// y[t][r] = s_a[t] * qdot_int8(row r, token t), and y[t][r] = dot_f32(dequantized row r, x_t)
// with dot_f32 adding left to right.
void qlinear_a8(const QMatrixView& w, const ActivationCodes& a, int row_begin, int row_end, float* y,
                size_t y_stride);
void qlinear_wf(const QMatrixView& w, const float* x, size_t x_stride, int n_tokens, int row_begin,
                int row_end, float* y, size_t y_stride);

}  // namespace nibble::scalar
