// Float32 building blocks of the transformer, written in plain C++ with llama2.c's
// order of operations (so fp32 runs reproduce llama2.c's greedy text). The matmul goes
// through the kernel table; the rest is baseline code.
#pragma once

#include <cstddef>

#include "core/thread_pool.h"
#include "kernels/kernel_table.h"
#include "model/weights.h"

namespace nibble {

// out[i] = weight[i] * (x[i] / sqrt(mean(x^2) + eps)). `out` may alias `x`.
void rmsnorm(float* out, const float* x, const float* weight, int n, float eps);

// In-place softmax over x[0..n) (scalar::softmax; the transformer uses the table's).
void softmax(float* x, int n);

// y[t][r] = dot(W.row(r), x[t]) (+ bias[r]) for t < n_tokens; rows of x are `x_stride`
// floats apart, rows of y `y_stride` apart. Output rows are split across the pool; each
// output is computed by one thread in a fixed order, so any thread count gives the same bits.
void linear_forward(const Linear& layer, const float* x, size_t x_stride, int n_tokens, float* y,
                    size_t y_stride, ThreadPool& pool);
// Same with the kernels of one ISA's table (tests and benchmarks compare ISAs with it).
void linear_forward(const Linear& layer, const float* x, size_t x_stride, int n_tokens, float* y,
                    size_t y_stride, ThreadPool& pool, const KernelTable& table);

// Same, without bias, for a bare matrix (the classifier may be the embedding table).
void matmul(const DenseMatrix& w, const float* x, size_t x_stride, int n_tokens, float* y,
            size_t y_stride, ThreadPool& pool);

}  // namespace nibble
