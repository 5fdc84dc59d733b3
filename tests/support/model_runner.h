// Helpers for model tests: run a loaded model over a token sequence and compare logits.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "model/model.h"
#include "model/transformer.h"

namespace nibble::testing {

// Logits (n_tokens x vocab) of every position of `ids`, evaluated as one batch.
inline std::vector<float> logits_for(const Model& model, const std::vector<int>& ids, int threads = 1) {
  ThreadPool pool(threads);
  const int n = static_cast<int>(ids.size());
  auto transformer = Transformer::create(model.config, model.weights, n, n, pool);
  std::vector<float> logits(static_cast<size_t>(n) * model.config.vocab_size);
  if (!transformer.ok()) return {};
  if (!transformer->forward(ids, 0, n, logits.data()).ok()) return {};
  return logits;
}

// Greedy continuation of `ids` by `count` tokens, never stopping at EOS/BOS.
inline std::vector<int> greedy_ids(const Model& model, std::vector<int> ids, int count) {
  ThreadPool pool(1);
  const int context = static_cast<int>(ids.size()) + count;
  auto transformer = Transformer::create(model.config, model.weights, context, context, pool);
  if (!transformer.ok()) return {};
  const int vocab = model.config.vocab_size;
  std::vector<float> logits(static_cast<size_t>(vocab));
  if (!transformer->forward(ids, 0, 1, logits.data()).ok()) return {};
  for (int i = 0; i < count; ++i) {
    int best = 0;
    for (int v = 1; v < vocab; ++v)
      if (logits[v] > logits[best]) best = v;
    ids.push_back(best);
    if (i + 1 < count && !transformer->forward(std::vector<int>{best}, static_cast<int>(ids.size()) - 1, 1,
                                               logits.data()).ok())
      return {};
  }
  return ids;
}

inline double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size() || a.empty()) return INFINITY;
  double d = 0.0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(static_cast<double>(a[i]) - b[i]));
  return d;
}

inline double max_abs(const std::vector<float>& a) {
  double m = 0.0;
  for (float v : a) m = std::max(m, std::fabs(static_cast<double>(v)));
  return m;
}

// Bound on the difference between two float32 evaluations of the same network that
// differ only in the order of their sums (nibble vs PyTorch, llama2.c vs HF layout,
// scalar vs AVX2). Each logit ends a chain of D = 2 * n_layers + 1 matmuls of length at
// most K = max(dim, hidden_dim), joined by residual adds. Under the probabilistic
// rounding model (Higham & Mary, SIAM J. Sci. Comput. 2019) a length-K float32 sum
// carries relative error of order sqrt(K) * u, u = 2^-24, and along the chain those
// errors add, relative to the magnitude of the values carried (at most max|logit| at the
// end). Two such evaluations therefore differ by at most 2 * D * sqrt(K) * u * max|logit|.
inline double float32_reorder_bound(const ModelConfig& c, double max_logit) {
  const double u = std::ldexp(1.0, -24);
  const double depth = 2.0 * c.n_layers + 1.0;
  const double k = std::max(c.dim, c.hidden_dim);
  return 2.0 * depth * std::sqrt(k) * u * max_logit;
}

}  // namespace nibble::testing
