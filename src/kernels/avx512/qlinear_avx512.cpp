#include "kernels/avx512/qlinear_avx512.h"

#include "kernels/avx512/intrinsics_avx512.h"

#include <cstdlib>
#include <cstring>

#include "kernels/avx512/a8_panel_avx512.h"
#include "kernels/avx512/f32_avx512.h"
#include "kernels/avx512/lanes_avx512.h"
#include "kernels/avx512/scales_avx512.h"
#include "kernels/avx512/upper_registers_avx512.h"
#include "kernels/simd_prefill.h"
#include "kernels/simd_scales.h"
#include "kernels/scalar/qlinear_scalar.h"  // out-of-line dequantization (baseline code, plain calls)

namespace nibble::avx512 {

namespace {

enum class WCodec { kInt8, kInt4Sym, kInt4Asym };

template <ScaleType kScale>
inline float scale_of(const uint8_t* scales, int g) {
  return scale_at(kScale, scales + static_cast<size_t>(g) * (kScale == ScaleType::kF32 ? 4 : 2));
}

// Weights of one group as the kernel needs them: for int4 a table of the 16 possible
// weights float(nibble - offset) * scale, for int8 the broadcast scale. Elements are
// visited in ascending steps of 16, so the group index is tracked, never divided for;
// scales are read sixteen groups at a time and broadcast from that vector.
template <WCodec kCodec, ScaleType kScale>
struct GroupWeights {
  const uint8_t* scales;
  const uint8_t* zeros;
  int group;
  int n_groups;
  int g = -1;
  int next = 0;         // first element of group g + 1
  int batch_end = 0;    // scales of groups [batch_end - 16, batch_end) are in batch
  __m512 batch = _mm512_setzero_ps();
  __m512 sym_codes = _mm512_cvtepi32_ps(
      _mm512_sub_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(8)));
  __m512 table = _mm512_setzero_ps();  // int4: lane n = float(n - offset) * scale; int8: the scale

  // The table of the group holding element e (e grows by 16 between calls, group >= 16).
  const __m512& at(int e) {
    if (e < next) return table;
    ++g;
    next += group;
    if (g == batch_end) {
      batch = load_scales16<kScale>(scales + static_cast<size_t>(g) * (kScale == ScaleType::kF32 ? 4 : 2), n_groups - g);
      batch_end += 16;
    }
    const __m512 scale = _mm512_permutexvar_ps(_mm512_set1_epi32(g - (batch_end - 16)), batch);
    if constexpr (kCodec == WCodec::kInt8) {
      table = scale;
    } else if constexpr (kCodec == WCodec::kInt4Sym) {
      table = _mm512_mul_ps(sym_codes, scale);  // the same float products dequantize_row_codes rounds
    } else {
      const __m512i nibbles = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
      table = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(nibbles, _mm512_set1_epi32(zeros[g]))), scale);
    }
    return table;
  }
};

