#include "model/transformer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <unistd.h>

#include "kernels/kernel_table.h"
#include "kernels/ops.h"

namespace nibble {

namespace {

// 0 when the system cannot say.
uint64_t physical_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page_size > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size) : 0;
}

}  // namespace

Result<Transformer> Transformer::create(const ModelConfig& config, const ModelWeights& weights,
                                        int context_len, int max_batch, ThreadPool& pool) {
  if (context_len < 1 || context_len > config.max_seq_len)
    return make_error("context length {} must be between 1 and the model's max_seq_len {}",
                      context_len, config.max_seq_len);
  if (max_batch < 1 || max_batch > context_len)
    return make_error("batch size {} must be between 1 and the context length {}", max_batch,
                      context_len);
  // Refused before allocating: a file may declare any context, and the cache grows with it.
  const uint64_t needed = working_memory_bytes(config, context_len, max_batch);
  const uint64_t physical = physical_memory_bytes();
  if (physical > 0 && needed > physical)
    return make_error("a context of {} positions (batch {}) needs {:.1f} GiB for the KV cache and buffers, more "
                      "than this machine's {:.1f} GiB of memory; use a shorter context",
                      context_len, max_batch, needed / 1073741824.0, physical / 1073741824.0);
  return Transformer(config, weights, context_len, max_batch, pool);
}

uint64_t Transformer::working_memory_bytes(const ModelConfig& c, int context_len, int max_batch) {
  const uint64_t ctx = static_cast<uint64_t>(context_len), batch = static_cast<uint64_t>(max_batch);
  const uint64_t rope = ctx * static_cast<uint64_t>(c.head_dim);  // cos and sin, head_dim/2 each
  const uint64_t activations =
      batch * (3ull * c.dim + std::max(c.dim, c.q_dim()) + c.q_dim() + 2ull * c.hidden_dim + c.n_heads * ctx);
  const uint64_t cache = 2ull * c.n_layers * ctx * static_cast<uint64_t>(c.kv_dim());
  return sizeof(float) * (rope + activations + cache);
}

Transformer::Transformer(const ModelConfig& config, const ModelWeights& weights, int context_len,
                         int max_batch, ThreadPool& pool)
    : config_(&config), weights_(&weights), pool_(&pool), context_len_(context_len),
      max_batch_(max_batch) {
  const auto& c = config;
  const int half = c.head_dim / 2;
  rope_cos_.resize(static_cast<size_t>(context_len) * half);
  rope_sin_.resize(rope_cos_.size());
  for (int j = 0; j < half; ++j) {
    // Both llama2.c and HF compute the frequency in float32 this way.
    float freq = 1.0f / std::pow(c.rope_theta, static_cast<float>(2 * j) / static_cast<float>(c.head_dim));
    for (int pos = 0; pos < context_len; ++pos) {
      float angle = static_cast<float>(pos) * freq;
      rope_cos_[static_cast<size_t>(pos) * half + j] = std::cos(angle);
      rope_sin_[static_cast<size_t>(pos) * half + j] = std::sin(angle);
    }
  }
  const size_t batch = static_cast<size_t>(max_batch);
  x_.resize(batch * c.dim);
  xb_.resize(batch * std::max(c.dim, c.q_dim()));
  xb2_.resize(batch * c.dim);
  q_.resize(batch * c.q_dim());
  hb_.resize(batch * c.hidden_dim);
  hb2_.resize(batch * c.hidden_dim);
  scores_.resize(batch * c.n_heads * context_len);
  const size_t cache = static_cast<size_t>(c.n_layers) * context_len * c.kv_dim();
  key_cache_.resize(cache);
  value_cache_.resize(cache);
}

