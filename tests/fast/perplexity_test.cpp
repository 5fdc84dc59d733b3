// Scoring several models in one pass (the reference runs once per chunk) must give each
// model exactly what scoring it alone gives: same bits for ppl, KL and the per-token KL.
#include <vector>

#include <gtest/gtest.h>

#include "eval/perplexity.h"
#include "model/synthetic.h"
#include "quant/quantize_model.h"

namespace nibble {
namespace {

Model quantized_micro_model(const std::string& preset, ThreadPool& pool) {
  Model model = make_synthetic_model(micro_test_config(Architecture::kQwen2), 21);
  auto recipe = resolve_recipe(preset);
  EXPECT_TRUE(recipe.ok());
  EXPECT_TRUE(quantize_model(model, *recipe, pool, {}).ok());
  return model;
}

std::vector<int> token_stream(int vocab, int n) {
  std::vector<int> tokens;
  for (int i = 0; i < n; ++i) tokens.push_back((i * 7 + 3) % vocab);
  return tokens;
}

void expect_same_bits(const PerplexityResult& together, const PerplexityResult& alone) {
  EXPECT_EQ(together.ppl, alone.ppl);
  EXPECT_EQ(together.ppl_stderr, alone.ppl_stderr);
  EXPECT_EQ(together.nll, alone.nll);
  EXPECT_EQ(together.tokens_scored, alone.tokens_scored);
  EXPECT_EQ(together.chunks, alone.chunks);
  ASSERT_TRUE(together.kl && alone.kl);
  EXPECT_EQ(together.kl->kld_mean, alone.kl->kld_mean);
  EXPECT_EQ(together.kl->kld_p99, alone.kl->kld_p99);
  EXPECT_EQ(together.kl->same_top, alone.kl->same_top);
  EXPECT_EQ(together.kl->ref_ppl, alone.kl->ref_ppl);
  EXPECT_EQ(together.kl->token_kld, alone.kl->token_kld);
}

TEST(Perplexity, ManyModelsInOnePassEqualEachModelAlone) {
  ThreadPool pool(2);
  const Model reference = make_synthetic_model(micro_test_config(Architecture::kQwen2), 21);
  const Model q4 = quantized_micro_model("q4_g32", pool);
  const Model q8 = quantized_micro_model("q8_g32", pool);
  const int ctx = 16;
  const std::vector<int> tokens = token_stream(reference.config.vocab_size, 3 * ctx + 5);
  const PerplexityOptions options{ctx, 0};

  const Model* both[] = {&q4, &q8};
  auto together = evaluate_perplexity_many(both, &reference, tokens, options, pool, {});
  ASSERT_TRUE(together.ok()) << together.error().message;
  ASSERT_EQ(together->size(), 2u);
  auto q4_alone = evaluate_perplexity(q4, &reference, tokens, options, pool, {});
  auto q8_alone = evaluate_perplexity(q8, &reference, tokens, options, pool, {});
  ASSERT_TRUE(q4_alone.ok() && q8_alone.ok());
  expect_same_bits((*together)[0], *q4_alone);
  expect_same_bits((*together)[1], *q8_alone);
  EXPECT_EQ((*together)[0].chunks, 3);
  EXPECT_EQ((*together)[0].tokens_scored, 3 * (ctx - 1 - ctx / 2));
  // The two quantizations differ, so the pass did not score one model twice.
  EXPECT_NE((*together)[0].kl->token_kld, (*together)[1].kl->token_kld);
  EXPECT_GT((*together)[0].kl->kld_mean, (*together)[1].kl->kld_mean);  // 4 bits lose more than 8
}

TEST(Perplexity, AModelAgainstItselfHasZeroKlAndItsOwnPerplexity) {
  ThreadPool pool(1);
  const Model model = make_synthetic_model(micro_test_config(Architecture::kLlama), 5);
  const std::vector<int> tokens = token_stream(model.config.vocab_size, 40);
  auto result = evaluate_perplexity(model, &model, tokens, PerplexityOptions{16, 0}, pool, {});
  ASSERT_TRUE(result.ok()) << result.error().message;
  // Identical logits give identical log-partitions, so every term of the KL is exactly 0.
  EXPECT_EQ(result->kl->kld_mean, 0.0);
  EXPECT_EQ(result->kl->same_top, 1.0);
  EXPECT_EQ(result->kl->ref_ppl, result->ppl);
}

TEST(Perplexity, RefusesNoModelsAndMismatchedVocabularies) {
  ThreadPool pool(1);
  const Model model = make_synthetic_model(micro_test_config(Architecture::kLlama), 5);
  ModelConfig other_config = micro_test_config(Architecture::kLlama);
  other_config.vocab_size += 1;
  const Model other = make_synthetic_model(other_config, 5);
  const std::vector<int> tokens = token_stream(model.config.vocab_size, 40);
  const PerplexityOptions options{16, 0};

  auto none = evaluate_perplexity_many({}, nullptr, tokens, options, pool, {});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("at least one model"), std::string::npos) << none.error().message;

  const Model* mixed[] = {&model, &other};
  auto mismatch = evaluate_perplexity_many(mixed, nullptr, tokens, options, pool, {});
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.error().message.find("vocab_size " + std::to_string(other_config.vocab_size)),
            std::string::npos)
      << mismatch.error().message;

  auto bad_reference = evaluate_perplexity(model, &other, tokens, options, pool, {});
  ASSERT_FALSE(bad_reference.ok());
  EXPECT_NE(bad_reference.error().message.find("--kl-ref"), std::string::npos) << bad_reference.error().message;
}

}  // namespace
}  // namespace nibble