// Row r's weights, 32 at a time: block(i, w0, w1) gets elements i .. i+15 and i+16 ..
// i+31 of each full block, tail(i, weights, m) the m < 32 elements of a partial last one;
// every weight is float(code) * scale, the product dequantize_row_codes rounds.
// Needs w.group % 16 == 0 or one group per row, so no 16-element vector spans two groups.
template <WCodec kCodec, ScaleType kScale, typename Block, typename Tail>
inline void for_each_weight_block(const QMatrixView& w, int r, Block&& block, Tail&& tail) {
  const uint8_t* row = w.codes + static_cast<size_t>(r) * w.row_bytes;
  const int group = w.n_groups == 1 ? w.cols : w.group;
  const uint8_t* scales = w.scales + static_cast<size_t>(r) * w.n_groups * (kScale == ScaleType::kF32 ? 4 : 2);
  const uint8_t* zeros =
      kCodec == WCodec::kInt4Asym ? w.zero_points + static_cast<size_t>(r) * w.n_groups : nullptr;
  GroupWeights<kCodec, kScale> gw{scales, zeros, group, w.n_groups};
  const int n = w.cols;
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    if constexpr (kCodec == WCodec::kInt8) {
      const __m512 c0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + i))));
      const __m512 c1 =
          _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + i + 16))));
      const __m512 w0 = _mm512_mul_ps(c0, gw.at(i));
      block(i, w0, _mm512_mul_ps(c1, gw.at(i + 16)));
    } else {
      // A full int4 block: element j in the low nibble of byte j, element 16 + j in the high
      // one. vpermps reads only bits 0..3 of each index, so the widened byte is the low
      // nibble's index as it is (no mask), and shifted right by 4 the high one's.
      const __m512i bytes = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + i / 2)));
      const __m512i hi = _mm512_srli_epi32(bytes, 4);
      const __m512 w0 = _mm512_permutexvar_ps(bytes, gw.at(i));
      block(i, w0, _mm512_permutexvar_ps(hi, gw.at(i + 16)));
    }
  }
  if (i < n) {
    alignas(64) float weights[32] = {};
    const int m = n - i;
    const int h = (m + 1) / 2;
    for (int j = 0; j < m; ++j) {
      const int g = (i + j) / group;
      int code;
      if constexpr (kCodec == WCodec::kInt8) {
        code = static_cast<int8_t>(row[i + j]);
      } else {
        const uint8_t* bytes = row + i / 2;
        const int nibble = j < h ? (bytes[j] & 0x0f) : (bytes[j - h] >> 4);
        code = nibble - (kCodec == WCodec::kInt4Sym ? 8 : zeros[g]);
      }
      weights[j] = static_cast<float>(code) * scale_of<kScale>(scales, g);
    }
    tail(i, static_cast<const float*>(weights), m);
  }
}

// One row against one token: avx512::dot_f32(dequantized row, x) bit for bit.
template <WCodec kCodec, ScaleType kScale>
float wf_row(const QMatrixView& w, int r, const float* x) {
  DotLanes lanes;
  for_each_weight_block<kCodec, kScale>(
      w, r, [&](int i, __m512 w0, __m512 w1) { lanes.block(w0, _mm512_loadu_ps(x + i), w1, _mm512_loadu_ps(x + i + 16)); },
      [&](int i, const float* weights, int m) { lanes.tail(weights, x + i, m); });
  return lanes.sum();
}

// Row r dequantized to out[0 .. cols): the same floats as scalar::dequantize_row_codes.
template <WCodec kCodec, ScaleType kScale>
void dequantize_row(const QMatrixView& w, int r, float* out) {
  for_each_weight_block<kCodec, kScale>(
      w, r,
      [&](int i, __m512 w0, __m512 w1) {
        _mm512_storeu_ps(out + i, w0);
        _mm512_storeu_ps(out + i + 16, w1);
      },
      [&](int i, const float* weights, int m) { std::memcpy(out + i, weights, static_cast<size_t>(m) * sizeof(float)); });
}

template <WCodec kCodec>
void dequantize_row(const QMatrixView& w, int r, float* out) {
  switch (w.scale_type) {
    case ScaleType::kF16: dequantize_row<kCodec, ScaleType::kF16>(w, r, out); break;
    case ScaleType::kBF16: dequantize_row<kCodec, ScaleType::kBF16>(w, r, out); break;
    case ScaleType::kF32: dequantize_row<kCodec, ScaleType::kF32>(w, r, out); break;
  }
}

// Row r dequantized to memory: in registers when groups allow, else by the scalar code.
void dequantize_row_to_memory(const QMatrixView& w, int r, int8_t* codes_scratch, float* out) {
  if (w.n_groups != 1 && w.group % 16 != 0) {
    scalar::unpack_row_codes(w, r, codes_scratch);
    scalar::dequantize_row_codes(w, r, codes_scratch, out);
    return;
  }
  switch (w.codec) {
    case WeightCodec::kInt8Sym: dequantize_row<WCodec::kInt8>(w, r, out); break;
    case WeightCodec::kInt4Sym: dequantize_row<WCodec::kInt4Sym>(w, r, out); break;
    case WeightCodec::kInt4Asym: dequantize_row<WCodec::kInt4Asym>(w, r, out); break;
  }
}

