#include "kernels/avx2/qlinear_avx2.h"

#include <immintrin.h>

#include <cstdlib>
#include <cstring>
#include <limits>

#include "kernels/avx2/f32_avx2.h"
#include "kernels/avx2/a8_rows_avx2.h"
#include "kernels/simd_prefill.h"
#include "kernels/simd_scales.h"
#include "kernels/scalar/qlinear_scalar.h"  // out-of-line fallbacks (baseline code, plain calls)
#include "quant/group_quantizers.h"         // asymmetric_range (out of line)

// Everything below is internal (anonymous namespace or plain intrinsics) or an
// out-of-line call, so no inline code shared with baseline files is emitted here (see
// kernels/qmatrix_view.h).
namespace nibble::avx2 {

namespace {

// ---------------------------------------------------------------------------------------
// Per-token activation quantization.

// The level of 8 floats: clamp(round_half_away(v * inv) + zero, 0, 255), with NaN -> 0
// and huge values clamped first (as AsymmetricRange::level does).
inline __m256i levels8(__m256 v, __m256 inv, __m256i zero) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 q = _mm256_mul_ps(v, inv);
  q = _mm256_blendv_ps(q, _mm256_set1_ps(-512.0f), _mm256_cmp_ps(q, q, _CMP_UNORD_Q));
  q = _mm256_min_ps(_mm256_max_ps(q, _mm256_set1_ps(-512.0f)), _mm256_set1_ps(512.0f));
  // std::round: truncate, then step away from zero when the (exact) fraction is >= 1/2.
  const __m256 t = _mm256_round_ps(q, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 frac = _mm256_andnot_ps(sign, _mm256_sub_ps(q, t));
  const __m256 step = _mm256_or_ps(_mm256_and_ps(q, sign), _mm256_set1_ps(1.0f));
  const __m256 r = _mm256_add_ps(t, _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ), step));
  const __m256i l = _mm256_add_epi32(_mm256_cvttps_epi32(r), zero);
  return _mm256_min_epi32(_mm256_max_epi32(l, _mm256_setzero_si256()), _mm256_set1_epi32(255));
}

// 32 floats to 32 levels.
inline void levels32(const float* x, __m256 inv, __m256i zero, uint8_t* out) {
  const __m256i l0 = levels8(_mm256_loadu_ps(x), inv, zero);
  const __m256i l1 = levels8(_mm256_loadu_ps(x + 8), inv, zero);
  const __m256i l2 = levels8(_mm256_loadu_ps(x + 16), inv, zero);
  const __m256i l3 = levels8(_mm256_loadu_ps(x + 24), inv, zero);
  // packs work per 128-bit lane: the dwords come out as l0[0..3] l1[0..3] l2[0..3]
  // l3[0..3] | l0[4..7] ...; the permute restores element order.
  const __m256i bytes = _mm256_packus_epi16(_mm256_packs_epi32(l0, l1), _mm256_packs_epi32(l2, l3));
  const __m256i ordered = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), ordered);
}

// ---------------------------------------------------------------------------------------
// Weight-only kernels.

enum class WCodec { kInt8, kInt4Sym, kInt4Asym };

