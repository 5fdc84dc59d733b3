// The weight-only prefill loop shared by the x86 SIMD kernels. Include only from
// src/kernels/<isa>/ sources; internal linkage, so each ISA's object keeps its own copy
// built with its own flags.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "kernels/qmatrix_view.h"

namespace nibble {
namespace {

// y[t * y_stride + r] = dot(row r dequantized, x + t * x_stride) for rows [row_begin,
// row_end) and tokens < n_tokens. Each row is dequantized to memory once per block of 48
// tokens (48 tokens of x stay in L2 while the rows stream by) by dequantize(r, codes
// scratch, row); kGang tokens at a time go through dot_gang(row, xs, cols, out), the rest
// through dot(row, x_t, cols). dot_gang must give dot's bits for each token.
template <int kGang, typename Dequantize, typename DotGang, typename Dot>
void wf_rows_via_memory(const QMatrixView& w, const float* x, size_t x_stride, int n_tokens, int row_begin,
                        int row_end, float* y, size_t y_stride, Dequantize&& dequantize, DotGang&& dot_gang,
                        Dot&& dot) {
  constexpr int kTokenBlock = 48;
  int8_t* codes = static_cast<int8_t*>(std::malloc(static_cast<size_t>(w.cols)));
  float* row = static_cast<float*>(std::malloc(static_cast<size_t>(w.cols) * sizeof(float)));
  if (codes == nullptr || row == nullptr) std::abort();
  for (int t0 = 0; t0 < n_tokens; t0 += kTokenBlock) {
    const int t1 = n_tokens < t0 + kTokenBlock ? n_tokens : t0 + kTokenBlock;
    for (int r = row_begin; r < row_end; ++r) {
      dequantize(r, codes, row);
      int t = t0;
      for (; t + kGang <= t1; t += kGang) {
        const float* xs[kGang];
        for (int j = 0; j < kGang; ++j) xs[j] = x + static_cast<size_t>(t + j) * x_stride;
        float out[kGang];
        dot_gang(row, xs, w.cols, out);
        for (int j = 0; j < kGang; ++j) y[static_cast<size_t>(t + j) * y_stride + static_cast<size_t>(r)] = out[j];
      }
      for (; t < t1; ++t)
        y[static_cast<size_t>(t) * y_stride + static_cast<size_t>(r)] =
            dot(row, x + static_cast<size_t>(t) * x_stride, w.cols);
    }
  }
  std::free(codes);
  std::free(row);
}

}  // namespace
}  // namespace nibble
