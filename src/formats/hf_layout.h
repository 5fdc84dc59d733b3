// The tensors of a Hugging Face LlamaForCausalLM / Qwen2ForCausalLM checkpoint: each
// one's name, its shape as the config implies it, and the ModelWeights field it fills.
// The loader and the writer both walk this one table, so they cannot disagree.
// Internal to src/formats.
#pragma once

#include <string>

#include <fmt/format.h>

#include "core/status.h"
#include "model/config.h"
#include "model/weights.h"

namespace nibble {

// HF stores linear weights as [out_features, in_features] row-major, which is
// DenseMatrix's layout (rows = out), so tensors map one-to-one without transposes.
inline constexpr const char* kHfEmbeddingName = "model.embed_tokens.weight";
inline constexpr const char* kHfLmHeadName = "lm_head.weight";

// Calls visitor.matrix(name, DenseMatrix&, rows, cols) and visitor.vector(name,
// std::vector<float>&, size) for every tensor except lm_head.weight (callers handle the
// classifier: it depends on tying). `Weights` is ModelWeights or const ModelWeights;
// weights.layers must already hold config.n_layers entries. Stops at the first error.
template <typename Weights, typename Visitor>
Status for_each_hf_tensor(const ModelConfig& c, Weights& weights, Visitor& visitor) {
  NIBBLE_CHECK_OK(visitor.matrix(kHfEmbeddingName, weights.token_embedding, c.vocab_size, c.dim));
  for (int i = 0; i < c.n_layers; ++i) {
    auto& layer = weights.layers[static_cast<size_t>(i)];
    const std::string p = fmt::format("model.layers.{}.", i);
    NIBBLE_CHECK_OK(visitor.vector(p + "input_layernorm.weight", layer.attn_norm, c.dim));
    NIBBLE_CHECK_OK(visitor.matrix(p + "self_attn.q_proj.weight", layer.wq.weight, c.q_dim(), c.dim));
    NIBBLE_CHECK_OK(visitor.matrix(p + "self_attn.k_proj.weight", layer.wk.weight, c.kv_dim(), c.dim));
    NIBBLE_CHECK_OK(visitor.matrix(p + "self_attn.v_proj.weight", layer.wv.weight, c.kv_dim(), c.dim));
    if (c.qkv_bias) {
      NIBBLE_CHECK_OK(visitor.vector(p + "self_attn.q_proj.bias", layer.wq.bias, c.q_dim()));
      NIBBLE_CHECK_OK(visitor.vector(p + "self_attn.k_proj.bias", layer.wk.bias, c.kv_dim()));
      NIBBLE_CHECK_OK(visitor.vector(p + "self_attn.v_proj.bias", layer.wv.bias, c.kv_dim()));
    }
    NIBBLE_CHECK_OK(visitor.matrix(p + "self_attn.o_proj.weight", layer.wo.weight, c.dim, c.q_dim()));
    NIBBLE_CHECK_OK(visitor.vector(p + "post_attention_layernorm.weight", layer.ffn_norm, c.dim));
    NIBBLE_CHECK_OK(visitor.matrix(p + "mlp.gate_proj.weight", layer.w_gate.weight, c.hidden_dim, c.dim));
    NIBBLE_CHECK_OK(visitor.matrix(p + "mlp.up_proj.weight", layer.w_up.weight, c.hidden_dim, c.dim));
    NIBBLE_CHECK_OK(visitor.matrix(p + "mlp.down_proj.weight", layer.w_down.weight, c.dim, c.hidden_dim));
  }
  NIBBLE_CHECK_OK(visitor.vector("model.norm.weight", weights.final_norm, c.dim));
  return {};
}

}  // namespace nibble
