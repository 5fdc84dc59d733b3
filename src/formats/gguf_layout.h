// The tensors of a Llama/Qwen2 decoder under llama.cpp's GGUF names ("blk.3.attn_q.weight"):
// each one's name, its shape as the config implies it, and the ModelWeights field it
// fills. nibble's own files use these names too, so its loader, its writer and the GGUF
// exporter walk this one table and cannot disagree. Internal to src/formats.
#pragma once

#include <string>

#include <fmt/format.h>

#include "core/status.h"
#include "model/config.h"
#include "model/weights.h"

namespace nibble {

inline constexpr const char* kGgufEmbeddingName = "token_embd.weight";
inline constexpr const char* kGgufOutputName = "output.weight";  // absent when tied
inline constexpr const char* kGgufOutputNormName = "output_norm.weight";

// Calls visitor.linear(name, Linear&, rows, cols) for every linear weight of every
// layer and visitor.vector(name, std::vector<float>&, size) for norms and biases, in
// file order. The embedding and the classifier are left to the caller (they depend on
// tying and on the embedding's storage). `Weights` is ModelWeights or const
// ModelWeights; weights.layers must hold config.n_layers entries. Stops at the first error.
template <typename Weights, typename Visitor>
Status for_each_gguf_layer_tensor(const ModelConfig& c, Weights& weights, Visitor& visitor) {
  for (int i = 0; i < c.n_layers; ++i) {
    auto& layer = weights.layers[static_cast<size_t>(i)];
    const std::string p = fmt::format("blk.{}.", i);
    NIBBLE_CHECK_OK(visitor.vector(p + "attn_norm.weight", layer.attn_norm, c.dim));
    NIBBLE_CHECK_OK(visitor.linear(p + "attn_q.weight", layer.wq, c.q_dim(), c.dim));
    NIBBLE_CHECK_OK(visitor.linear(p + "attn_k.weight", layer.wk, c.kv_dim(), c.dim));
    NIBBLE_CHECK_OK(visitor.linear(p + "attn_v.weight", layer.wv, c.kv_dim(), c.dim));
    if (c.qkv_bias) {
      NIBBLE_CHECK_OK(visitor.vector(p + "attn_q.bias", layer.wq.bias, c.q_dim()));
      NIBBLE_CHECK_OK(visitor.vector(p + "attn_k.bias", layer.wk.bias, c.kv_dim()));
      NIBBLE_CHECK_OK(visitor.vector(p + "attn_v.bias", layer.wv.bias, c.kv_dim()));
    }
    NIBBLE_CHECK_OK(visitor.linear(p + "attn_output.weight", layer.wo, c.dim, c.q_dim()));
    NIBBLE_CHECK_OK(visitor.vector(p + "ffn_norm.weight", layer.ffn_norm, c.dim));
    NIBBLE_CHECK_OK(visitor.linear(p + "ffn_gate.weight", layer.w_gate, c.hidden_dim, c.dim));
    NIBBLE_CHECK_OK(visitor.linear(p + "ffn_up.weight", layer.w_up, c.hidden_dim, c.dim));
    NIBBLE_CHECK_OK(visitor.linear(p + "ffn_down.weight", layer.w_down, c.dim, c.hidden_dim));
  }
  NIBBLE_CHECK_OK(visitor.vector(kGgufOutputNormName, weights.final_norm, c.dim));
  return {};
}

}  // namespace nibble
