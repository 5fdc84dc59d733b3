// ModelConfig: the hyperparameters of a Llama-family decoder, whatever file it came from.
// Architecture differences are config deltas here, never a copied transformer.
#pragma once

#include <string>

#include "core/status.h"

namespace nibble {

enum class Architecture { kLlama, kQwen2 };

// Which pairs of a head's vector RoPE rotates. llama2.c (and GGUF `llama`) rotate
// interleaved pairs (x[2i], x[2i+1]); Hugging Face checkpoints rotate halves
// (x[i], x[i + head_dim/2]) because HF's converter permutes the q/k rows. The two give
// the same logits when the rows are permuted accordingly; the loader records which one
// the weights in memory need.
enum class RopeStyle { kInterleavedPairs, kHalves };

const char* architecture_name(Architecture arch);
const char* rope_style_name(RopeStyle style);

struct ModelConfig {
  Architecture architecture = Architecture::kLlama;
  int dim = 0;          // residual stream width (hidden_size)
  int hidden_dim = 0;   // feed-forward inner width (intermediate_size)
  int n_layers = 0;
  int n_heads = 0;      // query heads
  int n_kv_heads = 0;   // key/value heads (grouped-query attention when < n_heads)
  int head_dim = 0;     // per-head width; dim / n_heads unless the config says otherwise
  int vocab_size = 0;
  int max_seq_len = 0;  // positions the KV cache holds
  float rope_theta = 10000.0f;
  float rms_norm_eps = 1e-5f;
  bool tied_embeddings = true;  // classifier reuses the token embedding
  bool qkv_bias = false;        // q/k/v projections carry a bias (Qwen2)
  RopeStyle rope_style = RopeStyle::kInterleavedPairs;
  int bos_id = 1;
  int eos_id = 2;

  int q_dim() const { return n_heads * head_dim; }
  int kv_dim() const { return n_kv_heads * head_dim; }

  // Checks every field against the others; `source` names the file for messages.
  Status validate(const std::string& source) const;
};

}  // namespace nibble