template <WCodec kCodec, ScaleType kScale>
void wf_rows(const QMatrixView& w, const float* x, int row_begin, int row_end, float* y) {
  for (int r = row_begin; r < row_end; ++r) y[r] = wf_row<kCodec, kScale>(w, r, x);
}

template <WCodec kCodec>
void wf_rows(const QMatrixView& w, const float* x, int row_begin, int row_end, float* y) {
  switch (w.scale_type) {
    case ScaleType::kF16: wf_rows<kCodec, ScaleType::kF16>(w, x, row_begin, row_end, y); break;
    case ScaleType::kBF16: wf_rows<kCodec, ScaleType::kBF16>(w, x, row_begin, row_end, y); break;
    case ScaleType::kF32: wf_rows<kCodec, ScaleType::kF32>(w, x, row_begin, row_end, y); break;
  }
}

// Four tokens against one row: out[t] = dot_f32(a, b[t], n) bit for bit (each token has
// its own DotLanes, fed in dot_f32's order); the row is loaded once for the four.
void dot4_f32(const float* a, const float* const* b, int n, float* out) {
  // Eight named accumulators (two per token) so they stay in registers.
  DotLanes l0, l1, l2, l3;
  const float *b0 = b[0], *b1 = b[1], *b2 = b[2], *b3 = b[3];
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 a0 = _mm512_loadu_ps(a + i), a1 = _mm512_loadu_ps(a + i + 16);
    l0.block(a0, _mm512_loadu_ps(b0 + i), a1, _mm512_loadu_ps(b0 + i + 16));
    l1.block(a0, _mm512_loadu_ps(b1 + i), a1, _mm512_loadu_ps(b1 + i + 16));
    l2.block(a0, _mm512_loadu_ps(b2 + i), a1, _mm512_loadu_ps(b2 + i + 16));
    l3.block(a0, _mm512_loadu_ps(b3 + i), a1, _mm512_loadu_ps(b3 + i + 16));
  }
  if (i < n) {
    l0.tail(a + i, b0 + i, n - i);
    l1.tail(a + i, b1 + i, n - i);
    l2.tail(a + i, b2 + i, n - i);
    l3.tail(a + i, b3 + i, n - i);
  }
  out[0] = l0.sum();
  out[1] = l1.sum();
  out[2] = l2.sum();
  out[3] = l3.sum();
}

}  // namespace

void qlinear_a8(const QMatrixView& w, const ActivationCodes& a, int row_begin, int row_end, float* y,
                size_t y_stride) {
  if (w.panel_bytes == nullptr) {
    // No panels: int4 with zero points or groups that split a chunk (kernels/a8_panels.h).
    scalar::qlinear_a8(w, a, row_begin, row_end, y, y_stride);
    return;
  }
  a8_panel_rows(w, a, row_begin, row_end, y, y_stride);
  clear_upper_registers();
}

void qlinear_wf(const QMatrixView& w, const float* x, size_t x_stride, int n_tokens, int row_begin, int row_end,
                float* y, size_t y_stride) {
  if (n_tokens != 1 || (w.n_groups != 1 && w.group % 16 != 0)) {
    // Each row dequantized once per block of tokens, then four tokens at a time.
    wf_rows_via_memory<4>(
        w, x, x_stride, n_tokens, row_begin, row_end, y, y_stride,
        [&](int r, int8_t* codes, float* row) { dequantize_row_to_memory(w, r, codes, row); }, dot4_f32, dot_f32);
  } else {
    switch (w.codec) {
      case WeightCodec::kInt8Sym: wf_rows<WCodec::kInt8>(w, x, row_begin, row_end, y); break;
      case WeightCodec::kInt4Sym: wf_rows<WCodec::kInt4Sym>(w, x, row_begin, row_end, y); break;
      case WeightCodec::kInt4Asym: wf_rows<WCodec::kInt4Asym>(w, x, row_begin, row_end, y); break;
    }
  }
  clear_upper_registers();
}

}  // namespace nibble::avx512
