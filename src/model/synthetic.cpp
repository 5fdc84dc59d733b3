#include "model/synthetic.h"

#include <cmath>

namespace nibble {

namespace {

// splitmix64: a tiny, fully specified generator (std distributions are not portable).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [-1, 1).
  float uniform() { return static_cast<float>(next() >> 40) * 0x1p-23f - 1.0f; }

 private:
  uint64_t state_;
};

DenseMatrix random_matrix(Rng& rng, int rows, int cols) {
  DenseMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.data.resize(static_cast<size_t>(rows) * cols);
  // Uniform on [-a, a] has standard deviation a / sqrt(3); aim for 1 / sqrt(cols).
  const float scale = std::sqrt(3.0f / static_cast<float>(cols));
  for (float& v : m.data) v = rng.uniform() * scale;
  return m;
}

std::vector<float> random_gain(Rng& rng, int n) {
  std::vector<float> g(static_cast<size_t>(n));
  for (float& v : g) v = 1.0f + 0.1f * rng.uniform();
  return g;
}

std::vector<float> random_bias(Rng& rng, int n) {
  std::vector<float> b(static_cast<size_t>(n));
  for (float& v : b) v = 0.1f * rng.uniform();
  return b;
}

}  // namespace

Model make_synthetic_model(const ModelConfig& config, uint64_t seed) {
  Rng rng(seed);
  Model model;
  model.config = config;
  model.format = "synthetic";
  auto& w = model.weights;
  w.token_embedding = random_matrix(rng, config.vocab_size, config.dim);
  w.layers.resize(static_cast<size_t>(config.n_layers));
  for (auto& layer : w.layers) {
    layer.attn_norm = random_gain(rng, config.dim);
    layer.wq.weight = random_matrix(rng, config.q_dim(), config.dim);
    layer.wk.weight = random_matrix(rng, config.kv_dim(), config.dim);
    layer.wv.weight = random_matrix(rng, config.kv_dim(), config.dim);
    if (config.qkv_bias) {
      layer.wq.bias = random_bias(rng, config.q_dim());
      layer.wk.bias = random_bias(rng, config.kv_dim());
      layer.wv.bias = random_bias(rng, config.kv_dim());
    }
    layer.wo.weight = random_matrix(rng, config.dim, config.q_dim());
    layer.ffn_norm = random_gain(rng, config.dim);
    layer.w_gate.weight = random_matrix(rng, config.hidden_dim, config.dim);
    layer.w_up.weight = random_matrix(rng, config.hidden_dim, config.dim);
    layer.w_down.weight = random_matrix(rng, config.dim, config.hidden_dim);
  }
  w.final_norm = random_gain(rng, config.dim);
  if (!config.tied_embeddings) w.classifier.weight = random_matrix(rng, config.vocab_size, config.dim);
  return model;
}

ModelConfig small_test_config() {
  ModelConfig c;
  c.architecture = Architecture::kLlama;
  c.dim = 48;
  c.hidden_dim = 72;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 12;
  c.vocab_size = 40;
  c.max_seq_len = 32;
  c.tied_embeddings = true;
  c.rope_style = RopeStyle::kInterleavedPairs;
  return c;
}

ModelConfig micro_test_config(Architecture arch) {
  ModelConfig c = small_test_config();
  c.architecture = arch;
  c.dim = 32;
  c.hidden_dim = 64;
  c.n_layers = 1;
  c.head_dim = 8;
  c.vocab_size = 32;
  c.max_seq_len = 16;
  c.tied_embeddings = arch == Architecture::kLlama;
  c.qkv_bias = arch == Architecture::kQwen2;
  c.rope_style = arch == Architecture::kQwen2 ? RopeStyle::kHalves : RopeStyle::kInterleavedPairs;
  return c;
}

}  // namespace nibble
