// AVX2+FMA float32 kernels. Only callable when cpu_supports(Isa::kAvx2).
#pragma once

#include <cstddef>

namespace nibble::avx2 {

// Four 8-lane FMA accumulators, combined pairwise, then the lanes summed in a fixed
// order and the tail (n % 8) added last: deterministic for a given n.
float dot_f32(const float* a, const float* b, int n);

// head_dim % 8 == 0: eight positions at a time, one 8-lane FMA chain each, the eight
// chains' lanes summed together by hadd; other positions through dot_f32. Within the
// dot_f32 bound of the scalar kernel, not bit for bit.
void attention_scores(const float* q, const float* keys, size_t stride, int n_positions, int head_dim,
                      float scale, float* out);
// Each element: one FMA per position, positions ascending, from 0 (32 elements in
// registers at a time); elements past the last multiple of 8 use a multiply then an add.
void attention_values(const float* weights, const float* values, size_t stride, int n_positions,
                      int head_dim, float* out);

// out[i] = exp(x[i]) by a polynomial: relative error <= kExpRelError (kernel_table.h) on
// [ln(2^-126), ln(FLT_MAX)], 0 below, +inf above, NaN for NaN. `out` may alias `x`.
void exp_f32(const float* x, float* out, int n);

// kernel_table.h's softmax and silu_mul with exp_f32's exp; softmax sums in eight lanes.
void softmax(float* x, int n);
void silu_mul(float* gate, const float* up, int n);

}  // namespace nibble::avx2
