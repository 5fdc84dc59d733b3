#include "kernels/amx/qlinear_amx.h"

// GCC 12's AVX-512 intrinsics initialise their "undefined" pass-through operand from
// itself (GCC bug 105593, fixed in 13), which -Wuninitialized then reports at every use.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>

#include <cstdint>
#include <new>

#include "kernels/a8_panels.h"
#include "kernels/avx512/qlinear_avx512.h"
#include "kernels/avx512/scales_avx512.h"
#include "kernels/avx512/upper_registers_avx512.h"

namespace nibble::amx {

namespace {

constexpr int kTileTokens = 16;
// Inputs one TDPBUSD covers at most: a tile row holds 64 bytes.
constexpr int kSliceInputs = 64;

// Tile instructions name their registers in the opcode; these take the register as a
// template constant (the intrinsics stringify a literal), and tell the compiler they read
// or write memory.
template <int T>
inline void tile_zero() {
  __asm__ volatile("tilezero %%tmm%c0" ::"n"(T));
}
template <int T>
inline void tile_load(const void* base, size_t stride) {
  __asm__ volatile("tileloadd (%0,%1,1), %%tmm%c2" ::"r"(base), "r"(stride), "n"(T) : "memory");
}
template <int T>
inline void tile_store(void* base, size_t stride) {
  __asm__ volatile("tilestored %%tmm%c2, (%0,%1,1)" ::"r"(base), "r"(stride), "n"(T) : "memory");
}
// C += A (u8, 16 x 4k) x B (s8, k rows of 16 x 4): C[m][n] += sum of A[m][4j+i] * B[j][4n+i].
template <int C, int A, int B>
inline void tile_dpbusd() {
  __asm__ volatile("tdpbusd %%tmm%c2, %%tmm%c1, %%tmm%c0" ::"n"(C), "n"(A), "n"(B));
}

// The LDTILECFG operand (palette 1).
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};

  void set(int tile, int rows_, int bytes_per_row) {
    rows[tile] = static_cast<uint8_t>(rows_);
    colsb[tile] = static_cast<uint16_t>(bytes_per_row);
  }
};

// Tile registers: up to two tiles of sixteen tokens (activations, kActs + i) times up to two
// blocks of sixteen rows (codes, kCodes + j) give four tiles of sums (2i + j). Each tile
// load then feeds two products: TDPBUSD, tile loads and stores each take about as long
// (measured here: a product ~16 cycles whatever its depth, a store as long, a load half).
constexpr int kActs = 4, kCodes = 6;

// The tile path takes matrices whose groups all have the same number of inputs, at most 64
// (one product per group, q4_g32 and q8_g32 among them); others take the AVX-512 kernel.
int tile_group_inputs(const QMatrixView& w, int elems) {
  const int inputs = w.panel_chunks * elems;  // panels pad rows to whole chunks with code 0
  const int group = w.n_groups == 1 ? inputs : w.group;
  return group <= kSliceInputs && inputs == w.n_groups * group ? group : 0;
}

// One block's codes as tile rows (four inputs of each of its sixteen rows: the layout int8
// panels already have; int4 chunks are unpacked to one byte per code into `unpacked`), and
// each group's code sums (for the activation zero point) into sums[g].
template <bool kInt4>
const uint8_t* block_codes(const uint8_t* chunks, int n_chunks, int group_chunks, uint8_t* unpacked, __m512i* sums) {
  const __m512i ones = _mm512_set1_epi8(1);
  for (int k0 = 0, g = 0; k0 < n_chunks; k0 += group_chunks, ++g) {
    __m512i s = _mm512_setzero_si512();
    for (int k = k0; k < k0 + group_chunks; ++k) {
      const __m512i v = _mm512_loadu_si512(chunks + static_cast<size_t>(k) * kPanelChunkBytes);
      if constexpr (kInt4) {
        // Chunk k's low nibbles are inputs 8k..8k+3, its high nibbles 8k+4..8k+7.
        const __m512i low_nibble = _mm512_set1_epi8(0x0f);
        const __m512i eight = _mm512_set1_epi8(8);
        const __m512i c_lo = _mm512_sub_epi8(_mm512_and_si512(v, low_nibble), eight);
        const __m512i c_hi = _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(v, 4), low_nibble), eight);
        const size_t at = static_cast<size_t>(2 * k) * kPanelChunkBytes;
        _mm512_storeu_si512(unpacked + at, c_lo);
        _mm512_storeu_si512(unpacked + at + kPanelChunkBytes, c_hi);
        s = _mm512_dpbusd_epi32(s, ones, _mm512_add_epi8(c_lo, c_hi));  // |c_lo + c_hi| <= 16
      } else {
        s = _mm512_dpbusd_epi32(s, ones, v);
      }
    }
    _mm512_store_si512(sums + g, s);
  }
  if constexpr (kInt4) return unpacked;
  return chunks;
}

