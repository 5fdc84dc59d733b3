#include "quant/int8_activations.h"

#include <memory>

#include "quant/quantized_matrix.h"

namespace nibble {

int use_int8_activations(ModelWeights& weights, ThreadPool& pool) {
  const bool tied = weights.classifier.quantized && weights.classifier.quantized == weights.quantized_embedding;
  int switched = 0;
  for (auto& [name, layer] : named_linears(weights)) {
    const auto& q = layer->quantized;
    if (!q || q->activation != ActivationMode::kFloat || q->format.asymmetric()) continue;
    // A copy (borrowed codes stay borrowed, so it shares the mapped file's bytes).
    auto a8 = std::make_shared<QuantizedMatrix>(*q);
    a8->activation = ActivationMode::kInt8Token;
    derive_a8_data(*a8, &pool);
    layer->quantized = std::move(a8);
    ++switched;
  }
  if (tied) weights.quantized_embedding = weights.classifier.quantized;
  return switched;
}

}  // namespace nibble
