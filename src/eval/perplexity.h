// Perplexity and KL divergence with llama.cpp's protocol, so figures compare directly:
// the text is tokenized once with a leading BOS and cut into chunks of `ctx` tokens;
// each chunk's first token is replaced by BOS; the predictions of tokens ctx/2+1 ..
// ctx-1 of each chunk are scored (ctx/2 - 1 per chunk), so every scored token has at
// least ctx/2 tokens of context.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "model/model.h"

namespace nibble {

struct PerplexityOptions {
  int ctx = 256;
  int max_chunks = 0;  // 0 = every whole chunk of the text
};

struct KlStats {
  double kld_mean = 0.0;   // mean over scored tokens of KL(reference || model), nats
  double kld_p99 = 0.0;    // 99th percentile (nearest rank) of the per-token KL
  double same_top = 0.0;   // fraction of scored tokens where both models' argmax agree
  double ref_ppl = 0.0;
  double dppl = 0.0;       // ppl(model) - ppl(reference)
  std::vector<double> token_kld;  // per scored token, in text order (for paired comparisons)
};

struct PerplexityResult {
  double ppl = 0.0;
  double ppl_stderr = 0.0;  // ppl * sqrt(var(nll) / (N - 1))
  double nll = 0.0;         // mean negative log-likelihood, nats
  int64_t tokens_scored = 0;
  int chunks = 0;
  std::optional<KlStats> kl;
};

// Scores `tokens` (already BOS-prefixed by the caller's tokenizer) with `model`, and
// compares against `reference` when it is not null (it must share the vocabulary).
// `on_chunk(done, total)` reports progress (may be empty).
Result<PerplexityResult> evaluate_perplexity(const Model& model, const Model* reference,
                                             std::span<const int> tokens,
                                             const PerplexityOptions& options, ThreadPool& pool,
                                             const std::function<void(int, int)>& on_chunk);

// Scores every model in `models` on the same chunks; the reference (when not null) runs
// once per chunk and serves them all, so N models cost N + 1 forward passes instead of 2N.
// Each result is bit-identical to evaluate_perplexity on that model alone. All models
// (and the reference) must share the vocabulary; all are held in memory at once.
Result<std::vector<PerplexityResult>> evaluate_perplexity_many(std::span<const Model* const> models,
                                                               const Model* reference,
                                                               std::span<const int> tokens,
                                                               const PerplexityOptions& options,
                                                               ThreadPool& pool,
                                                               const std::function<void(int, int)>& on_chunk);

// log-softmax of `logits` at `index`, accumulated in double (llama.cpp does the same).
double log_softmax_at(const float* logits, int n, int index);

}  // namespace nibble