// Sums tile 2i + j for one group: tokens tile i against block j.
template <int NT, int NB>
inline void group_products(const uint8_t* acts, size_t stride, const uint8_t* const* codes, size_t code_offset,
                           int32_t (*out)[kTileTokens][kPanelRows]) {
  tile_load<kActs>(acts, stride);
  if constexpr (NT == 2) tile_load<kActs + 1>(acts + kTileTokens * stride, stride);
  tile_load<kCodes>(codes[0] + code_offset, kPanelChunkBytes);
  if constexpr (NB == 2) tile_load<kCodes + 1>(codes[1] + code_offset, kPanelChunkBytes);
  tile_zero<0>();
  tile_dpbusd<0, kActs, kCodes>();
  tile_store<0>(out[0], kPanelRows * sizeof(int32_t));
  if constexpr (NB == 2) {
    tile_zero<1>();
    tile_dpbusd<1, kActs, kCodes + 1>();
    tile_store<1>(out[1], kPanelRows * sizeof(int32_t));
  }
  if constexpr (NT == 2) {
    tile_zero<2>();
    tile_dpbusd<2, kActs + 1, kCodes>();
    tile_store<2>(out[2], kPanelRows * sizeof(int32_t));
  }
  if constexpr (NT == 2 && NB == 2) {
    tile_zero<3>();
    tile_dpbusd<3, kActs + 1, kCodes + 1>();
    tile_store<3>(out[3], kPanelRows * sizeof(int32_t));
  }
}

// What one call of rows shares across its tiles.
struct Blocks {
  const uint8_t* codes[2];      // tile rows of each block
  const __m512i* code_sums[2];  // [group] of each block
  const uint8_t* scales[2];     // [group][16] of each block
  int first_row[2];             // the blocks' first rows
  __mmask16 keep[2];            // rows of each block inside [row_begin, row_end)
};

