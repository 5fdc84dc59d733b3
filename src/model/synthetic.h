// Synthetic models: random weights of any shape, for tests, fuzz seeds and speed work
// (issue: load-time measurements on a ~1B-parameter model need no download).
#pragma once

#include <cstdint>

#include "model/model.h"

namespace nibble {

// Weights drawn from N(0, 1/sqrt(in_features)) with a seeded generator (the same seed
// gives the same weights on any machine); norm gains near 1; biases when config.qkv_bias.
// The model has no tokenizer.
Model make_synthetic_model(const ModelConfig& config, uint64_t seed);

// A small valid config (Llama, interleaved RoPE) for tests.
ModelConfig small_test_config();

}  // namespace nibble
