#include "kernels/avx512/a8_panel_avx512.h"

#include "kernels/avx512/intrinsics_avx512.h"

#include <cstdint>
#include <cstring>

#include "kernels/a8_panels.h"
#include "kernels/avx512/scales_avx512.h"

namespace nibble::avx512 {

namespace {

// How far ahead of use the panels are prefetched (8 KiB), into L2. A decoded token streams
// every panel once from DRAM; without prefetching the hardware prefetcher alone left the
// 1.1B model's decode at ~7.5 GB/s on one thread (2 KiB ahead into L1: ~9.9 GB/s). Going
// further ahead into L2 keeps more lines in flight than L1's fill buffers allow: 96 copies
// of a 5632x2048 a8w4 layer (matvec_dram), two threads, alternated in one process, medians
// 20.46 / 20.38 GB/s at 2 KiB into L1 against 21.21 / 20.90 at 8 KiB into L2; 4 and 16 KiB
// into L2 and 16 KiB into L3 measured the same within this VM's noise. Each chunk and each
// line of scales prefetches the line this far past itself, so a block's whole stream
// (a8_panels.h) is covered.
constexpr size_t kPrefetchBytes = 8192;

// Four activation bytes (elements at..at+3 of one token) in every 32-bit lane.
inline __m512i broadcast4(const uint8_t* at) {
  int32_t v;
  std::memcpy(&v, at, 4);
  return _mm512_set1_epi32(v);
}

inline void prefetch_ahead(const uint8_t* line) {
  _mm_prefetch(reinterpret_cast<const char*>(line + kPrefetchBytes), _MM_HINT_T1);
}

// Tokens [t0, t0 + NT) through block `block`; stores rows [lo, hi) of the block.
// One token (decode) gets two int32 chains (even/odd vpdpbusd) so consecutive ones do not
// wait on each other; with more tokens their chains interleave and one each suffices (the
// split does not change the exact sums). The group's code sums (for the activation zero
// point) come from the same codes: vpdpbusd against bytes of 1.
template <int NT, bool kInt4, ScaleType kScale>
void panel_tile(const QMatrixView& w, const ActivationCodes& a, int block, int t0, int lo, int hi, float* y,
                size_t y_stride) {
  constexpr size_t kScaleBytes = kScale == ScaleType::kF32 ? 4 : 2;
  constexpr bool kTwoChains = NT == 1;
  const PanelLayout& l = w.panel;
  const uint8_t* unit = w.panel_bytes + panel_offsets::group_codes(l, block, 0);
  const uint8_t* u[NT];
  for (int t = 0; t < NT; ++t) u[t] = a.codes + static_cast<size_t>(t0 + t) * a.stride;
  const __m512i low_nibble = _mm512_set1_epi8(0x0f);
  const __m512i eight = _mm512_set1_epi8(8);
  const __m512i ones = _mm512_set1_epi8(1);
  __m512 facc[NT];
  for (int t = 0; t < NT; ++t) facc[t] = _mm512_setzero_ps();
  // Units in order; within one, its groups' codes and then the line of their scales.
  const uint8_t* scales = unit + static_cast<size_t>(panel_offsets::unit_size(l, 0)) * l.group_chunks * kPanelChunkBytes;
  const uint8_t* group_codes = unit;
  for (int g = 0, in_unit = 0; g < w.n_groups; ++g) {
    const int k0 = g * l.group_chunks;
    const int k1 = k0 + l.group_chunks < l.chunks_per_row ? k0 + l.group_chunks : l.chunks_per_row;
    // Chunk k of the row is at codes + k * kPanelChunkBytes for k in [k0, k1).
    const uint8_t* codes = group_codes - static_cast<size_t>(k0) * kPanelChunkBytes;
    __m512i even[NT], odd[kTwoChains ? NT : 1];
    for (int t = 0; t < NT; ++t) even[t] = _mm512_setzero_si512();
    if constexpr (kTwoChains) odd[0] = _mm512_setzero_si512();
    __m512i code_sums = _mm512_setzero_si512();
    // Activation bytes [at, at + 4) of every token against `first`, [at + 4, at + 8) against
    // `second` (an int4 chunk's low and high nibbles, or two int8 chunks).
    auto add_pair = [&](size_t at, __m512i first, __m512i second) __attribute__((always_inline)) {
      for (int t = 0; t < NT; ++t) {
        even[t] = _mm512_dpbusd_epi32(even[t], broadcast4(u[t] + at), first);
        if constexpr (kTwoChains)
          odd[t] = _mm512_dpbusd_epi32(odd[t], broadcast4(u[t] + at + 4), second);
        else
          even[t] = _mm512_dpbusd_epi32(even[t], broadcast4(u[t] + at + 4), second);
      }
    };
    int k = k0;
    if constexpr (kInt4) {
      for (; k < k1; ++k) {
        prefetch_ahead(codes + static_cast<size_t>(k) * kPanelChunkBytes);
        const __m512i v = _mm512_loadu_si512(codes + static_cast<size_t>(k) * kPanelChunkBytes);
        const __m512i c_lo = _mm512_sub_epi8(_mm512_and_si512(v, low_nibble), eight);
        const __m512i c_hi = _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(v, 4), low_nibble), eight);
        code_sums = _mm512_dpbusd_epi32(code_sums, ones, _mm512_add_epi8(c_lo, c_hi));  // |c_lo + c_hi| <= 16
        add_pair(static_cast<size_t>(k) * 8, c_lo, c_hi);
      }
    } else {
      for (; k + 2 <= k1; k += 2) {
        prefetch_ahead(codes + static_cast<size_t>(k) * kPanelChunkBytes);
        prefetch_ahead(codes + static_cast<size_t>(k + 1) * kPanelChunkBytes);
        const __m512i v0 = _mm512_loadu_si512(codes + static_cast<size_t>(k) * kPanelChunkBytes);
        const __m512i v1 = _mm512_loadu_si512(codes + static_cast<size_t>(k + 1) * kPanelChunkBytes);
        code_sums = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(code_sums, ones, v0), ones, v1);
        add_pair(static_cast<size_t>(k) * 4, v0, v1);
      }
      if (k < k1) {
        prefetch_ahead(codes + static_cast<size_t>(k) * kPanelChunkBytes);
        const __m512i v = _mm512_loadu_si512(codes + static_cast<size_t>(k) * kPanelChunkBytes);
        code_sums = _mm512_dpbusd_epi32(code_sums, ones, v);
        for (int t = 0; t < NT; ++t)
          even[t] = _mm512_dpbusd_epi32(even[t], broadcast4(u[t] + static_cast<size_t>(k) * 4), v);
      }
    }
    // acc += scale * float(sum - z_a * code_sum): exact int32, then a multiply and an add.
    const __m512 group_scales = load_scales16<kScale>(scales + static_cast<size_t>(in_unit) * kPanelRows * kScaleBytes);
    for (int t = 0; t < NT; ++t) {
      __m512i sum = even[t];
      if constexpr (kTwoChains) sum = _mm512_add_epi32(sum, odd[t]);
      const __m512i exact = _mm512_sub_epi32(sum, _mm512_mullo_epi32(_mm512_set1_epi32(a.zeros[t0 + t]), code_sums));
      facc[t] = _mm512_add_ps(facc[t], _mm512_mul_ps(group_scales, _mm512_cvtepi32_ps(exact)));
    }
    if (++in_unit < l.unit_groups) {
      group_codes += static_cast<size_t>(l.group_chunks) * kPanelChunkBytes;
    } else {
      prefetch_ahead(scales);
      unit += l.unit_bytes;
      group_codes = unit;
      scales = unit + static_cast<size_t>(panel_offsets::unit_size(l, g + 1)) * l.group_chunks * kPanelChunkBytes;
      in_unit = 0;
    }
  }
  const __mmask16 keep = static_cast<__mmask16>(((1u << hi) - 1u) & ~((1u << lo) - 1u));
  for (int t = 0; t < NT; ++t) {
    float* dst = y + static_cast<size_t>(t0 + t) * y_stride + static_cast<size_t>(block) * kPanelRows;
    _mm512_mask_storeu_ps(dst, keep, _mm512_mul_ps(_mm512_set1_ps(a.scales[t0 + t]), facc[t]));
  }
}

