// Plain C++ float32 kernels: the reference every SIMD kernel is tested against.
#pragma once

#include <cstddef>

namespace nibble::scalar {

// Products added strictly left to right, as llama2.c's matmul does.
float dot_f32(const float* a, const float* b, int n);

void attention_scores(const float* q, const float* keys, size_t stride, int n_positions, int head_dim,
                      float scale, float* out);
void attention_values(const float* weights, const float* values, size_t stride, int n_positions,
                      int head_dim, float* out);

// In place: x[i] = exp(x[i] - max) / sum, with std::exp and the sum left to right.
void softmax(float* x, int n);

// In place: gate[i] = silu(gate[i]) * up[i], silu(g) = g * (1 / (1 + std::exp(-g))).
void silu_mul(float* gate, const float* up, int n);

}  // namespace nibble::scalar
