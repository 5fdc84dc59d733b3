#include "kernels/scalar/qlinear_scalar.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/scalar/f32_scalar.h"
#include "quant/group_quantizers.h"

namespace nibble::scalar {

namespace {

float view_scale(const QMatrixView& m, int r, int g) {
  const int bytes = scale_type_bytes(m.scale_type);
  return load_scale(m.scale_type, m.scales + (static_cast<size_t>(r) * m.n_groups + g) * bytes);
}

}  // namespace

void unpack_row_codes(const QMatrixView& m, int r, int8_t* out) {
  const uint8_t* row = m.codes + static_cast<size_t>(r) * m.row_bytes;
  if (m.codec == WeightCodec::kInt8Sym) {
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
  if (m.codec == WeightCodec::kInt4Sym) {
    for (int i = 0; i < m.cols; ++i) out[i] = static_cast<int8_t>(out[i] - 8);
  } else {
    const uint8_t* zeros = m.zero_points + static_cast<size_t>(r) * m.n_groups;
    for (int i = 0; i < m.cols; ++i) out[i] = static_cast<int8_t>(out[i] - zeros[i / m.group]);
  }
}

void unpack_row_codes(const QuantizedMatrix& m, int r, int8_t* out) { unpack_row_codes(view_of(m), r, out); }

void dequantize_row_codes(const QMatrixView& m, int r, const int8_t* codes, float* out) {
  for (int g = 0; g < m.n_groups; ++g) {
    const float s = view_scale(m, r, g);
    const int end = std::min(m.cols, (g + 1) * m.group);
    for (int i = g * m.group; i < end; ++i) out[i] = static_cast<float>(codes[i]) * s;
  }
}

void dequantize_row_codes(const QuantizedMatrix& m, int r, const int8_t* codes, float* out) {
  dequantize_row_codes(view_of(m), r, codes, out);
}

float qdot_int8(const QMatrixView& m, int r, const int8_t* codes, const uint8_t* u, int32_t z_a) {
  float acc = 0.0f;
  const int32_t* sums = m.code_sums + static_cast<size_t>(r) * m.n_groups;
  for (int g = 0; g < m.n_groups; ++g) {
    const int begin = g * m.group;
    const int end = std::min(m.cols, begin + m.group);
    int32_t dot = 0;
    for (int i = begin; i < end; ++i) dot += static_cast<int32_t>(u[i]) * codes[i];
    acc += view_scale(m, r, g) * static_cast<float>(dot - z_a * sums[g]);
  }
  return acc;
}

float qdot_int8(const QuantizedMatrix& m, int r, const int8_t* codes, const uint8_t* u, int32_t z_a) {
  return qdot_int8(view_of(m), r, codes, u, z_a);
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

void qlinear_a8(const QMatrixView& w, const ActivationCodes& a, int row_begin, int row_end, float* y,
                size_t y_stride) {
  std::vector<int8_t> codes(static_cast<size_t>(w.cols));
  for (int r = row_begin; r < row_end; ++r) {
    unpack_row_codes(w, r, codes.data());
    for (int t = 0; t < a.n_tokens; ++t)
      y[static_cast<size_t>(t) * y_stride + static_cast<size_t>(r)] =
          a.scales[t] * qdot_int8(w, r, codes.data(), a.codes + static_cast<size_t>(t) * a.stride, a.zeros[t]);
  }
}

void qlinear_wf(const QMatrixView& w, const float* x, size_t x_stride, int n_tokens, int row_begin,
                int row_end, float* y, size_t y_stride) {
  std::vector<int8_t> codes(static_cast<size_t>(w.cols));
  std::vector<float> row(static_cast<size_t>(w.cols));
  for (int r = row_begin; r < row_end; ++r) {
    unpack_row_codes(w, r, codes.data());
    dequantize_row_codes(w, r, codes.data(), row.data());
    for (int t = 0; t < n_tokens; ++t)
      y[static_cast<size_t>(t) * y_stride + static_cast<size_t>(r)] =
          dot_f32(row.data(), x + static_cast<size_t>(t) * x_stride, w.cols);
  }
}

}  // namespace nibble::scalar
