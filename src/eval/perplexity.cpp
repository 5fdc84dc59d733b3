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

// log Z = max + log(sum exp(x - max)) of one row, in double (max taken in double too).
double log_partition(const float* logits, int n) {
  double max_logit = logits[0];
  for (int i = 1; i < n; ++i) max_logit = std::max<double>(max_logit, logits[i]);
  double sum = 0.0;
  for (int i = 0; i < n; ++i) sum += std::exp(logits[i] - max_logit);
  return max_logit + std::log(sum);
}

// KL(p || q) for p = softmax(ref), q = softmax(model), in double; log Z of the reference
// row is computed once per chunk and shared by every model compared against it.
double kl_divergence(const float* ref, double ref_log_z, const float* model, int n) {
  const double model_log_z = log_partition(model, n);
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

// What one model accumulates over the chunks.
struct ModelScores {
  NllAccumulator nll;
  std::vector<double> kls;
  int64_t same_top = 0;
};

Status check_model(const Model& model, const Model& first, int ctx, const char* role) {
  if (model.config.vocab_size != first.config.vocab_size)
    return make_error("{} has vocab_size {} but the first model has {}: KL and a shared token stream need one vocabulary",
                      role, model.config.vocab_size, first.config.vocab_size);
  if (ctx > model.config.max_seq_len)
    return make_error("--ctx {} exceeds the {}'s context of {} tokens", ctx, role, model.config.max_seq_len);
  return {};
}

PerplexityResult finish(ModelScores& scores, const NllAccumulator* ref_nll, int chunks) {
  PerplexityResult result;
  result.ppl = scores.nll.ppl();
  result.ppl_stderr = scores.nll.ppl_stderr();
  result.nll = scores.nll.mean();
  result.tokens_scored = scores.nll.count;
  result.chunks = chunks;
  if (ref_nll != nullptr) {
    std::vector<double>& kls = scores.kls;
    KlStats kl;
    double total = 0.0;
    for (double v : kls) total += v;
    kl.kld_mean = total / static_cast<double>(kls.size());
    kl.token_kld = kls;
    std::sort(kls.begin(), kls.end());
    const size_t rank = static_cast<size_t>(std::ceil(0.99 * static_cast<double>(kls.size())));
    kl.kld_p99 = kls[std::max<size_t>(rank, 1) - 1];
    kl.same_top = static_cast<double>(scores.same_top) / static_cast<double>(kls.size());
    kl.ref_ppl = ref_nll->ppl();
    kl.dppl = result.ppl - kl.ref_ppl;
    result.kl = kl;
  }
  return result;
}

}  // namespace

