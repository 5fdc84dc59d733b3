// The kernel table: one function pointer per kernel, filled once at start-up for the
// best instruction set the CPU and OS support (CPUID + XGETBV), or the one named by
// NIBBLE_ISA=scalar|avx2. Every ISA's kernels live in src/kernels/<isa>/, compiled with
// only that ISA's flags, in namespace nibble::<isa>; nothing else uses vector extensions.
#pragma once

#include <cstddef>
#include <string>

#include "core/status.h"

namespace nibble {

enum class Isa { kScalar, kAvx2 };

const char* isa_name(Isa isa);

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
};

// What this machine can run, from CPUID and XGETBV (the OS must enable the YMM state).
bool cpu_supports(Isa isa);

// The table for one ISA; Error when the CPU cannot run it.
Result<const KernelTable*> kernel_table_for(Isa isa);

// The process-wide table: chosen on first use from NIBBLE_ISA or the best supported ISA.
// An unknown or unsupported NIBBLE_ISA falls back to the best ISA with a warning on stderr.
const KernelTable& kernels();

// Parses "scalar" / "avx2".
Result<Isa> parse_isa(const std::string& name);

}  // namespace nibble