template <bool kInt4, ScaleType kScale>
void panel_rows(const QMatrixView& w, const ActivationCodes& a, int row_begin, int row_end, float* y,
                size_t y_stride) {
  for (int block = row_begin / kPanelRows; block * kPanelRows < row_end; ++block) {
    const int first = block * kPanelRows;
    const int lo = row_begin > first ? row_begin - first : 0;
    const int hi = row_end < first + kPanelRows ? row_end - first : kPanelRows;
    // Eight tokens per tile: each chunk's unpacking and code sum serve eight vpdpbusd pairs.
    for (int t0 = 0; t0 < a.n_tokens; t0 += 8) {
      switch (a.n_tokens - t0 < 8 ? a.n_tokens - t0 : 8) {
        case 1: panel_tile<1, kInt4, kScale>(w, a, block, t0, lo, hi, y, y_stride); break;
        case 2: panel_tile<2, kInt4, kScale>(w, a, block, t0, lo, hi, y, y_stride); break;
        case 3: panel_tile<3, kInt4, kScale>(w, a, block, t0, lo, hi, y, y_stride); break;
        case 4: panel_tile<4, kInt4, kScale>(w, a, block, t0, lo, hi, y, y_stride); break;
        case 5: panel_tile<5, kInt4, kScale>(w, a, block, t0, lo, hi, y, y_stride); break;
        case 6: panel_tile<6, kInt4, kScale>(w, a, block, t0, lo, hi, y, y_stride); break;
        case 7: panel_tile<7, kInt4, kScale>(w, a, block, t0, lo, hi, y, y_stride); break;
        default: panel_tile<8, kInt4, kScale>(w, a, block, t0, lo, hi, y, y_stride); break;
      }
    }
  }
}

template <bool kInt4>
void panel_rows(const QMatrixView& w, const ActivationCodes& a, int row_begin, int row_end, float* y,
                size_t y_stride) {
  switch (w.scale_type) {
    case ScaleType::kF16: panel_rows<kInt4, ScaleType::kF16>(w, a, row_begin, row_end, y, y_stride); break;
    case ScaleType::kBF16: panel_rows<kInt4, ScaleType::kBF16>(w, a, row_begin, row_end, y, y_stride); break;
    case ScaleType::kF32: panel_rows<kInt4, ScaleType::kF32>(w, a, row_begin, row_end, y, y_stride); break;
  }
}

}  // namespace

void a8_panel_rows(const QMatrixView& w, const ActivationCodes& a, int row_begin, int row_end, float* y,
                   size_t y_stride) {
  if (w.codec == WeightCodec::kInt4Sym)
    panel_rows<true>(w, a, row_begin, row_end, y, y_stride);
  else
    panel_rows<false>(w, a, row_begin, row_end, y, y_stride);
}

}  // namespace nibble::avx512
