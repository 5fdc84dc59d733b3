#include "kernels/avx2/qlinear_avx2.h"

#include <immintrin.h>

#include <cstdlib>
#include <cstring>
#include <limits>

#include "kernels/avx2/f32_avx2.h"
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
// a8 kernels.

// 16 bytes of a full int4 block -> its 32 signed codes in element order (low nibbles are
// elements 0..15, high nibbles 16..31), c = u - 8.
inline __m256i int4_block_codes(const uint8_t* p) {
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(b, 4), b);
  return _mm256_sub_epi8(_mm256_and_si256(both, _mm256_set1_epi8(0x0f)), _mm256_set1_epi8(8));
}

// One block of eight rows (the last block repeats its last valid row in unused lanes).
struct A8Block {
  const QMatrixView* w = nullptr;
  const uint8_t* rows[8];  // each row's codes
  size_t slot[8];          // row * n_groups: index of the row's first scale / code sum
  int n_full = 0;          // full 32-element chunks per row
  int n_chunks = 0;        // chunks including a partial last one
  alignas(32) int8_t tail[8][32];  // partial last chunk: signed codes in element order, zero padded
};

// 8x8 transpose: r[j] lane i <- r[i] lane j.
inline void transpose8(__m256* r) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// Scales and code sums of groups [g0, g0 + gn) for the block's eight rows, transposed so
// that lane i of scales[j] / sums[j] belongs to row i and group g0 + j.
inline void load_group_batch(const A8Block& b, int g0, int gn, __m256* scales, __m256i* sums) {
  const QMatrixView& w = *b.w;
  if (gn == 8) {
    __m256 r[8];
    for (int i = 0; i < 8; ++i) {
      const size_t at = b.slot[i] + static_cast<size_t>(g0);
      if (w.scale_type == ScaleType::kF16) {
        r[i] = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.scales + at * 2)));
      } else if (w.scale_type == ScaleType::kBF16) {
        const __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.scales + at * 2)));
        r[i] = _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
      } else {
        r[i] = _mm256_loadu_ps(reinterpret_cast<const float*>(w.scales + at * 4));
      }
    }
    transpose8(r);
    for (int j = 0; j < 8; ++j) scales[j] = r[j];
    for (int i = 0; i < 8; ++i)
      r[i] = _mm256_castsi256_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.code_sums + b.slot[i] + g0)));
    transpose8(r);
    for (int j = 0; j < 8; ++j) sums[j] = _mm256_castps_si256(r[j]);
    return;
  }
  const int sb = scale_bytes(w.scale_type);
  for (int j = 0; j < gn; ++j) {
    alignas(32) float s[8];
    alignas(32) int32_t c[8];
    for (int i = 0; i < 8; ++i) {
      const size_t at = b.slot[i] + static_cast<size_t>(g0 + j);
      s[i] = scale_at(w.scale_type, w.scales + at * sb);
      c[i] = w.code_sums[at];
    }
    scales[j] = _mm256_load_ps(s);
    sums[j] = _mm256_load_si256(reinterpret_cast<const __m256i*>(c));
  }
}

// Sums of eight vectors' lanes: lane i of *lo = lanes 0..3 of v[i], of *hi = lanes 4..7.
inline void reduce8(const __m256i* v, __m256i* lo, __m256i* hi) {
  const __m256i s01 = _mm256_hadd_epi32(v[0], v[1]);
  const __m256i s23 = _mm256_hadd_epi32(v[2], v[3]);
  const __m256i s45 = _mm256_hadd_epi32(v[4], v[5]);
  const __m256i s67 = _mm256_hadd_epi32(v[6], v[7]);
  const __m256i s0123 = _mm256_hadd_epi32(s01, s23);  // v0..v3 low-half sums | high-half sums
  const __m256i s4567 = _mm256_hadd_epi32(s45, s67);
  *lo = _mm256_permute2x128_si256(s0123, s4567, 0x20);
  *hi = _mm256_permute2x128_si256(s0123, s4567, 0x31);
}

// acc += scale * float(isum - z_a * code_sum): a multiply then an add, as the reference.
inline __m256 combine(__m256 acc, __m256i isum, __m256 scale, __m256i code_sums, int32_t z_a) {
  const __m256i exact = _mm256_sub_epi32(isum, _mm256_mullo_epi32(_mm256_set1_epi32(z_a), code_sums));
  return _mm256_add_ps(acc, _mm256_mul_ps(scale, _mm256_cvtepi32_ps(exact)));
}

