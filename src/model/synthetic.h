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

// The smallest config every writer accepts (in_features 32: one Q4_0/Q8_0 block per row),
// for fuzz seeds and corrupted-file tests: one layer, 4 heads over 2 KV heads, vocab 32.
// Llama: interleaved RoPE, tied embeddings; Qwen2: halves RoPE, q/k/v biases, untied.
ModelConfig micro_test_config(Architecture arch);

}  // namespace nibble
