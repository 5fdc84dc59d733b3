// The kernel table: one function pointer per kernel, filled once at start-up for the
// best instruction set the CPU and OS support (CPUID + XGETBV), or the one named by
// NIBBLE_ISA=scalar|avx2|avx512|amx. Every ISA's kernels live in src/kernels/<isa>/, compiled with
// only that ISA's flags, in namespace nibble::<isa>; nothing else uses vector extensions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "kernels/qmatrix_view.h"

namespace nibble {

enum class Isa { kScalar, kAvx2, kAvx512, kAmx };

const char* isa_name(Isa isa);

// Bound on the SIMD kernels' exp relative error (Cephes expf's polynomial; its published peak
// is 1.3e-7 over +-88, about 2.2 ulp): 2^-22.
inline constexpr double kExpRelError = 2.384185791015625e-07;

struct KernelTable {
  Isa isa = Isa::kScalar;
  // Sum of a[i]*b[i] for i < n, float32 products and sums.
  // Guarantee: the scalar kernel adds the products strictly left to right (llama2.c's
  // order); SIMD kernels use lane-parallel partial sums, so they agree with scalar to
  // within float rounding (|error| <= 2*gamma(n)*sum|a[i]*b[i]|), not bit for bit.
  float (*dot_f32)(const float* a, const float* b, int n) = nullptr;

  // Attention scores of one query head: out[s] = dot(q, keys + s*stride, head_dim) * scale
  // for s < n_positions. Same per-score guarantee as dot_f32.
  void (*attention_scores)(const float* q, const float* keys, size_t stride, int n_positions,
                           int head_dim, float scale, float* out) = nullptr;

  // Weighted sum of value rows: out[i] = sum over s of weights[s] * values[s*stride + i],
  // s ascending. Scalar uses a multiply then an add per term; SIMD kernels fuse them (FMA),
  // so results agree within float rounding, not bit for bit.
  void (*attention_values)(const float* weights, const float* values, size_t stride,
                           int n_positions, int head_dim, float* out) = nullptr;

  // In-place softmax of x[0..n): x[i] = exp(x[i] - max) / sum. SIMD kernels use a
  // polynomial exp (relative error <= kExpRelError against the true exp, checked across the
  // float range in a test) and lane-parallel sums; the scalar kernel uses std::exp (within
  // one ulp, 2^-23) summed left to right. So each output differs from scalar by at most
  // (2 * (kExpRelError + 2^-23) + 2 * gamma(n) + 2u) * out, plus 2^-126 where an exp
  // underflows (the SIMD exp flushes below 2^-126 to 0; the sum is >= 1).
  void (*softmax)(float* x, int n) = nullptr;

  // In place: gate[i] = silu(gate[i]) * up[i], silu(g) = g * (1 / (1 + exp(-g))). SIMD
  // kernels differ from scalar only in their exp, and 1 + e moves by at most e's relative
  // error: at most (kExpRelError + 2^-23 + 8u) * |result| (four roundings on each side).
  void (*silu_mul)(float* gate, const float* up, int n) = nullptr;

  // Per-token asymmetric u8 quantization of x[0..n) (the rule of
  // scalar::quantize_activation_row). Guarantee: every ISA writes the same codes, scale
  // and zero point as the scalar kernel, bit for bit (min/max are exact in any order, the
  // scale comes from the same scalar formula, and each code is the same float multiply
  // followed by round-half-away-from-zero).
  void (*quantize_activation_row)(const float* x, int n, uint8_t* u, float* scale,
                                  int32_t* zero_point) = nullptr;

  // a8 layers (a8w4, a8w8; symmetric codes): for rows r in [row_begin, row_end) and every
  // token t < a.n_tokens, y[t * y_stride + r] = s_a[t] * sum over groups g ascending of
  // scale(r, g) * float(I(r, g, t)), where I = sum over the group of u * code - z_a * code_sum
  // is an exact int32 and the float sum is a multiply then an add per group (no FMA),
  // starting from 0. Guarantee: bit-identical on every ISA, for any group size, ragged
  // groups and thread split included (scalar::qdot_int8 is the reference).
  void (*qlinear_a8)(const QMatrixView& w, const ActivationCodes& a, int row_begin, int row_end,
                     float* y, size_t y_stride) = nullptr;

  // Weight-only layers (w4, w4_asym, w8; float activations): y[t * y_stride + r] =
  // dot_f32(dequantize_row(r), x + t * x_stride) for rows in [row_begin, row_end), t <
  // n_tokens, where dequantize_row gives w[i] = float(code[i]) * scale(r, i / G) rounded
  // to float (exact for f16 and bf16 scales). Guarantee: bit-identical to *this ISA's*
  // dot_f32 applied to the dequantized row (the SIMD kernels dequantize on the fly but
  // keep dot_f32's lanes and order), so across ISAs the dot_f32 bound holds:
  // |y_isa - y_scalar| <= 2 * gamma(cols) * sum |w_i x_i|.
  void (*qlinear_wf)(const QMatrixView& w, const float* x, size_t x_stride, int n_tokens,
                     int row_begin, int row_end, float* y, size_t y_stride) = nullptr;

  // Sum of the n_words little-endian 64-bit words at `data` (any alignment), modulo 2^64:
  // one read of a buffer as fast as this ISA reads (its widest loads, a prefetch ahead), the
  // reader of the DRAM bandwidth probe (kernels/dram_probe.h). Guarantee: the same value on
  // every ISA (integer sums, exact in any order).
  uint64_t (*sum_words)(const uint8_t* data, size_t n_words) = nullptr;
};

// What this machine can run, from CPUID and XGETBV (the OS must enable the YMM state,
// and for AVX-512 the opmask and ZMM state too; AMX also needs the tile state and, on
// Linux, the process's permission to use it, which the first call requests).
bool cpu_supports(Isa isa);

// Every ISA this machine can run, scalar first, the best last.
std::vector<Isa> supported_isas();

// The table for one ISA; Error when the CPU cannot run it.
Result<const KernelTable*> kernel_table_for(Isa isa);

// The process-wide table: chosen on first use from NIBBLE_ISA or the best supported ISA.
// An unknown or unsupported NIBBLE_ISA falls back to the best ISA with a warning on stderr.
const KernelTable& kernels();

// Parses "scalar" / "avx2" / "avx512" / "amx".
Result<Isa> parse_isa(const std::string& name);

}  // namespace nibble
