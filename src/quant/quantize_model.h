// Quantizes a loaded model in memory according to a Recipe, and reports per tensor.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "model/model.h"
#include "quant/algorithm.h"
#include "quant/calibration.h"
#include "quant/awq.h"
#include "quant/gptq.h"
#include "quant/recipe.h"

namespace nibble {

struct TensorReport {
  std::string name;      // canonical name
  std::string scheme;    // f32, w4, a8w4, ...
  int bits = 32;
  int group = 0;         // effective group size (0 for float)
  bool ragged = false;   // in_features % group != 0: the last group is padded
  double rel_rms_error = 0.0;  // ||W - dequant(W)|| / ||W||
  int64_t weights = 0;   // logical elements
  uint64_t bytes = 0;    // stored bytes (codes + scales + zero points, or 4 per float)
  std::string note;      // e.g. "tied: serves embed_tokens too"
};

struct QuantizationReport {
  std::string recipe;
  std::string algorithm;  // rtn, mse, gptq, awq
  std::vector<AwqPair> awq_pairs;  // awq: every producer -> consumers pair, scaled or skipped
  std::vector<TensorReport> tensors;
  int64_t total_weights = 0;   // over the matrices listed
  uint64_t total_bytes = 0;
  double bits_per_weight() const {
    return total_weights ? 8.0 * static_cast<double>(total_bytes) / static_cast<double>(total_weights) : 0.0;
  }
};

struct QuantizeModelOptions {
  QuantAlgorithm algorithm = QuantAlgorithm::kRtn;
  // kMse: each linear layer's error is weighed by its importance vector; null (or a
  // layer missing from the map, like the embedding table) weighs every channel alike.
  // kGptq, kAwq: required, with Hessians (AWQ then runs kMse on the rescaled statistics).
  // kGptq: the embedding table gets the unweighted scale search, and the report says so.
  const CalibrationStats* calibration = nullptr;
  GptqOptions gptq;
  AwqOptions awq;
};

// Replaces the float matrices of `model` by quantized ones (norm gains and biases stay
// float32) with options.algorithm. Tied models: the lm_head scheme decides, and one quantized tensor serves as
// both classifier and embedding table. `on_tensor(done, total)` reports progress.
Result<QuantizationReport> quantize_model(Model& model, const Recipe& recipe, ThreadPool& pool,
                                          const std::function<void(int, int)>& on_tensor,
                                          const QuantizeModelOptions& options = {});

}  // namespace nibble