// One row against NT tokens with avx2::dot_f32's exact lane structure and order.
template <int NT, WCodec kCodec>
void wf_row(const QMatrixView& w, int r, const float* const* x, float* out) {
  const uint8_t* row = w.codes + static_cast<size_t>(r) * w.row_bytes;
  const int sb = scale_bytes(w.scale_type);
  const uint8_t* scales = w.scales + static_cast<size_t>(r) * w.n_groups * sb;
  const uint8_t* zeros = kCodec == WCodec::kInt4Asym ? w.zero_points + static_cast<size_t>(r) * w.n_groups : nullptr;
  auto offset_of = [&](int g) -> int {
    if constexpr (kCodec == WCodec::kInt4Sym) return 8;
    if constexpr (kCodec == WCodec::kInt4Asym) return zeros[g];
    return 0;
  };
  int g = 0;
  int next_group = w.group;  // element where group g + 1 starts (vectors never straddle one)
  __m256 s = _mm256_set1_ps(scale_at(w.scale_type, scales));
  __m256i off = _mm256_set1_epi32(offset_of(0));
  // Weights of 8 int32 codes starting at element e: float(code - offset) * scale.
  auto weights = [&](__m256i codes, int e) {
    if (e == next_group) {
      ++g;
      next_group += w.group;
      s = _mm256_set1_ps(scale_at(w.scale_type, scales + static_cast<size_t>(g) * sb));
      off = _mm256_set1_epi32(offset_of(g));
    }
    if constexpr (kCodec != WCodec::kInt8) codes = _mm256_sub_epi32(codes, off);
    return _mm256_mul_ps(_mm256_cvtepi32_ps(codes), s);
  };

  __m256 acc[NT][4];
  for (int t = 0; t < NT; ++t)
    for (int k = 0; k < 4; ++k) acc[t][k] = _mm256_setzero_ps();
  const int n = w.cols;
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256i c[4];
    if constexpr (kCodec == WCodec::kInt8) {
      for (int k = 0; k < 4; ++k)
        c[k] = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + i + 8 * k)));
    } else {
      const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + i / 2));
      const __m128i mask = _mm_set1_epi8(0x0f);
      const __m128i lo = _mm_and_si128(bytes, mask);
      const __m128i hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), mask);
      c[0] = _mm256_cvtepu8_epi32(lo);
      c[1] = _mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8));
      c[2] = _mm256_cvtepu8_epi32(hi);
      c[3] = _mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8));
    }
    for (int k = 0; k < 4; ++k) {
      const __m256 wk = weights(c[k], i + 8 * k);
      for (int t = 0; t < NT; ++t) acc[t][k] = _mm256_fmadd_ps(wk, _mm256_loadu_ps(x[t] + i + 8 * k), acc[t][k]);
    }
  }
  // The partial last int4 block, unpacked to stored nibble values in element order.
  alignas(16) uint8_t nib[32] = {};
  const int base = i;
  if constexpr (kCodec != WCodec::kInt8) {
    const int m = n - base;
    const int h = (m + 1) / 2;
    const uint8_t* bytes = row + base / 2;
    for (int j = 0; j < h; ++j) nib[j] = bytes[j] & 0x0f;
    for (int j = 0; h + j < m; ++j) nib[h + j] = static_cast<uint8_t>(bytes[j] >> 4);
  }
  for (; i + 8 <= n; i += 8) {
    __m256i c;
    if constexpr (kCodec == WCodec::kInt8)
      c = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + i)));
    else
      c = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(nib + (i - base))));
    const __m256 wk = weights(c, i);
    for (int t = 0; t < NT; ++t) acc[t][0] = _mm256_fmadd_ps(wk, _mm256_loadu_ps(x[t] + i), acc[t][0]);
  }
  for (int t = 0; t < NT; ++t) {
    const __m256 sum8 = _mm256_add_ps(_mm256_add_ps(acc[t][0], acc[t][1]), _mm256_add_ps(acc[t][2], acc[t][3]));
    __m128 half = _mm_add_ps(_mm256_castps256_ps128(sum8), _mm256_extractf128_ps(sum8, 1));
    half = _mm_add_ps(half, _mm_movehl_ps(half, half));
    half = _mm_add_ss(half, _mm_movehdup_ps(half));
    out[t] = _mm_cvtss_f32(half);
  }
  for (; i < n; ++i) {
    const int gi = i / w.group;
    int code;
    if constexpr (kCodec == WCodec::kInt8)
      code = static_cast<int8_t>(row[i]);
    else
      code = nib[i - base] - offset_of(gi);
    const float wv = static_cast<float>(code) * scale_at(w.scale_type, scales + static_cast<size_t>(gi) * sb);
    for (int t = 0; t < NT; ++t) out[t] += wv * x[t][i];
  }
}

template <WCodec kCodec>
void wf_rows(const QMatrixView& w, const float* x, size_t x_stride, int n_tokens, int row_begin, int row_end,
             float* y, size_t y_stride) {
  for (int r = row_begin; r < row_end; ++r) {
    for (int t0 = 0; t0 < n_tokens; t0 += 2) {
      const int nt = imin(2, n_tokens - t0);
      const float* xs[2] = {x + static_cast<size_t>(t0) * x_stride, x + static_cast<size_t>(t0 + nt - 1) * x_stride};
      float out[2];
      if (nt == 2)
        wf_row<2, kCodec>(w, r, xs, out);
      else
        wf_row<1, kCodec>(w, r, xs, out);
      for (int t = 0; t < nt; ++t) y[static_cast<size_t>(t0 + t) * y_stride + static_cast<size_t>(r)] = out[t];
    }
  }
}

// Three tokens against one row: out[t] = dot_f32(a, b[t], n) bit for bit (the same four
// 8-lane accumulators, the same reduction and the same scalar tail, per token); the row is
// loaded once for the three.
void dot3_f32(const float* a, const float* const* b, int n, float* out) {
  __m256 acc[3][4];
  for (int t = 0; t < 3; ++t)
    for (int k = 0; k < 4; ++k) acc[t][k] = _mm256_setzero_ps();
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    for (int k = 0; k < 4; ++k) {
      const __m256 ak = _mm256_loadu_ps(a + i + 8 * k);
      for (int t = 0; t < 3; ++t) acc[t][k] = _mm256_fmadd_ps(ak, _mm256_loadu_ps(b[t] + i + 8 * k), acc[t][k]);
    }
  }
  for (; i + 8 <= n; i += 8) {
    const __m256 ai = _mm256_loadu_ps(a + i);
    for (int t = 0; t < 3; ++t) acc[t][0] = _mm256_fmadd_ps(ai, _mm256_loadu_ps(b[t] + i), acc[t][0]);
  }
  for (int t = 0; t < 3; ++t) {
    const __m256 sum8 = _mm256_add_ps(_mm256_add_ps(acc[t][0], acc[t][1]), _mm256_add_ps(acc[t][2], acc[t][3]));
    __m128 half = _mm_add_ps(_mm256_castps256_ps128(sum8), _mm256_extractf128_ps(sum8, 1));
    half = _mm_add_ps(half, _mm_movehl_ps(half, half));
    half = _mm_add_ss(half, _mm_movehdup_ps(half));
    float sum = _mm_cvtss_f32(half);
    for (int j = i; j < n; ++j) sum += a[j] * b[t][j];
    out[t] = sum;
  }
}

}  // namespace

