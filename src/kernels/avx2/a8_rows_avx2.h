// The AVX2 a8w4 / a8w8 kernel: eight rows per block, one per lane of the float combination
// (each lane adds its row's groups in ascending order, as the scalar reference), tokens
// four at a time through each block. The integer group sums are exact, so the same integers
// as the scalar path:
//  - int4 codes: vpmaddubsw (|u * c| * 2 <= 4080, no int16 saturation), up to eight chunks
//    added in int16, then vpmaddwd by 1;
//  - int8 codes: both sides widened to int16 and vpmaddwd (exact int32 pairs).
// (AVX-512 has its own kernel over 16-row panels: kernels/avx512/a8_panel_avx512.h.)
// Include only from src/kernels/avx2/ sources (internal linkage, AVX2 flags).
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/qmatrix_view.h"
#include "kernels/scalar/qlinear_scalar.h"  // the fallback (baseline code, plain calls)
#include "kernels/simd_scales.h"

namespace nibble {
namespace {

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

// Rows [row_begin, row_end) of an a8 layer: the eight-row kernel for int4/int8 symmetric
// codes with groups of 16, a multiple of 32 or per channel; anything else goes to the scalar
// kernel (same bits, not fast).
inline void a8_rows_or_scalar(const QMatrixView& w, const ActivationCodes& a, int row_begin, int row_end, float* y,
                              size_t y_stride) {
  const bool int4 = w.codec == WeightCodec::kInt4Sym;
  const bool whole_chunks = w.n_groups == 1 || w.group % 32 == 0;
  if (w.codec == WeightCodec::kInt4Asym || w.code_sums == nullptr || !(whole_chunks || w.group == 16)) {
    scalar::qlinear_a8(w, a, row_begin, row_end, y, y_stride);
  } else if (whole_chunks) {
    if (int4)
      a8_rows<true, false>(w, a, row_begin, row_end, y, y_stride);
    else
      a8_rows<false, false>(w, a, row_begin, row_end, y, y_stride);
  } else if (int4) {
    a8_rows<true, true>(w, a, row_begin, row_end, y, y_stride);
  } else {
    a8_rows<false, true>(w, a, row_begin, row_end, y, y_stride);
  }
}

}  // namespace
}  // namespace nibble
