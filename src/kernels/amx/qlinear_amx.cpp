#include "kernels/amx/qlinear_amx.h"

#include "kernels/avx512/intrinsics_avx512.h"

#include <cstdint>
#include <new>

#include "kernels/a8_panels.h"
#include "kernels/avx512/qlinear_avx512.h"
#include "kernels/avx512/scales_avx512.h"
#include "kernels/avx512/upper_registers_avx512.h"

namespace nibble::amx {

namespace {

constexpr int kTileTokens = 16;
// A tile row holds at most 64 bytes: a product is at most 64 deep.
constexpr int kTileRowBytes = 64;

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
// load then feeds two products.
constexpr int kActs = 4, kCodes = 6;

// The zero point rides in the product. A group of G <= 32 inputs is one TDPBUSD of depth
// 2G: each token's tile row is its G activation bytes followed by G bytes of its zero point
// z_a, and the codes are the group's G codes followed by their negations, so the int32 sum
// is sum u * c + sum z_a * (-c) = sum u * c - z_a * code_sum, exactly the reference's I
// (|I| <= 255 * 128 * 32 * 2 < 2^31). What is left per sum is a convert, a multiply and an
// add: the vector units (two 512-bit ports) had been the bound, and a product of depth 64
// takes the tile unit no longer than one of depth 32 (measured: 5632x2048 x 128 tokens,
// 10.6 -> 6.9 ms on one thread).
int tile_group_inputs(const QMatrixView& w, int elems) {
  if (!w.panel_negatable) return 0;
  const int inputs = w.panel.chunks_per_row * elems;  // panels pad rows to whole chunks with code 0
  const int group = w.n_groups == 1 ? inputs : w.group;
  return 2 * group <= kTileRowBytes && inputs == w.n_groups * group ? group : 0;
}

// One block's codes as tile rows of four inputs of each of its sixteen rows (the layout of
// int8 panels; int4 chunks unpacked to one byte per code): per group, its rows of codes
// and then the same rows negated.
template <bool kInt4>
void block_codes(const QMatrixView& w, int block, uint8_t* out) {
  const __m512i zero = _mm512_setzero_si512();
  constexpr int kRowsPerChunk = kInt4 ? 2 : 1;
  const int group_chunks = w.panel.group_chunks;  // every group whole (tile_group_inputs)
  const size_t half = static_cast<size_t>(group_chunks) * kRowsPerChunk * kPanelChunkBytes;
  for (int g = 0; g < w.n_groups; ++g) {
    const uint8_t* chunks = w.panel_bytes + panel_offsets::group_codes(w.panel, block, g);
    for (int k = 0; k < group_chunks; ++k) {
      const __m512i v = _mm512_loadu_si512(chunks + static_cast<size_t>(k) * kPanelChunkBytes);
      uint8_t* rows = out + static_cast<size_t>(k) * kRowsPerChunk * kPanelChunkBytes;
      if constexpr (kInt4) {
        // Chunk k's low nibbles are inputs 8k..8k+3, its high nibbles 8k+4..8k+7.
        const __m512i low_nibble = _mm512_set1_epi8(0x0f);
        const __m512i eight = _mm512_set1_epi8(8);
        const __m512i c_lo = _mm512_sub_epi8(_mm512_and_si512(v, low_nibble), eight);
        const __m512i c_hi = _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(v, 4), low_nibble), eight);
        _mm512_storeu_si512(rows, c_lo);
        _mm512_storeu_si512(rows + kPanelChunkBytes, c_hi);
        _mm512_storeu_si512(rows + half, _mm512_sub_epi8(zero, c_lo));
        _mm512_storeu_si512(rows + half + kPanelChunkBytes, _mm512_sub_epi8(zero, c_hi));
      } else {
        _mm512_storeu_si512(rows, v);
        _mm512_storeu_si512(rows + half, _mm512_sub_epi8(zero, v));
      }
    }
    out += 2 * half;
  }
}