Result<std::vector<PerplexityResult>> evaluate_perplexity_many(std::span<const Model* const> models,
                                                               const Model* reference,
                                                               std::span<const int> tokens,
                                                               const PerplexityOptions& options,
                                                               ThreadPool& pool,
                                                               const std::function<void(int, int)>& on_chunk) {
  if (models.empty()) return make_error("perplexity needs at least one model, got none");
  const int ctx = options.ctx;
  if (ctx < 4) return make_error("--ctx must be at least 4 to score anything, got {}", ctx);
  const Model& first = *models.front();
  for (size_t m = 0; m < models.size(); ++m)
    NIBBLE_CHECK_OK(check_model(*models[m], first, ctx, m == 0 ? "model" : "compared model"));
  if (reference != nullptr) NIBBLE_CHECK_OK(check_model(*reference, first, ctx, "--kl-ref model"));
  const int available = static_cast<int>(tokens.size() / static_cast<size_t>(ctx));
  if (available == 0)
    return make_error("the text has {} tokens, fewer than one chunk of --ctx {}", tokens.size(), ctx);
  if (options.max_chunks < 0) return make_error("--chunks must be >= 0, got {}", options.max_chunks);
  const int chunks = options.max_chunks > 0 ? std::min(available, options.max_chunks) : available;

  const int vocab = first.config.vocab_size;
  const int first_scored = ctx / 2;
  const int n_scored = ctx - 1 - first_scored;
  std::vector<Transformer> transformers;
  transformers.reserve(models.size());
  for (const Model* model : models) {
    NIBBLE_ASSIGN_OR_RETURN(Transformer t, Transformer::create(model->config, model->weights, ctx, ctx, pool));
    transformers.push_back(std::move(t));
  }
  std::optional<Transformer> ref_transformer;
  if (reference != nullptr) {
    NIBBLE_ASSIGN_OR_RETURN(Transformer t, Transformer::create(reference->config, reference->weights,
                                                               ctx, ctx, pool));
    ref_transformer.emplace(std::move(t));
  }

  // Logits of positions first_scored .. ctx-2 (each predicts the following token).
  std::vector<float> logits(static_cast<size_t>(n_scored) * vocab);
  std::vector<float> ref_logits(reference ? logits.size() : 0);
  std::vector<double> ref_log_z(reference ? n_scored : 0);
  std::vector<int> ref_top(reference ? n_scored : 0);
  std::vector<int> chunk(static_cast<size_t>(ctx));
  std::vector<ModelScores> scores(models.size());
  NllAccumulator ref_nll;

  for (int c = 0; c < chunks; ++c) {
    std::copy_n(tokens.begin() + static_cast<ptrdiff_t>(c) * ctx, ctx, chunk.begin());
    chunk[0] = first.config.bos_id;
    // The last position's logits predict a token outside the chunk and are not needed.
    const auto inputs = std::span<const int>(chunk).first(ctx - 1);
    if (ref_transformer) {
      NIBBLE_CHECK_OK(ref_transformer->forward(inputs, 0, n_scored, ref_logits.data()));
      for (int i = 0; i < n_scored; ++i) {
        const float* ref_row = ref_logits.data() + static_cast<size_t>(i) * vocab;
        ref_nll.add(-log_softmax_at(ref_row, vocab, chunk[static_cast<size_t>(first_scored + i + 1)]));
        ref_log_z[static_cast<size_t>(i)] = log_partition(ref_row, vocab);
        ref_top[static_cast<size_t>(i)] = argmax(ref_row, vocab);
      }
    }
    for (size_t m = 0; m < models.size(); ++m) {
      NIBBLE_CHECK_OK(transformers[m].forward(inputs, 0, n_scored, logits.data()));
      ModelScores& s = scores[m];
      for (int i = 0; i < n_scored; ++i) {
        const float* row = logits.data() + static_cast<size_t>(i) * vocab;
        s.nll.add(-log_softmax_at(row, vocab, chunk[static_cast<size_t>(first_scored + i + 1)]));
        if (ref_transformer) {
          const float* ref_row = ref_logits.data() + static_cast<size_t>(i) * vocab;
          s.kls.push_back(kl_divergence(ref_row, ref_log_z[static_cast<size_t>(i)], row, vocab));
          s.same_top += ref_top[static_cast<size_t>(i)] == argmax(row, vocab) ? 1 : 0;
        }
      }
    }
    if (on_chunk) on_chunk(c + 1, chunks);
  }

  std::vector<PerplexityResult> results;
  for (ModelScores& s : scores) results.push_back(finish(s, ref_transformer ? &ref_nll : nullptr, chunks));
  return results;
}

Result<PerplexityResult> evaluate_perplexity(const Model& model, const Model* reference,
                                             std::span<const int> tokens,
                                             const PerplexityOptions& options, ThreadPool& pool,
                                             const std::function<void(int, int)>& on_chunk) {
  const Model* one[] = {&model};
  NIBBLE_ASSIGN_OR_RETURN(std::vector<PerplexityResult> results,
                          evaluate_perplexity_many(one, reference, tokens, options, pool, on_chunk));
  return std::move(results.front());
}

}  // namespace nibble
