#include "model/transformer.h"

#include <vector>

#include <gtest/gtest.h>

#include "model/synthetic.h"

namespace nibble {
namespace {

// Logits of every position, evaluating `tokens` in batches of `batch`.
std::vector<float> all_logits(const Model& model, const std::vector<int>& tokens, int batch, int threads) {
  ThreadPool pool(threads);
  auto transformer = Transformer::create(model.config, model.weights, model.config.max_seq_len, batch, pool);
  EXPECT_TRUE(transformer.ok());
  const int vocab = model.config.vocab_size;
  std::vector<float> logits(tokens.size() * vocab);
  for (size_t pos = 0; pos < tokens.size(); pos += batch) {
    int n = std::min<int>(batch, static_cast<int>(tokens.size() - pos));
    auto status = transformer->forward(std::span<const int>(tokens).subspan(pos, n), static_cast<int>(pos), n,
                                       logits.data() + pos * vocab);
    EXPECT_TRUE(status.ok()) << (status.ok() ? "" : status.error().message);
  }
  return logits;
}

std::vector<int> test_tokens(int n, int vocab) {
  std::vector<int> tokens;
  for (int i = 0; i < n; ++i) tokens.push_back((i * 7 + 3) % vocab);
  return tokens;
}

TEST(Transformer, BatchedPrefillEqualsTokenByTokenBitForBit) {
  for (bool qwen : {false, true}) {
    ModelConfig config = small_test_config();
    if (qwen) {
      config.architecture = Architecture::kQwen2;
      config.qkv_bias = true;
      config.rope_style = RopeStyle::kHalves;
      config.tied_embeddings = false;
    }
    Model model = make_synthetic_model(config, 5);
    auto tokens = test_tokens(20, config.vocab_size);
    auto one_by_one = all_logits(model, tokens, 1, 1);
    for (int batch : {3, 8, 20}) EXPECT_EQ(all_logits(model, tokens, batch, 1), one_by_one) << batch;
  }
}

TEST(Transformer, ThreadCountDoesNotChangeBits) {
  Model model = make_synthetic_model(small_test_config(), 9);
  auto tokens = test_tokens(16, model.config.vocab_size);
  auto one = all_logits(model, tokens, 16, 1);
  EXPECT_EQ(all_logits(model, tokens, 16, 2), one);
  EXPECT_EQ(all_logits(model, tokens, 16, 3), one);
}

TEST(Transformer, BiasChangesTheOutput) {
  ModelConfig config = small_test_config();
  config.qkv_bias = true;
  Model model = make_synthetic_model(config, 3);
  auto tokens = test_tokens(6, config.vocab_size);
  auto with_bias = all_logits(model, tokens, 6, 1);
  for (auto& layer : model.weights.layers) {
    layer.wq.bias.clear();
    layer.wk.bias.clear();
    layer.wv.bias.clear();
  }
  EXPECT_NE(all_logits(model, tokens, 6, 1), with_bias);
}

TEST(Transformer, RejectsBadTokensAndPositions) {
  Model model = make_synthetic_model(small_test_config(), 1);
  ThreadPool pool(1);
  auto transformer = Transformer::create(model.config, model.weights, 8, 4, pool);
  ASSERT_TRUE(transformer.ok());
  std::vector<float> logits(static_cast<size_t>(model.config.vocab_size) * 4);
  std::vector<int> bad = {1, 40};
  auto status = transformer->forward(bad, 0, 1, logits.data());
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("token id 40"), std::string::npos) << status.error().message;
  std::vector<int> ok = {1, 2};
  auto past_end = transformer->forward(ok, 7, 1, logits.data());
  ASSERT_FALSE(past_end.ok());
  EXPECT_NE(past_end.error().message.find("context of 8"), std::string::npos) << past_end.error().message;
  EXPECT_FALSE(Transformer::create(model.config, model.weights, 64, 4, pool).ok());
}

}  // namespace
}  // namespace nibble