// acc[t] += per-lane int32 partial sums of u_t * code over chunks [c0, c1) of row i.
// Lanes 0..3 only ever hold elements 0..15 of a chunk and lanes 4..7 elements 16..31
// when kHalf (G == 16 needs the two halves apart); otherwise lanes mix freely.
template <int NT, bool kInt4, bool kHalf>
inline void accumulate_chunks(const A8Block& b, int i, int c0, int c1, const uint8_t* const* u, __m256i* acc) {
  const int full_end = imin(c1, b.n_full);  // chunks [full_end, c1) are the partial tail (at most one)
  if constexpr (kInt4) {
    // vpmaddubsw pairs: |u * c| * 2 <= 255 * 8 * 2 = 4080, and eight such int16 sums stay
    // within +-32640, so up to eight chunks add in int16 before widening.
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i p[NT];
    int pending = 0;
    auto add_chunk = [&](__m256i codes, int k) {
      if (pending == 0)
        for (int t = 0; t < NT; ++t) p[t] = _mm256_setzero_si256();
      for (int t = 0; t < NT; ++t) {
        const __m256i ut = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(u[t] + static_cast<size_t>(k) * 32));
        p[t] = _mm256_add_epi16(p[t], _mm256_maddubs_epi16(ut, codes));
      }
      if (++pending == 8) {
        for (int t = 0; t < NT; ++t) acc[t] = _mm256_add_epi32(acc[t], _mm256_madd_epi16(p[t], ones));
        pending = 0;
      }
    };
    for (int k = c0; k < full_end; ++k) add_chunk(int4_block_codes(b.rows[i] + static_cast<size_t>(k) * 16), k);
    if (c1 > full_end) add_chunk(_mm256_load_si256(reinterpret_cast<const __m256i*>(b.tail[i])), full_end);
    if (pending != 0)
      for (int t = 0; t < NT; ++t) acc[t] = _mm256_add_epi32(acc[t], _mm256_madd_epi16(p[t], ones));
  } else {
    // int8 codes: vpmaddubsw could saturate (255 * 127 * 2 > 32767), so both sides are
    // widened to int16 and vpmaddwd makes exact int32 pair sums.
    auto add_chunk = [&](const int8_t* src, int k) {
      const __m256i c_lo = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src)));
      const __m256i c_hi = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 16)));
      for (int t = 0; t < NT; ++t) {
        const uint8_t* ut = u[t] + static_cast<size_t>(k) * 32;
        const __m256i u_lo = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(ut)));
        const __m256i u_hi = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(ut + 16)));
        const __m256i m_lo = _mm256_madd_epi16(u_lo, c_lo);  // every lane: elements 0..15
        const __m256i m_hi = _mm256_madd_epi16(u_hi, c_hi);  // every lane: elements 16..31
        if constexpr (kHalf)
          acc[t] = _mm256_add_epi32(acc[t], _mm256_add_epi32(_mm256_permute2x128_si256(m_lo, m_hi, 0x20),
                                                             _mm256_permute2x128_si256(m_lo, m_hi, 0x31)));
        else
          acc[t] = _mm256_add_epi32(acc[t], _mm256_add_epi32(m_lo, m_hi));
      }
    };
    for (int k = c0; k < full_end; ++k) add_chunk(reinterpret_cast<const int8_t*>(b.rows[i] + static_cast<size_t>(k) * 32), k);
    if (c1 > full_end) add_chunk(b.tail[i], full_end);
  }
}

// Tokens [t0, t0 + NT) through one block of rows. kHalf: G == 16, so each chunk holds
// two groups (lanes 0..3 and 4..7 of the pair sums); otherwise groups are whole chunks.
template <int NT, bool kInt4, bool kHalf>
void a8_tile(const A8Block& b, const ActivationCodes& a, int t0, int r0, int n_valid, float* y, size_t y_stride) {
  const QMatrixView& w = *b.w;
  const uint8_t* u[NT];
  for (int t = 0; t < NT; ++t) u[t] = a.codes + static_cast<size_t>(t0 + t) * a.stride;
  __m256 facc[NT];
  for (int t = 0; t < NT; ++t) facc[t] = _mm256_setzero_ps();
  __m256i part[NT][8];
  __m256 batch_scales[8];
  __m256i batch_sums[8];
  // Eight rows' int32 sums over chunks [c0, c1), one vector per token and row.
  auto row_sums = [&](int c0, int c1) {
    if (c1 == c0 + 1 && c0 < b.n_full) {
      // One full chunk per group (G == 32, or 16): straight-line code for the 8 rows.
      for (int i = 0; i < 8; ++i) {
        if constexpr (kInt4) {
          const __m256i codes = int4_block_codes(b.rows[i] + static_cast<size_t>(c0) * 16);
          for (int t = 0; t < NT; ++t) {
            const __m256i ut = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(u[t] + static_cast<size_t>(c0) * 32));
            part[t][i] = _mm256_madd_epi16(_mm256_maddubs_epi16(ut, codes), _mm256_set1_epi16(1));
          }
        } else {
          __m256i acc[NT];
          for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_si256();
          accumulate_chunks<NT, kInt4, kHalf>(b, i, c0, c1, u, acc);
          for (int t = 0; t < NT; ++t) part[t][i] = acc[t];
        }
      }
      return;
    }
    for (int i = 0; i < 8; ++i) {
      __m256i acc[NT];
      for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_si256();
      accumulate_chunks<NT, kInt4, kHalf>(b, i, c0, c1, u, acc);
      for (int t = 0; t < NT; ++t) part[t][i] = acc[t];
    }
  };
  // Groups go in batches of eight (whose scales and code sums are loaded together).
  for (int g0 = 0; g0 < w.n_groups; g0 += 8) {
    const int gn = imin(8, w.n_groups - g0);
    load_group_batch(b, g0, gn, batch_scales, batch_sums);
    if constexpr (!kHalf) {
      const int per_group = w.n_groups == 1 ? b.n_chunks : w.group / 32;
      for (int j = 0; j < gn; ++j) {
        const int c0 = (g0 + j) * per_group;
        row_sums(c0, imin(b.n_chunks, c0 + per_group));
        for (int t = 0; t < NT; ++t) {
          __m256i lo, hi;
          reduce8(part[t], &lo, &hi);
          facc[t] = combine(facc[t], _mm256_add_epi32(lo, hi), batch_scales[j], batch_sums[j], a.zeros[t0 + t]);
        }
      }
    } else {
      // G == 16: chunk c holds groups 2c and 2c + 1 (g0 is even).
      for (int j = 0; j < gn; j += 2) {
        const int c = (g0 + j) / 2;
        row_sums(c, c + 1);
        const bool second = j + 1 < gn;  // a ragged row may end inside the chunk's first group
        for (int t = 0; t < NT; ++t) {
          __m256i lo, hi;
          reduce8(part[t], &lo, &hi);
          facc[t] = combine(facc[t], lo, batch_scales[j], batch_sums[j], a.zeros[t0 + t]);
          if (second) facc[t] = combine(facc[t], hi, batch_scales[j + 1], batch_sums[j + 1], a.zeros[t0 + t]);
        }
      }
    }
  }
  for (int t = 0; t < NT; ++t) {
    alignas(32) float out[8];
    _mm256_store_ps(out, _mm256_mul_ps(_mm256_set1_ps(a.scales[t0 + t]), facc[t]));
    float* dst = y + static_cast<size_t>(t0 + t) * y_stride + static_cast<size_t>(r0);
    for (int i = 0; i < n_valid; ++i) dst[i] = out[i];
  }
}