// NT tiles of tokens from t0 through NB blocks.
template <int NT, int NB, ScaleType kScale>
void tokens_through_blocks(const QMatrixView& w, int group_inputs, const ActivationCodes& a, int t0, const Blocks& b,
                           float* y, size_t y_stride) {
  constexpr size_t kScaleBytes = kScale == ScaleType::kF32 ? 4 : 2;
  constexpr int kTiles = 2 * NT;  // sums tile 2i + j; with NB == 1 only the even ones
  alignas(64) float acc[kTiles][kTileTokens][kPanelRows];
  alignas(64) int32_t sums[2][kTiles][kTileTokens][kPanelRows];
  for (int i = 0; i < kTiles; ++i)
    for (int t = 0; t < kTileTokens; ++t) _mm512_store_ps(acc[i][t], _mm512_setzero_ps());
  const uint8_t* acts = a.codes + static_cast<size_t>(t0) * a.stride;
  // acc += scale * float(sum - z_a * code_sum): exact int32, then a multiply and an add.
  auto add_group = [&](int g) __attribute__((always_inline)) {
    for (int j = 0; j < NB; ++j) {
      const __m512 scales = avx512::load_scales16<kScale>(b.scales[j] + static_cast<size_t>(g) * kPanelRows * kScaleBytes);
      const __m512i code_sums = _mm512_load_si512(b.code_sums[j] + g);
      for (int i = 0; i < NT; ++i) {
        for (int t = 0; t < kTileTokens; ++t) {
          const __m512i zero_point = _mm512_set1_epi32(a.zeros[t0 + i * kTileTokens + t]);
          // z_a * code_sum by vpmaddwd (one uop; vpmulld is two): z_a is in [0, 255] (the
          // lane's high half 0) and a code sum of at most 64 codes fits its low int16.
          const __m512i exact =
              _mm512_sub_epi32(_mm512_load_si512(sums[g % 2][2 * i + j][t]), _mm512_madd_epi16(zero_point, code_sums));
          float* row = acc[2 * i + j][t];
          _mm512_store_ps(row, _mm512_add_ps(_mm512_load_ps(row), _mm512_mul_ps(scales, _mm512_cvtepi32_ps(exact))));
        }
      }
    }
  };
  // The tile unit computes group g while the vector units add group g - 1: in program order,
  // so both fit in the out-of-order window.
  for (int g = 0; g < w.n_groups; ++g) {
    const int e0 = g * group_inputs;
    group_products<NT, NB>(acts + e0, a.stride, b.codes, static_cast<size_t>(e0 / 4) * kPanelChunkBytes, sums[g % 2]);
    if (g > 0) add_group(g - 1);
  }
  add_group(w.n_groups - 1);
  for (int i = 0; i < NT; ++i) {
    for (int j = 0; j < NB; ++j) {
      for (int t = 0; t < kTileTokens; ++t) {
        const int token = t0 + i * kTileTokens + t;
        float* dst = y + static_cast<size_t>(token) * y_stride + b.first_row[j];
        _mm512_mask_storeu_ps(dst, b.keep[j], _mm512_mul_ps(_mm512_set1_ps(a.scales[token]), _mm512_load_ps(acc[2 * i + j][t])));
      }
    }
  }
}

template <int NB, ScaleType kScale>
void tokens_through_blocks(const QMatrixView& w, int group_inputs, const ActivationCodes& a, int n_tokens,
                           const Blocks& b, float* y, size_t y_stride) {
  int t0 = 0;
  for (; t0 + 2 * kTileTokens <= n_tokens; t0 += 2 * kTileTokens)
    tokens_through_blocks<2, NB, kScale>(w, group_inputs, a, t0, b, y, y_stride);
  if (t0 < n_tokens) tokens_through_blocks<1, NB, kScale>(w, group_inputs, a, t0, b, y, y_stride);
}