// Tokens [0, n_tokens) as tile rows: for each tile of sixteen tokens and each group, sixteen
// rows of `group` activation bytes and `group` bytes of the token's zero point.
void token_rows(const ActivationCodes& a, int n_tokens, int n_groups, int group, uint8_t* out) {
  const __mmask64 acts = (1ull << group) - 1;  // group <= 32
  const __mmask64 width = 2 * group == 64 ? ~0ull : (1ull << (2 * group)) - 1;
  for (int t = 0; t < n_tokens; ++t) {
    const __m512i z = _mm512_set1_epi8(static_cast<char>(a.zeros[t]));
    const uint8_t* u = a.codes + static_cast<size_t>(t) * a.stride;
    uint8_t* row = out + (static_cast<size_t>(t / kTileTokens) * n_groups * kTileTokens + t % kTileTokens) * 2 * group;
    for (int g = 0; g < n_groups; ++g) {
      // Bytes [0, group) from the activations, [group, 2 * group) the zero point.
      const __m512i activations = _mm512_maskz_loadu_epi8(acts, u + static_cast<size_t>(g) * group);
      _mm512_mask_storeu_epi8(row + static_cast<size_t>(g) * kTileTokens * 2 * group, width,
                              _mm512_mask_blend_epi8(acts, z, activations));
    }
  }
}

