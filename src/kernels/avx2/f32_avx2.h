// AVX2+FMA float32 kernels. Only callable when cpu_supports(Isa::kAvx2).
#pragma once

#include <cstddef>

namespace nibble::avx2 {

// Four 8-lane FMA accumulators, combined pairwise, then the lanes summed in a fixed
// order and the tail (n % 8) added last: deterministic for a given n.
float dot_f32(const float* a, const float* b, int n);

void attention_scores(const float* q, const float* keys, size_t stride, int n_positions, int head_dim,
                      float scale, float* out);
void attention_values(const float* weights, const float* values, size_t stride, int n_positions,
                      int head_dim, float* out);

}  // namespace nibble::avx2
