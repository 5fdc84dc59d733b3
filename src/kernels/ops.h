// Float32 building blocks of the transformer, written in plain C++ with llama2.c's
// order of operations (so fp32 runs reproduce llama2.c's greedy text). The matmul goes
// through the kernel table; the rest is baseline code.
#pragma once

#include <cstddef>
#include <span>

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

// One output of linear_forward_shared_input: y[t][r] = layer(x[t])[r], rows of y `y_stride` apart.
struct LinearOutput {
  const Linear* layer;
  float* y;
  size_t y_stride;
};

// linear_forward of every layer of `outputs` on the same input x (a layer's q/k/v, or its
// FFN's gate and up projections). Same bits as separate calls; the difference is speed:
// when all are quantized layers with the same activation mode and width, the tokens are
// quantized once (a8) and all layers' rows are split over the pool in one hand-off, so a
// decoded token waits on one barrier instead of one per layer and the threads' shares
// even out across the layers.
void linear_forward_shared_input(std::span<const LinearOutput> outputs, const float* x, size_t x_stride,
                                 int n_tokens, ThreadPool& pool);

// Same, without bias, for a bare matrix (the classifier may be the embedding table).
void matmul(const DenseMatrix& w, const float* x, size_t x_stride, int n_tokens, float* y,
            size_t y_stride, ThreadPool& pool);

}  // namespace nibble