// Sums tile 2i + j for one group: tokens tile i against block j.
template <int NT, int NB>
inline void group_products(const uint8_t* acts, size_t tile_stride, size_t row_bytes, const uint8_t* const* codes,
                           size_t code_offset, int32_t (*out)[kTileTokens][kPanelRows]) {
  tile_load<kActs>(acts, row_bytes);
  if constexpr (NT == 2) tile_load<kActs + 1>(acts + tile_stride, row_bytes);
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

// What one call shares across its tiles.
struct Operands {
  const uint8_t* tokens;      // token_rows
  int group;                  // inputs per group
  const uint8_t* codes[2];    // block_codes of each block
  int first_row[2];           // the blocks' first rows
  __mmask16 keep[2];          // rows of each block inside [row_begin, row_end)
};

// NT tiles of tokens from t0 through NB blocks.
template <int NT, int NB, ScaleType kScale>
void tokens_through_blocks(const QMatrixView& w, const ActivationCodes& a, int t0, const Operands& o, float* y,
                           size_t y_stride) {
  constexpr size_t kScaleBytes = kScale == ScaleType::kF32 ? 4 : 2;
  constexpr int kTiles = 2 * NT;  // sums tile 2i + j; with NB == 1 only the even ones
  const size_t row_bytes = 2 * static_cast<size_t>(o.group);
  const size_t group_bytes = kTileTokens * row_bytes;                   // one group of a token tile
  const size_t tile_bytes = static_cast<size_t>(w.n_groups) * group_bytes;  // one token tile
  const size_t group_code_bytes = row_bytes / 4 * kPanelChunkBytes;
  const uint8_t* tokens = o.tokens + static_cast<size_t>(t0 / kTileTokens) * tile_bytes;
  alignas(64) float acc[kTiles][kTileTokens][kPanelRows];
  alignas(64) int32_t sums[2][kTiles][kTileTokens][kPanelRows];
  for (int i = 0; i < kTiles; ++i)
    for (int t = 0; t < kTileTokens; ++t) _mm512_store_ps(acc[i][t], _mm512_setzero_ps());
  // acc += scale * float(I): a multiply and an add per group, as the reference.
  auto add_group = [&](int g) __attribute__((always_inline)) {
    for (int j = 0; j < NB; ++j) {
      const __m512 scales = avx512::load_scales16<kScale>(
          w.panel_bytes + panel_offsets::group_scales(w.panel, o.first_row[j] / kPanelRows, g, kScaleBytes));
      for (int i = 0; i < NT; ++i) {
        for (int t = 0; t < kTileTokens; ++t) {
          float* row = acc[2 * i + j][t];
          const __m512 term = _mm512_mul_ps(scales, _mm512_cvtepi32_ps(_mm512_load_si512(sums[g % 2][2 * i + j][t])));
          _mm512_store_ps(row, _mm512_add_ps(_mm512_load_ps(row), term));
        }
      }
    }
  };
  // The tile unit computes group g while the vector units add group g - 1.
  for (int g = 0; g < w.n_groups; ++g) {
    group_products<NT, NB>(tokens + static_cast<size_t>(g) * group_bytes, tile_bytes, row_bytes, o.codes,
                           static_cast<size_t>(g) * group_code_bytes, sums[g % 2]);
    if (g > 0) add_group(g - 1);
  }
  add_group(w.n_groups - 1);
  for (int i = 0; i < NT; ++i) {
    for (int j = 0; j < NB; ++j) {
      for (int t = 0; t < kTileTokens; ++t) {
        const int token = t0 + i * kTileTokens + t;
        float* dst = y + static_cast<size_t>(token) * y_stride + o.first_row[j];
        _mm512_mask_storeu_ps(dst, o.keep[j], _mm512_mul_ps(_mm512_set1_ps(a.scales[token]), _mm512_load_ps(acc[2 * i + j][t])));
      }
    }
  }
}

template <int NB, ScaleType kScale>
void tokens_through_blocks(const QMatrixView& w, const ActivationCodes& a, int n_tokens, const Operands& o, float* y,
                           size_t y_stride) {
  int t0 = 0;
  for (; t0 + 2 * kTileTokens <= n_tokens; t0 += 2 * kTileTokens)
    tokens_through_blocks<2, NB, kScale>(w, a, t0, o, y, y_stride);
  if (t0 < n_tokens) tokens_through_blocks<1, NB, kScale>(w, a, t0, o, y, y_stride);
}

template <bool kInt4, ScaleType kScale>
void tiled_rows(const QMatrixView& w, int group, const ActivationCodes& a, int n_tokens, int row_begin, int row_end,
                float* y, size_t y_stride) {
  TileConfig config;
  for (int tile = 0; tile < 4; ++tile) config.set(tile, kTileTokens, kPanelRows * sizeof(int32_t));
  for (int i = 0; i < 2; ++i) config.set(kActs + i, kTileTokens, 2 * group);
  for (int j = 0; j < 2; ++j) config.set(kCodes + j, 2 * group / 4, kPanelChunkBytes);
  _tile_loadconfig(&config);
  // The tokens' tile rows, and two blocks' code rows (reused by every tile of tokens).
  const size_t token_bytes = static_cast<size_t>(n_tokens) * w.n_groups * 2 * group;
  const size_t block_bytes = static_cast<size_t>(w.n_groups) * 2 * group / 4 * kPanelChunkBytes;
  uint8_t* buffer = static_cast<uint8_t*>(::operator new(token_bytes + 2 * block_bytes, std::align_val_t{64}));
  Operands o;
  o.tokens = buffer;
  o.group = group;
  token_rows(a, n_tokens, w.n_groups, group, buffer);
  const int last_block = (row_end - 1) / kPanelRows;
  for (int block = row_begin / kPanelRows; block <= last_block; block += 2) {
    const int nb = block < last_block ? 2 : 1;
    for (int j = 0; j < nb; ++j) {
      uint8_t* codes = buffer + token_bytes + j * block_bytes;
      block_codes<kInt4>(w, block + j, codes);
      o.codes[j] = codes;
      o.first_row[j] = (block + j) * kPanelRows;
      const int lo = row_begin > o.first_row[j] ? row_begin - o.first_row[j] : 0;
      const int hi = row_end < o.first_row[j] + kPanelRows ? row_end - o.first_row[j] : kPanelRows;
      o.keep[j] = static_cast<__mmask16>(((1u << hi) - 1u) & ~((1u << lo) - 1u));
    }
    if (nb == 2)
      tokens_through_blocks<2, kScale>(w, a, n_tokens, o, y, y_stride);
    else
      tokens_through_blocks<1, kScale>(w, a, n_tokens, o, y, y_stride);
  }
  ::operator delete(buffer, std::align_val_t{64});
  _tile_release();
}

template <bool kInt4>
void tiled_rows(const QMatrixView& w, int group, const ActivationCodes& a, int n_tokens, int row_begin, int row_end,
                float* y, size_t y_stride) {
  switch (w.scale_type) {
    case ScaleType::kF16: tiled_rows<kInt4, ScaleType::kF16>(w, group, a, n_tokens, row_begin, row_end, y, y_stride); break;
    case ScaleType::kBF16: tiled_rows<kInt4, ScaleType::kBF16>(w, group, a, n_tokens, row_begin, row_end, y, y_stride); break;
    case ScaleType::kF32: tiled_rows<kInt4, ScaleType::kF32>(w, group, a, n_tokens, row_begin, row_end, y, y_stride); break;
  }
}

}  // namespace

void qlinear_a8(const QMatrixView& w, const ActivationCodes& a, int row_begin, int row_end, float* y,
                size_t y_stride) {
  const int tiled = a.n_tokens / kTileTokens * kTileTokens;
  const bool int4 = w.codec == WeightCodec::kInt4Sym;
  const int group_inputs = w.panel_bytes != nullptr ? tile_group_inputs(w, int4 ? 8 : 4) : 0;
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
