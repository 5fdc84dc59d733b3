// Reference (scalar) kernels for quantized linear layers. SIMD kernels must match them:
// integer accumulations exactly, float combinations in the order stated here.
#pragma once

#include <cstdint>

#include "quant/quantized_matrix.h"

namespace nibble::scalar {

// Unpacks row r's codes as signed values (int4 asym: q - z), cols of them.
void unpack_row_codes(const QuantizedMatrix& m, int r, int8_t* out);

// Weight-only layers dequantize a row, w[i] = float(code[i]) * scale(r, i / G) (exact in
// float32 for f16 and bf16 scales: at most 8 + 11 significant bits), and then use the
// kernel table's float dot product, so they inherit its guarantees.
void dequantize_row_codes(const QuantizedMatrix& m, int r, const int8_t* codes, float* out);

// Dynamic int8 activations (u8 codes `u`, zero point `z_a`): per group an exact int32
// sum of u[i] * code[i], minus z_a * code_sum (so padded or zero-code positions add 0);
// then, in float32, sum over groups g ascending of scale(r, g) * float(that int32).
// The caller multiplies by the activation scale.
float qdot_int8(const QuantizedMatrix& m, int r, const int8_t* codes, const uint8_t* u, int32_t z_a);

// Per-token asymmetric u8 quantization of x[0..n): lo = min(0, min x), hi = max(0, max x),
// s = (hi - lo) / 255, z = clamp(round(-lo / s), 0, 255), u = clamp(round(x / s) + z, 0, 255).
// An all-zero row gives s = 0, z = 0, u = 0.
void quantize_activation_row(const float* x, int n, uint8_t* u, float* scale, int32_t* zero_point);

}  // namespace nibble::scalar