template <bool kInt4, ScaleType kScale>
void tiled_rows(const QMatrixView& w, int group_inputs, const ActivationCodes& a, int n_tokens, int row_begin,
                int row_end, float* y, size_t y_stride) {
  constexpr int kElems = kInt4 ? 8 : 4;
  constexpr size_t kScaleBytes = kScale == ScaleType::kF32 ? 4 : 2;
  TileConfig config;
  for (int tile = 0; tile < 4; ++tile) config.set(tile, kTileTokens, kPanelRows * sizeof(int32_t));
  for (int i = 0; i < 2; ++i) config.set(kActs + i, kTileTokens, group_inputs);
  for (int j = 0; j < 2; ++j) config.set(kCodes + j, group_inputs / 4, kPanelChunkBytes);
  _tile_loadconfig(&config);
  // Two blocks' unpacked int4 codes (64 bytes per four inputs) and code sums, reused by
  // every tile of tokens.
  const size_t block_bytes = static_cast<size_t>(w.panel_chunks) * kElems / 4 * kPanelChunkBytes;
  const size_t sums_bytes = static_cast<size_t>(w.n_groups) * sizeof(__m512i);
  uint8_t* buffer = static_cast<uint8_t*>(::operator new(2 * (sums_bytes + (kInt4 ? block_bytes : 0)), std::align_val_t{64}));
  const size_t chunk_bytes = static_cast<size_t>(w.panel_chunks) * kPanelChunkBytes;
  const int group_chunks = group_inputs / kElems;
  const int last_block = (row_end - 1) / kPanelRows;
  for (int block = row_begin / kPanelRows; block <= last_block; block += 2) {
    const int nb = block < last_block ? 2 : 1;
    Blocks b;
    for (int j = 0; j < nb; ++j) {
      __m512i* sums = reinterpret_cast<__m512i*>(buffer + j * sums_bytes);
      uint8_t* unpacked = buffer + 2 * sums_bytes + j * block_bytes;
      b.codes[j] = block_codes<kInt4>(w.panel_codes + static_cast<size_t>(block + j) * chunk_bytes, w.panel_chunks,
                                      group_chunks, unpacked, sums);
      b.code_sums[j] = sums;
      b.scales[j] = w.panel_scales + static_cast<size_t>(block + j) * w.n_groups * kPanelRows * kScaleBytes;
      b.first_row[j] = (block + j) * kPanelRows;
      const int lo = row_begin > b.first_row[j] ? row_begin - b.first_row[j] : 0;
      const int hi = row_end < b.first_row[j] + kPanelRows ? row_end - b.first_row[j] : kPanelRows;
      b.keep[j] = static_cast<__mmask16>(((1u << hi) - 1u) & ~((1u << lo) - 1u));
    }
    if (nb == 2)
      tokens_through_blocks<2, kScale>(w, group_inputs, a, n_tokens, b, y, y_stride);
    else
      tokens_through_blocks<1, kScale>(w, group_inputs, a, n_tokens, b, y, y_stride);
  }
  ::operator delete(buffer, std::align_val_t{64});
  _tile_release();
}

template <bool kInt4>
void tiled_rows(const QMatrixView& w, int group_inputs, const ActivationCodes& a, int n_tokens, int row_begin,
                int row_end, float* y, size_t y_stride) {
  switch (w.scale_type) {
    case ScaleType::kF16: tiled_rows<kInt4, ScaleType::kF16>(w, group_inputs, a, n_tokens, row_begin, row_end, y, y_stride); break;
    case ScaleType::kBF16: tiled_rows<kInt4, ScaleType::kBF16>(w, group_inputs, a, n_tokens, row_begin, row_end, y, y_stride); break;
    case ScaleType::kF32: tiled_rows<kInt4, ScaleType::kF32>(w, group_inputs, a, n_tokens, row_begin, row_end, y, y_stride); break;
  }
}

}  // namespace

void qlinear_a8(const QMatrixView& w, const ActivationCodes& a, int row_begin, int row_end, float* y,
                size_t y_stride) {
  const int tiled = a.n_tokens / kTileTokens * kTileTokens;
  const bool int4 = w.codec == WeightCodec::kInt4Sym;
  const int group_inputs = w.panel_codes != nullptr ? tile_group_inputs(w, int4 ? 8 : 4) : 0;
  if (group_inputs == 0 || tiled == 0 || row_begin >= row_end) {
    avx512::qlinear_a8(w, a, row_begin, row_end, y, y_stride);
    return;
  }
  if (int4)
    tiled_rows<true>(w, group_inputs, a, tiled, row_begin, row_end, y, y_stride);
  else
    tiled_rows<false>(w, group_inputs, a, tiled, row_begin, row_end, y, y_stride);
  if (tiled == a.n_tokens) {
    avx512::clear_upper_registers();
    return;
  }
  ActivationCodes rest = a;
  rest.codes += static_cast<size_t>(tiled) * a.stride;
  rest.scales += tiled;
  rest.zeros += tiled;
  rest.n_tokens = a.n_tokens - tiled;
  avx512::qlinear_a8(w, rest, row_begin, row_end, y + static_cast<size_t>(tiled) * y_stride, y_stride);
}

}  // namespace nibble::amx
