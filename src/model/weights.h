// ModelWeights: the tensors of a Llama-family decoder in memory, float32 and row-major.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/buffer.h"

namespace nibble {

struct QuantizedMatrix;  // quant/quantized_matrix.h

// A row-major float32 matrix [rows][cols]. For a linear layer rows = out_features and
// cols = in_features (PyTorch's layout), so y[r] = dot(row r, x). `data` may borrow
// from a mapped model file (core/buffer.h).
struct DenseMatrix {
  int rows = 0;
  int cols = 0;
  Buffer<float> data;

  const float* row(int r) const { return data.data() + static_cast<size_t>(r) * cols; }
  float* row(int r) { return data.data() + static_cast<size_t>(r) * cols; }
};

// y = W x (+ b). `bias` is empty when the layer has none; it stays float32 and is added
// after the matmul for every scheme. A quantized layer holds `quantized` and an empty
// `weight`.
struct Linear {
  DenseMatrix weight;
  std::shared_ptr<const QuantizedMatrix> quantized;
  std::vector<float> bias;

  int out_features() const;
  int in_features() const;
};

struct LayerWeights {
  std::vector<float> attn_norm;  // (dim) RMSNorm gain before attention
  Linear wq;                     // (n_heads*head_dim, dim)
  Linear wk;                     // (n_kv_heads*head_dim, dim)
  Linear wv;                     // (n_kv_heads*head_dim, dim)
  Linear wo;                     // (dim, n_heads*head_dim)
  std::vector<float> ffn_norm;   // (dim) RMSNorm gain before the feed-forward
  Linear w_gate;                 // (hidden_dim, dim)  "w1" in llama2.c
  Linear w_up;                   // (hidden_dim, dim)  "w3" in llama2.c
  Linear w_down;                 // (dim, hidden_dim)  "w2" in llama2.c
};

struct ModelWeights {
  DenseMatrix token_embedding;      // (vocab_size, dim); empty when quantized
  // The quantized embedding table; for a tied model it is the very object the
  // classifier uses (one copy serves both: a lookup dequantizes one row of it).
  std::shared_ptr<const QuantizedMatrix> quantized_embedding;
  std::vector<LayerWeights> layers;
  std::vector<float> final_norm;    // (dim)
  // (vocab_size, dim); for a float tied model it is empty and the classifier is
  // token_embedding (classifier_matrix()).
  Linear classifier;

  const DenseMatrix& classifier_matrix() const {
    return classifier.weight.data.empty() ? token_embedding : classifier.weight;
  }
  // Writes row `token` of the embedding table (dequantized if need be) to `out`.
  void embedding_row(int token, float* out) const;
};

// The linear layers of `w` (ModelWeights, const or not) with their canonical names, in
// file order: layers.N.self_attn.{q,k,v,o}_proj, layers.N.mlp.{gate,up,down}_proj, then
// lm_head (for a tied model its Linear is empty and the embedding table is its matrix).
// Recipes, reports and calibration all key tensors by these names.
template <typename Weights>
auto named_linears(Weights& w) {
  using LinearRef = decltype(&w.classifier);
  std::vector<std::pair<std::string, LinearRef>> out;
  for (size_t l = 0; l < w.layers.size(); ++l) {
    auto& layer = w.layers[l];
    const std::string p = "layers." + std::to_string(l) + ".";
    out.emplace_back(p + "self_attn.q_proj", &layer.wq);
    out.emplace_back(p + "self_attn.k_proj", &layer.wk);
    out.emplace_back(p + "self_attn.v_proj", &layer.wv);
    out.emplace_back(p + "self_attn.o_proj", &layer.wo);
    out.emplace_back(p + "mlp.gate_proj", &layer.w_gate);
    out.emplace_back(p + "mlp.up_proj", &layer.w_up);
    out.emplace_back(p + "mlp.down_proj", &layer.w_down);
  }
  out.emplace_back("lm_head", &w.classifier);
  return out;
}

// One tensor as stored in the source file, for `nibble inspect`.
struct TensorInfo {
  std::string name;
  std::vector<int64_t> shape;  // logical shape, outermost first
  std::string type;            // storage type in the file: F32, F16, BF16, ...
  uint64_t bytes = 0;          // bytes the tensor occupies in the file
};

}  // namespace nibble
