// The forward pass of a Llama-family decoder (Llama, Qwen2) in float32 with a KV cache.
// One code path serves both architectures; their differences are config fields
// (q/k/v bias, GQA ratio, RoPE style and theta, tied classifier).
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <span>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "model/config.h"
#include "model/weights.h"

namespace nibble {

class Transformer {
 public:
  // `context_len` positions are cached (at most config.max_seq_len); `max_batch` tokens
  // can be evaluated in one forward() call. The weights must outlive the Transformer.
  static Result<Transformer> create(const ModelConfig& config, const ModelWeights& weights,
                                    int context_len, int max_batch, ThreadPool& pool);

  // Bytes create() allocates for this context and batch (KV cache, RoPE tables, activation
  // buffers); create() refuses a context whose buffers exceed the machine's memory.
  static uint64_t working_memory_bytes(const ModelConfig& config, int context_len, int max_batch);

  // Evaluates `tokens` at positions [pos, pos + tokens.size()), attending to the cache
  // of every earlier position, and writes the logits of the last `n_logits` tokens to
  // `logits` (n_logits rows of vocab_size floats). Errors on a bad id or position.
  Status forward(std::span<const int> tokens, int pos, int n_logits, float* logits);

  // Calibration hook: called once per distinct linear-layer input, lm_head's included,
  // before the layers reading it are applied, with those layers (q/k/v share one input,
  // gate/up another) and the input: n_tokens rows of in_features floats, `stride` apart.
  // Empty by default.
  using LinearInputObserver = std::function<void(std::span<const Linear* const> layers, const float* x,
                                                 size_t stride, int n_tokens)>;
  void set_linear_input_observer(LinearInputObserver observer) { observer_ = std::move(observer); }

  int context_len() const { return context_len_; }
  int max_batch() const { return max_batch_; }
  const ModelConfig& config() const { return *config_; }

 private:
  Transformer(const ModelConfig& config, const ModelWeights& weights, int context_len,
              int max_batch, ThreadPool& pool);

  void apply_rope(float* vec, int n_heads_in_vec, int pos) const;
  void attention(int layer, int n_tokens, int pos);
  // per_token(t) for t < n_tokens, split across the pool (each token's work is independent,
  // so the split does not change any result).
  template <typename PerToken>
  void for_each_token(int n_tokens, PerToken&& per_token);
  // Shows the observer (if any) the input of `layers`.
  void observe(std::initializer_list<const Linear*> layers, const float* x, size_t stride, int n_tokens);

  const ModelConfig* config_;
  const ModelWeights* weights_;
  ThreadPool* pool_;
  int context_len_;
  int max_batch_;
  LinearInputObserver observer_;

  // RoPE tables: cos/sin of pos * freq[j] for pos < context_len, j < head_dim/2.
  std::vector<float> rope_cos_;
  std::vector<float> rope_sin_;

  // Activations, one row per token of the current batch.
  std::vector<float> x_;       // (max_batch, dim) residual stream
  std::vector<float> xb_;      // (max_batch, max(dim, q_dim)) normed input / attention output
  std::vector<float> xb2_;     // (max_batch, dim) projection output
  std::vector<float> q_;       // (max_batch, q_dim)
  std::vector<float> hb_;      // (max_batch, hidden_dim) gate
  std::vector<float> hb2_;     // (max_batch, hidden_dim) up
  std::vector<float> scores_;  // (max_batch * n_heads, context_len) attention weights

  // KV cache: (n_layers, context_len, kv_dim) each.
  std::vector<float> key_cache_;
  std::vector<float> value_cache_;
};

}  // namespace nibble
