// Running weight-only layers on int8 activations: an execution choice made at load time,
// not a format. A w4 or w8 layer (symmetric codes) keeps its codes and scales and is run
// as the a8 layers are: each token's input quantized to u8 with one scale and zero point
// (per-token asymmetric, kernels/kernel_table.h), integer dot products, exact group sums.
// llama.cpp computes its Q4_0 / Q8_0 layers the same way (with int8 activation blocks of
// 32), which is what makes its CPU path fast; the price is the activation rounding, which
// `nibble perplexity --act-int8 --kl-ref` measures.
#pragma once

#include "model/weights.h"

namespace nibble {

class ThreadPool;

// Switches every quantized weight-only layer with symmetric codes (lm_head included) to
// int8 activations; int4 layers with zero points (no integer kernel) and float layers stay
// as they are. A tied classifier stays one object with the embedding table (the lookup
// dequantizes a row, which the activation mode does not change). Returns how many layers
// were switched. Each layer's derived data is built on `pool`.
int use_int8_activations(ModelWeights& weights, ThreadPool& pool);

}  // namespace nibble
