#include "kernels/scalar/qlinear_scalar.h"

#include <algorithm>
#include <cmath>

#include "quant/group_quantizers.h"

namespace nibble::scalar {

void unpack_row_codes(const QuantizedMatrix& m, int r, int8_t* out) {
  const uint8_t* row = m.row_codes(r);
  if (m.format.codec == WeightCodec::kInt8Sym) {
    for (int i = 0; i < m.cols; ++i) out[i] = static_cast<int8_t>(row[i]);
    return;
  }
  // Blocks of 32: element j < h in the low nibble of byte j, element h + j in the high one.
  for (int block = 0; block * 32 < m.cols; ++block) {
    const int base = block * 32;
    const int n = std::min(32, m.cols - base);
    const int h = (n + 1) / 2;
    const uint8_t* bytes = row + static_cast<size_t>(block) * 16;
    for (int j = 0; j < h; ++j) out[base + j] = static_cast<int8_t>(bytes[j] & 0x0f);
    for (int j = 0; h + j < n; ++j) out[base + h + j] = static_cast<int8_t>(bytes[j] >> 4);
  }
  if (m.format.codec == WeightCodec::kInt4Sym) {
    for (int i = 0; i < m.cols; ++i) out[i] = static_cast<int8_t>(out[i] - 8);
  } else {
    for (int i = 0; i < m.cols; ++i) out[i] = static_cast<int8_t>(out[i] - m.zero_point(r, i / m.group));
  }
}

void dequantize_row_codes(const QuantizedMatrix& m, int r, const int8_t* codes, float* out) {
  for (int g = 0; g < m.n_groups; ++g) {
    const float s = m.scale(r, g);
    const int end = std::min(m.cols, (g + 1) * m.group);
    for (int i = g * m.group; i < end; ++i) out[i] = static_cast<float>(codes[i]) * s;
  }
}

float qdot_int8(const QuantizedMatrix& m, int r, const int8_t* codes, const uint8_t* u, int32_t z_a) {
  float acc = 0.0f;
  const int32_t* sums = m.code_sums.data() + static_cast<size_t>(r) * m.n_groups;
  for (int g = 0; g < m.n_groups; ++g) {
    const int begin = g * m.group;
    const int end = std::min(m.cols, begin + m.group);
    int32_t dot = 0;
    for (int i = begin; i < end; ++i) dot += static_cast<int32_t>(u[i]) * codes[i];
    acc += m.scale(r, g) * static_cast<float>(dot - z_a * sums[g]);
  }
  return acc;
}

void quantize_activation_row(const float* x, int n, uint8_t* u, float* scale, int32_t* zero_point) {
  const AsymmetricRange range = asymmetric_range(x, n, 255);
  *scale = range.scale;
  *zero_point = range.zero;
  if (range.scale == 0.0f) {
    std::fill(u, u + n, 0);
    return;
  }
  for (int i = 0; i < n; ++i) u[i] = static_cast<uint8_t>(range.level(x[i]));
}

}  // namespace nibble::scalar
