#include "eval/perplexity.h"

#include <algorithm>
#include <cmath>

#include "model/sampler.h"
#include "model/transformer.h"

namespace nibble {

double log_softmax_at(const float* logits, int n, int index) {
  float max_logit = logits[0];
  for (int i = 1; i < n; ++i) max_logit = std::max(max_logit, logits[i]);
  double sum = 0.0;
  for (int i = 0; i < n; ++i) sum += std::exp(static_cast<double>(logits[i]) - max_logit);
  return static_cast<double>(logits[index]) - max_logit - std::log(sum);
}

namespace {

// KL(p || q) for p = softmax(ref), q = softmax(model), in double.
double kl_divergence(const float* ref, const float* model, int n) {
  double ref_max = ref[0], model_max = model[0];
  for (int i = 1; i < n; ++i) {
    ref_max = std::max<double>(ref_max, ref[i]);
    model_max = std::max<double>(model_max, model[i]);
  }
  double ref_sum = 0.0, model_sum = 0.0;
  for (int i = 0; i < n; ++i) {
    ref_sum += std::exp(ref[i] - ref_max);
    model_sum += std::exp(model[i] - model_max);
  }
  const double ref_log_z = ref_max + std::log(ref_sum);
  const double model_log_z = model_max + std::log(model_sum);
  double kl = 0.0;
  for (int i = 0; i < n; ++i) {
    const double log_p = ref[i] - ref_log_z;
    const double log_q = model[i] - model_log_z;
    kl += std::exp(log_p) * (log_p - log_q);
  }
  return std::max(0.0, kl);  // rounding can leave a tiny negative value
}

struct NllAccumulator {
  double sum = 0.0, sum_sq = 0.0;
  int64_t count = 0;
  void add(double nll) { sum += nll; sum_sq += nll * nll; ++count; }
  double mean() const { return sum / static_cast<double>(count); }
  double ppl() const { return std::exp(mean()); }
  double ppl_stderr() const {
    const double m = mean();
    const double var = sum_sq / static_cast<double>(count) - m * m;
    return count > 1 && var > 0 ? ppl() * std::sqrt(var / static_cast<double>(count - 1)) : 0.0;
  }
};

}  // namespace

Result<PerplexityResult> evaluate_perplexity(const Model& model, const Model* reference,
                                             std::span<const int> tokens,
                                             const PerplexityOptions& options, ThreadPool& pool,
                                             const std::function<void(int, int)>& on_chunk) {
  const int ctx = options.ctx;
  if (ctx < 4) return make_error("--ctx must be at least 4 to score anything, got {}", ctx);
  if (ctx > model.config.max_seq_len)
    return make_error("--ctx {} exceeds the model's context of {} tokens", ctx, model.config.max_seq_len);
  if (reference != nullptr) {
    if (reference->config.vocab_size != model.config.vocab_size)
      return make_error("--kl-ref model has vocab_size {} but the model has {}: KL needs one vocabulary",
                        reference->config.vocab_size, model.config.vocab_size);
    if (ctx > reference->config.max_seq_len)
      return make_error("--ctx {} exceeds the reference model's context of {} tokens", ctx,
                        reference->config.max_seq_len);
  }
  const int available = static_cast<int>(tokens.size() / static_cast<size_t>(ctx));
  if (available == 0)
    return make_error("the text has {} tokens, fewer than one chunk of --ctx {}", tokens.size(), ctx);
  if (options.max_chunks < 0) return make_error("--chunks must be >= 0, got {}", options.max_chunks);
  const int chunks = options.max_chunks > 0 ? std::min(available, options.max_chunks) : available;

  const int vocab = model.config.vocab_size;
  const int first = ctx / 2;
  const int n_scored = ctx - 1 - first;
  NIBBLE_ASSIGN_OR_RETURN(Transformer transformer,
                          Transformer::create(model.config, model.weights, ctx, ctx, pool));
  std::optional<Transformer> ref_transformer;
  if (reference != nullptr) {
    NIBBLE_ASSIGN_OR_RETURN(Transformer t, Transformer::create(reference->config, reference->weights,
                                                               ctx, ctx, pool));
    ref_transformer.emplace(std::move(t));
  }

  // Logits of positions first .. ctx-2 (each predicts the following token).
  std::vector<float> logits(static_cast<size_t>(n_scored) * vocab);
  std::vector<float> ref_logits(reference ? logits.size() : 0);
  std::vector<int> chunk(static_cast<size_t>(ctx));
  NllAccumulator nll, ref_nll;
  std::vector<double> kls;
  int64_t same_top = 0;

  for (int c = 0; c < chunks; ++c) {
    std::copy_n(tokens.begin() + static_cast<ptrdiff_t>(c) * ctx, ctx, chunk.begin());
    chunk[0] = model.config.bos_id;
    // The last position's logits predict a token outside the chunk and are not needed.
    NIBBLE_CHECK_OK(transformer.forward(std::span<const int>(chunk).first(ctx - 1), 0, n_scored,
                                        logits.data()));
    if (ref_transformer) {
      NIBBLE_CHECK_OK(ref_transformer->forward(std::span<const int>(chunk).first(ctx - 1), 0,
                                               n_scored, ref_logits.data()));
    }
    for (int i = 0; i < n_scored; ++i) {
      const int target = chunk[static_cast<size_t>(first + i + 1)];
      const float* row = logits.data() + static_cast<size_t>(i) * vocab;
      nll.add(-log_softmax_at(row, vocab, target));
      if (ref_transformer) {
        const float* ref_row = ref_logits.data() + static_cast<size_t>(i) * vocab;
        ref_nll.add(-log_softmax_at(ref_row, vocab, target));
        kls.push_back(kl_divergence(ref_row, row, vocab));
        same_top += argmax(ref_row, vocab) == argmax(row, vocab) ? 1 : 0;
      }
    }
    if (on_chunk) on_chunk(c + 1, chunks);
  }

  PerplexityResult result;
  result.ppl = nll.ppl();
  result.ppl_stderr = nll.ppl_stderr();
  result.nll = nll.mean();
  result.tokens_scored = nll.count;
  result.chunks = chunks;
  if (ref_transformer) {
    KlStats kl;
    double total = 0.0;
    for (double v : kls) total += v;
    kl.kld_mean = total / static_cast<double>(kls.size());
    kl.token_kld = kls;
    std::sort(kls.begin(), kls.end());
    const size_t rank = static_cast<size_t>(std::ceil(0.99 * static_cast<double>(kls.size())));
    kl.kld_p99 = kls[std::max<size_t>(rank, 1) - 1];
    kl.same_top = static_cast<double>(same_top) / static_cast<double>(kls.size());
    kl.ref_ppl = ref_nll.ppl();
    kl.dppl = result.ppl - kl.ref_ppl;
    result.kl = kl;
  }
  return result;
}

}  // namespace nibble