void Transformer::apply_rope(float* vec, int n_heads_in_vec, int pos) const {
  const int hd = config_->head_dim;
  const int half = hd / 2;
  const float* cos_row = rope_cos_.data() + static_cast<size_t>(pos) * half;
  const float* sin_row = rope_sin_.data() + static_cast<size_t>(pos) * half;
  const bool interleaved = config_->rope_style == RopeStyle::kInterleavedPairs;
  for (int h = 0; h < n_heads_in_vec; ++h) {
    float* head = vec + static_cast<size_t>(h) * hd;
    for (int j = 0; j < half; ++j) {
      // Pair j is (2j, 2j+1) when interleaved, (j, j+half) when rotating halves.
      float* a = interleaved ? head + 2 * j : head + j;
      float* b = interleaved ? head + 2 * j + 1 : head + j + half;
      float v0 = *a, v1 = *b;
      *a = v0 * cos_row[j] - v1 * sin_row[j];
      *b = v0 * sin_row[j] + v1 * cos_row[j];
    }
  }
}

void Transformer::attention(int layer, int n_tokens, int pos) {
  const auto& c = *config_;
  const int hd = c.head_dim;
  const int kv_dim = c.kv_dim();
  const int group = c.n_heads / c.n_kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const size_t layer_offset = static_cast<size_t>(layer) * context_len_ * kv_dim;
  const KernelTable& k = kernels();
  // One task per (token, head): independent, so any split gives the same bits. A token's
  // cost grows with its position (it attends to every earlier one), so a batch is not split
  // evenly by count: tasks run latest token first, in guided pieces taken by demand, and the
  // smallest pieces, of the cheapest tokens, come last to even out the threads' finishing
  // times. (Split evenly by count, the thread holding the later half of a 128-token prefill
  // had three times the other's work.)
  const size_t n_tasks = static_cast<size_t>(n_tokens) * c.n_heads;
  pool_->parallel_for(n_tasks, 1, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      const size_t task = n_tasks - 1 - i;
      const int t = static_cast<int>(task / c.n_heads);
      const int h = static_cast<int>(task % c.n_heads);
      const int token_pos = pos + t;
      const float* q = q_.data() + static_cast<size_t>(t) * c.q_dim() + static_cast<size_t>(h) * hd;
      float* att = scores_.data() + task * context_len_;
      const size_t kv_head = static_cast<size_t>(h / group) * hd;
      k.attention_scores(q, key_cache_.data() + layer_offset + kv_head, kv_dim, token_pos + 1, hd,
                         scale, att);
      k.softmax(att, token_pos + 1);
      float* out = xb_.data() + static_cast<size_t>(t) * c.q_dim() + static_cast<size_t>(h) * hd;
      k.attention_values(att, value_cache_.data() + layer_offset + kv_head, kv_dim, token_pos + 1, hd, out);
    }
  }, n_tokens > 1 ? ThreadPool::Split::kGuided : ThreadPool::Split::kStatic);
}

template <typename PerToken>
void Transformer::for_each_token(int n_tokens, PerToken&& per_token) {
  // One token (decode) is one range, which parallel_for runs inline with no hand-off.
  pool_->parallel_for(static_cast<size_t>(n_tokens), 1, [&](size_t begin, size_t end) {
    for (size_t t = begin; t < end; ++t) per_token(static_cast<int>(t));
  });
}

void Transformer::observe(std::initializer_list<const Linear*> layers, const float* x, size_t stride,
                          int n_tokens) {
  if (observer_) observer_(std::span<const Linear* const>(layers.begin(), layers.size()), x, stride, n_tokens);
}