void quantize_activation_row(const float* x, int n, uint8_t* u, float* scale, int32_t* zero_point) {
  __m256 vlo = _mm256_setzero_ps();
  __m256 vhi = _mm256_setzero_ps();
  __m256i nonfinite = _mm256_setzero_si256();
  const __m256i exponent = _mm256_set1_epi32(0x7f800000);
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    vlo = _mm256_min_ps(vlo, v);
    vhi = _mm256_max_ps(vhi, v);
    nonfinite = _mm256_or_si256(nonfinite, _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_castps_si256(v), exponent), exponent));
  }
  __m128 lo4 = _mm_min_ps(_mm256_castps256_ps128(vlo), _mm256_extractf128_ps(vlo, 1));
  lo4 = _mm_min_ps(lo4, _mm_movehl_ps(lo4, lo4));
  lo4 = _mm_min_ss(lo4, _mm_movehdup_ps(lo4));
  __m128 hi4 = _mm_max_ps(_mm256_castps256_ps128(vhi), _mm256_extractf128_ps(vhi, 1));
  hi4 = _mm_max_ps(hi4, _mm_movehl_ps(hi4, hi4));
  hi4 = _mm_max_ss(hi4, _mm_movehdup_ps(hi4));
  float lo = _mm_cvtss_f32(lo4), hi = _mm_cvtss_f32(hi4);
  bool finite = _mm256_testz_si256(nonfinite, nonfinite) != 0;
  for (; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, x + i, 4);
    if ((bits & 0x7f800000u) == 0x7f800000u) finite = false;
    lo = x[i] < lo ? x[i] : lo;
    hi = x[i] > hi ? x[i] : hi;
  }
  // min(0, min x) and max(0, max x) are exact in any order, so the scalar rule applied to
  // the pair (lo, hi) gives the scale and zero point it gives on the whole row.
  const float pair[2] = {finite ? lo : std::numeric_limits<float>::quiet_NaN(), hi};
  const AsymmetricRange range = asymmetric_range(pair, 2, 255);
  *scale = range.scale;
  *zero_point = range.zero;
  if (range.scale == 0.0f) {
    std::memset(u, 0, static_cast<size_t>(n));
    return;
  }
  const __m256 inv = _mm256_set1_ps(range.inverse);
  const __m256i zero = _mm256_set1_epi32(range.zero);
  i = 0;
  for (; i + 32 <= n; i += 32) levels32(x + i, inv, zero, u + i);
  if (i < n) {
    alignas(32) float rest[32] = {};
    alignas(32) uint8_t codes[32];
    std::memcpy(rest, x + i, static_cast<size_t>(n - i) * sizeof(float));
    levels32(rest, inv, zero, codes);
    std::memcpy(u + i, codes, static_cast<size_t>(n - i));
  }
}

void qlinear_a8(const QMatrixView& w, const ActivationCodes& a, int row_begin, int row_end, float* y,
                size_t y_stride) {
  a8_rows_or_scalar(w, a, row_begin, row_end, y, y_stride);
}

void qlinear_wf(const QMatrixView& w, const float* x, size_t x_stride, int n_tokens, int row_begin, int row_end,
                float* y, size_t y_stride) {
  // From four tokens on, dequantizing each row once beats dequantizing it per token pair.
  constexpr int kPrefillTokens = 4;
  if ((w.n_groups != 1 && w.group % 8 != 0) || n_tokens >= kPrefillTokens) {
    // Each row dequantized once per block of tokens, then three tokens at a time.
    wf_rows_via_memory<3>(
        w, x, x_stride, n_tokens, row_begin, row_end, y, y_stride,
        [&](int r, int8_t* codes, float* row) {
          scalar::unpack_row_codes(w, r, codes);
          scalar::dequantize_row_codes(w, r, codes, row);
        },
        dot3_f32, dot_f32);
    return;
  }
  switch (w.codec) {
    case WeightCodec::kInt8Sym: wf_rows<WCodec::kInt8>(w, x, x_stride, n_tokens, row_begin, row_end, y, y_stride); break;
    case WeightCodec::kInt4Sym: wf_rows<WCodec::kInt4Sym>(w, x, x_stride, n_tokens, row_begin, row_end, y, y_stride); break;
    case WeightCodec::kInt4Asym: wf_rows<WCodec::kInt4Asym>(w, x, x_stride, n_tokens, row_begin, row_end, y, y_stride); break;
  }
}

}  // namespace nibble::avx2
