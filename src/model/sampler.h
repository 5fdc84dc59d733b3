// Sampler: picks the next token from logits — greedy, or temperature + top-p with a
// seeded xorshift generator (same seed, same choices, on any machine).
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"

namespace nibble {

struct SamplerOptions {
  float temperature = 0.0f;  // 0 = greedy (argmax, lowest id on ties)
  float top_p = 0.9f;        // nucleus mass; <= 0 or >= 1 samples the full distribution
  uint64_t seed = 1;
};

class Sampler {
 public:
  static Result<Sampler> create(const SamplerOptions& options);

  // Returns the chosen id. Scales and normalises `logits` in place when sampling.
  int sample(float* logits, int vocab_size);

 private:
  explicit Sampler(const SamplerOptions& options);
  uint32_t next_u32();
  float next_unit_float();  // in [0, 1)

  SamplerOptions options_;
  uint64_t state_;
  std::vector<std::pair<float, int>> candidates_;
};

// Index of the largest value (the first one on ties).
int argmax(const float* values, int n);

}  // namespace nibble
