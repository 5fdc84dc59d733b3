#include "model/sampler.h"

#include <algorithm>
#include <cmath>

#include "kernels/ops.h"

namespace nibble {

int argmax(const float* values, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i)
    if (values[i] > values[best]) best = i;
  return best;
}

Result<Sampler> Sampler::create(const SamplerOptions& options) {
  if (!(options.temperature >= 0.0f) || !std::isfinite(options.temperature))
    return make_error("temperature must be a finite number >= 0, got {}", options.temperature);
  if (!(options.top_p >= 0.0f && options.top_p <= 1.0f))
    return make_error("top-p must be in [0, 1], got {}", options.top_p);
  return Sampler(options);
}

Sampler::Sampler(const SamplerOptions& options)
    : options_(options), state_(options.seed == 0 ? 0x9e3779b97f4a7c15ull : options.seed) {}

uint32_t Sampler::next_u32() {
  // xorshift64*, as llama2.c uses.
  state_ ^= state_ >> 12;
  state_ ^= state_ << 25;
  state_ ^= state_ >> 27;
  return static_cast<uint32_t>((state_ * 0x2545F4914F6CDD1Dull) >> 32);
}

float Sampler::next_unit_float() { return static_cast<float>(next_u32() >> 8) / 16777216.0f; }

int Sampler::sample(float* logits, int vocab_size) {
  if (options_.temperature == 0.0f) return argmax(logits, vocab_size);
  for (int i = 0; i < vocab_size; ++i) logits[i] /= options_.temperature;
  softmax(logits, vocab_size);
  const float coin = next_unit_float();
  if (options_.top_p <= 0.0f || options_.top_p >= 1.0f) {
    float cumulative = 0.0f;
    for (int i = 0; i < vocab_size; ++i) {
      cumulative += logits[i];
      if (coin < cumulative) return i;
    }
    return vocab_size - 1;  // rounding left the coin above the total mass
  }
  // Top-p: the smallest set of most likely tokens whose mass exceeds top_p. Tokens below
  // (1 - top_p) / (n - 1) can never be in that set, so they are dropped before sorting.
  const float cutoff = (1.0f - options_.top_p) / static_cast<float>(vocab_size - 1);
  candidates_.clear();
  for (int i = 0; i < vocab_size; ++i)
    if (logits[i] >= cutoff) candidates_.emplace_back(logits[i], i);
  std::sort(candidates_.begin(), candidates_.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  float mass = 0.0f;
  size_t last = candidates_.size() - 1;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    mass += candidates_[i].first;
    if (mass > options_.top_p) {
      last = i;
      break;
    }
  }
  const float target = coin * mass;
  float cumulative = 0.0f;
  for (size_t i = 0; i <= last; ++i) {
    cumulative += candidates_[i].first;
    if (target < cumulative) return candidates_[i].second;
  }
  return candidates_[last].second;
}

}  // namespace nibble