Status Transformer::forward(std::span<const int> tokens, int pos, int n_logits, float* logits) {
  const auto& c = *config_;
  const auto& w = *weights_;
  const int n = static_cast<int>(tokens.size());
  if (n < 1 || n > max_batch_)
    return make_error("forward() got {} tokens; the batch holds 1 to {}", n, max_batch_);
  if (pos < 0 || pos + n > context_len_)
    return make_error("positions {}..{} exceed the context of {} tokens", pos, pos + n - 1,
                      context_len_);
  if (n_logits < 0 || n_logits > n)
    return make_error("asked for logits of {} tokens out of a batch of {}", n_logits, n);
  for (int t = 0; t < n; ++t) {
    if (tokens[t] < 0 || tokens[t] >= c.vocab_size)
      return make_error("token id {} at position {} is outside the vocabulary [0, {})", tokens[t],
                        pos + t, c.vocab_size);
  }

  const size_t dim = static_cast<size_t>(c.dim);
  const size_t q_dim = static_cast<size_t>(c.q_dim());
  const size_t kv_dim = static_cast<size_t>(c.kv_dim());
  const size_t hidden = static_cast<size_t>(c.hidden_dim);
  for (int t = 0; t < n; ++t)
    w.embedding_row(tokens[t], x_.data() + t * dim);

  const KernelTable& k = kernels();
  // x += xb2 for token t (a sublayer's output joins the residual stream).
  auto add_residual = [&](int t) {
    float* x = x_.data() + t * dim;
    const float* delta = xb2_.data() + t * dim;
    for (size_t i = 0; i < dim; ++i) x[i] += delta[i];
  };
  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& layer = w.layers[static_cast<size_t>(l)];
    const size_t cache_base = static_cast<size_t>(l) * context_len_ * kv_dim;
    float* k_rows = key_cache_.data() + cache_base + static_cast<size_t>(pos) * kv_dim;
    float* v_rows = value_cache_.data() + cache_base + static_cast<size_t>(pos) * kv_dim;

    for_each_token(n, [&](int t) {
      rmsnorm(xb_.data() + t * dim, x_.data() + t * dim, layer.attn_norm.data(), c.dim, c.rms_norm_eps);
    });
    observe({&layer.wq, &layer.wk, &layer.wv}, xb_.data(), dim, n);
    const LinearOutput qkv[] = {{&layer.wq, q_.data(), q_dim}, {&layer.wk, k_rows, kv_dim}, {&layer.wv, v_rows, kv_dim}};
    linear_forward_shared_input(qkv, xb_.data(), dim, n, *pool_);
    for_each_token(n, [&](int t) {
      apply_rope(q_.data() + t * q_dim, c.n_heads, pos + t);
      apply_rope(k_rows + t * kv_dim, c.n_kv_heads, pos + t);
    });
    attention(l, n, pos);  // writes (n, q_dim) into xb_
    observe({&layer.wo}, xb_.data(), q_dim, n);
    linear_forward(layer.wo, xb_.data(), q_dim, n, xb2_.data(), dim, *pool_);
    // The residual add and the next norm of each token together.
    for_each_token(n, [&](int t) {
      add_residual(t);
      rmsnorm(xb_.data() + t * dim, x_.data() + t * dim, layer.ffn_norm.data(), c.dim, c.rms_norm_eps);
    });
    observe({&layer.w_gate, &layer.w_up}, xb_.data(), dim, n);
    const LinearOutput gate_up[] = {{&layer.w_gate, hb_.data(), hidden}, {&layer.w_up, hb2_.data(), hidden}};
    linear_forward_shared_input(gate_up, xb_.data(), dim, n, *pool_);
    for_each_token(n, [&](int t) { k.silu_mul(hb_.data() + t * hidden, hb2_.data() + t * hidden, c.hidden_dim); });
    observe({&layer.w_down}, hb_.data(), hidden, n);
    linear_forward(layer.w_down, hb_.data(), hidden, n, xb2_.data(), dim, *pool_);
    for_each_token(n, add_residual);
  }

  if (n_logits == 0) return {};
  const int first = n - n_logits;
  for (int t = first; t < n; ++t)
    rmsnorm(x_.data() + t * dim, x_.data() + t * dim, w.final_norm.data(), c.dim, c.rms_norm_eps);
  observe({&w.classifier}, x_.data() + first * dim, dim, n_logits);
  if (w.classifier.quantized) {
    linear_forward(w.classifier, x_.data() + first * dim, dim, n_logits, logits,
                   static_cast<size_t>(c.vocab_size), *pool_);
  } else {
    matmul(w.classifier_matrix(), x_.data() + first * dim, dim, n_logits, logits,
           static_cast<size_t>(c.vocab_size), *pool_);
  }
  return {};
}

}  // namespace nibble
