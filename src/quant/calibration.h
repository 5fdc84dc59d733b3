// Calibration: statistics of the inputs each linear layer sees on real text, for the
// algorithms that weigh quantization error by how much each input channel matters.
//
// The importance of input channel i of a layer is the mean of x_i^2 over every
// calibration token: the diagonal of the layer's Hessian X^T X / N that GPTQ uses in
// full (collected too when asked), and what llama.cpp's importance matrix (llama-imatrix)
// collects.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "model/model.h"

namespace nibble {

struct CalibrationStats {
  // Canonical linear-layer name (named_linears) -> one mean square per input channel.
  std::map<std::string, std::vector<float>> importance;
  // With CalibrationOptions::hessians: name -> the mean of x x^T (in_features^2 values,
  // row-major). Layers reading the same input (q/k/v, gate/up) share one matrix.
  std::map<std::string, std::shared_ptr<const std::vector<double>>> hessians;
  int64_t tokens = 0;  // calibration tokens seen by each layer
};

struct CalibrationOptions {
  int ctx = 256;           // tokens per forward chunk (capped at the model's max_seq_len)
  int64_t max_tokens = 0;  // 0: every token given
  bool hessians = false;   // also collect each layer's full x x^T (for GPTQ)
};

// Runs the float model over `tokens` in chunks of ctx (each chunk starts at position 0)
// and returns each linear layer's statistics. Deterministic for any thread count (the
// forward pass is, and the sums run on the calling thread in token order). Errors: no tokens, an already-quantized model, a bad token id.
Result<CalibrationStats> collect_calibration(const Model& model, std::span<const int> tokens,
                                         const CalibrationOptions& options, ThreadPool& pool,
                                         const std::function<void(int, int)>& on_chunk);

}  // namespace nibble