template <bool kInt4, bool kHalf>
void a8_rows(const QMatrixView& w, const ActivationCodes& a, int row_begin, int row_end, float* y, size_t y_stride) {
  A8Block b;
  b.w = &w;
  b.n_full = w.cols / 32;
  b.n_chunks = (w.cols + 31) / 32;
  const int m = w.cols - 32 * b.n_full;  // elements in the partial last chunk
  for (int r0 = row_begin; r0 < row_end; r0 += 8) {
    const int n_valid = imin(8, row_end - r0);
    for (int i = 0; i < 8; ++i) {
      const int r = r0 + imin(i, n_valid - 1);
      b.rows[i] = w.codes + static_cast<size_t>(r) * w.row_bytes;
      b.slot[i] = static_cast<size_t>(r) * static_cast<size_t>(w.n_groups);
      if (m == 0) continue;
      // The partial block in element order; padding positions get code 0 (zero weight).
      std::memset(b.tail[i], 0, 32);
      if constexpr (kInt4) {
        const uint8_t* bytes = b.rows[i] + static_cast<size_t>(b.n_full) * 16;
        const int h = (m + 1) / 2;
        for (int j = 0; j < h; ++j) b.tail[i][j] = static_cast<int8_t>((bytes[j] & 0x0f) - 8);
        for (int j = 0; h + j < m; ++j) b.tail[i][h + j] = static_cast<int8_t>((bytes[j] >> 4) - 8);
      } else {
        std::memcpy(b.tail[i], b.rows[i] + static_cast<size_t>(b.n_full) * 32, static_cast<size_t>(m));
      }
    }
    for (int t0 = 0; t0 < a.n_tokens; t0 += 4) {
      switch (imin(4, a.n_tokens - t0)) {
        case 1: a8_tile<1, kInt4, kHalf>(b, a, t0, r0, n_valid, y, y_stride); break;
        case 2: a8_tile<2, kInt4, kHalf>(b, a, t0, r0, n_valid, y, y_stride); break;
        case 3: a8_tile<3, kInt4, kHalf>(b, a, t0, r0, n_valid, y, y_stride); break;
        default: a8_tile<4, kInt4, kHalf>(b, a, t0, r0, n_valid, y, y_stride); break;
      }
    }
  }
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
  const bool int4 = w.codec == WeightCodec::kInt4Sym;
  if (w.codec == WeightCodec::kInt4Asym || w.code_sums == nullptr) {
    scalar::qlinear_a8(w, a, row_begin, row_end, y, y_stride);
  } else if (w.n_groups == 1 || w.group % 32 == 0) {
    if (int4)
      a8_rows<true, false>(w, a, row_begin, row_end, y, y_stride);
    else
      a8_rows<false, false>(w, a, row_begin, row_end, y, y_stride);
  } else if (w.group == 16) {
    if (int4)
      a8_rows<true, true>(w, a, row_begin, row_end, y, y_stride);
    else
      a8_rows<false, true>(w, a, row_begin, row_end, y, y_stride);
  } else {
    scalar::qlinear_a8(w, a, row_begin, row_end, y, y_stride);
  }
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
