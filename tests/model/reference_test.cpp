// The fp32 forward pass against the training framework's own outputs, and the model
// formats against each other (llama2.c vs HF, tied vs untied, F32 vs BF16 shards).
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/half.h"
#include "formats/hf_model.h"
#include "formats/llama2c.h"
#include "model/model.h"
#include "support/model_runner.h"
#include "support/test_support.h"

namespace nibble {
namespace {

struct Reference {
  std::vector<int> prompt_ids;
  std::vector<int> greedy_ids;
  std::vector<float> logits;
};

Reference load_reference(const std::string& model_dir) {
  Reference ref;
  std::ifstream in(testing::model_path(model_dir + "/reference.json"));
  auto json = nlohmann::json::parse(in);
  ref.prompt_ids = json["prompt_ids"].get<std::vector<int>>();
  ref.greedy_ids = json["greedy_ids"].get<std::vector<int>>();
  std::vector<int64_t> shape;
  std::string error;
  EXPECT_TRUE(testing::load_npy_f32(testing::model_path(model_dir + "/reference_logits.npy"), &ref.logits,
                                    &shape, &error))
      << error;
  return ref;
}

Model load(const std::string& path) {
  auto model = load_model(path, {});
  EXPECT_TRUE(model.ok()) << (model.ok() ? "" : model.error().message);
  return model.ok() ? std::move(*model) : Model{};
}

void expect_matches_reference(const std::string& model_dir, const std::string& sub) {
  SCOPED_TRACE(model_dir + "/" + sub);
  Reference ref = load_reference(model_dir);
  Model model = load(testing::model_path(model_dir + "/" + sub));
  auto logits = testing::logits_for(model, ref.prompt_ids);
  ASSERT_EQ(logits.size(), ref.logits.size());
  const double bound = testing::float32_reorder_bound(model.config, testing::max_abs(ref.logits));
  const double diff = testing::max_abs_diff(logits, ref.logits);
  EXPECT_LE(diff, bound);
  ::testing::Test::RecordProperty("max_abs_diff", std::to_string(diff));
  const int count = static_cast<int>(ref.greedy_ids.size() - ref.prompt_ids.size());
  EXPECT_EQ(testing::greedy_ids(model, ref.prompt_ids, count), ref.greedy_ids);
}

TEST(ReferenceLogits, TinyLlamaLlama2c) {
  NIBBLE_REQUIRE_MODELS();
  expect_matches_reference("tiny-llama-8m", "model.bin");
}

TEST(ReferenceLogits, TinyLlamaHf) {
  NIBBLE_REQUIRE_MODELS();
  expect_matches_reference("tiny-llama-8m", "hf");
}

TEST(ReferenceLogits, TinyQwen2Hf) {
  NIBBLE_REQUIRE_MODELS();
  expect_matches_reference("tiny-qwen2-7m", "hf");
}

TEST(FormatsAgree, TinyLlamaLlama2cAndHfAndUntiedCopies) {
  NIBBLE_REQUIRE_MODELS();
  Reference ref = load_reference("tiny-llama-8m");
  Model bin = load(testing::model_path("tiny-llama-8m/model.bin"));
  Model hf = load(testing::model_path("tiny-llama-8m/hf"));
  EXPECT_EQ(bin.config.rope_style, RopeStyle::kInterleavedPairs);
  EXPECT_EQ(hf.config.rope_style, RopeStyle::kHalves);
  auto bin_logits = testing::logits_for(bin, ref.prompt_ids);
  auto hf_logits = testing::logits_for(hf, ref.prompt_ids);
  EXPECT_LE(testing::max_abs_diff(bin_logits, hf_logits),
            testing::float32_reorder_bound(bin.config, testing::max_abs(bin_logits)));

  // Untied copies: a separate classifier equal to the embedding, in both formats. The
  // classifier rows hold the same floats, so the logits are the same bits.
  const std::string dir = testing::temp_dir();
  ASSERT_TRUE(write_llama2c_checkpoint(bin, dir + "/untied.bin", /*untie=*/true).ok());
  LoadOptions options;
  options.tokenizer_path = testing::model_path("tiny-llama-8m/tokenizer.bin");
  auto untied_bin = load_model(dir + "/untied.bin", options);
  ASSERT_TRUE(untied_bin.ok()) << untied_bin.error().message;
  EXPECT_FALSE(untied_bin->config.tied_embeddings);
  EXPECT_FALSE(untied_bin->weights.classifier.weight.data.empty());
  EXPECT_EQ(testing::logits_for(*untied_bin, ref.prompt_ids), bin_logits);

  ASSERT_TRUE(write_hf_model(hf, dir + "/untied-hf", /*untie=*/true).ok());
  options.tokenizer_path = testing::model_path("tiny-llama-8m/tokenizer.model");
  auto untied_hf = load_model(dir + "/untied-hf", options);
  ASSERT_TRUE(untied_hf.ok()) << untied_hf.error().message;
  EXPECT_FALSE(untied_hf->config.tied_embeddings);
  EXPECT_EQ(testing::logits_for(*untied_hf, ref.prompt_ids), hf_logits);
}

TEST(FormatsAgree, TinyQwen2UntiedCopy) {
  NIBBLE_REQUIRE_MODELS();
  Reference ref = load_reference("tiny-qwen2-7m");
  Model hf = load(testing::model_path("tiny-qwen2-7m/hf"));
  auto logits = testing::logits_for(hf, ref.prompt_ids);
  const std::string dir = testing::temp_dir();
  ASSERT_TRUE(write_hf_model(hf, dir + "/untied", /*untie=*/true).ok());
  LoadOptions options;
  options.tokenizer_path = testing::model_path("tiny-qwen2-7m/tokenizer.model");
  auto untied = load_model(dir + "/untied", options);
  ASSERT_TRUE(untied.ok()) << untied.error().message;
  EXPECT_FALSE(untied->config.tied_embeddings);
  EXPECT_TRUE(untied->config.qkv_bias);
  EXPECT_EQ(testing::logits_for(*untied, ref.prompt_ids), logits);
}

TEST(FormatsAgree, TinyQwen2Bf16Shards) {
  NIBBLE_REQUIRE_MODELS();
  Reference ref = load_reference("tiny-qwen2-7m");
  Model f32 = load(testing::model_path("tiny-qwen2-7m/hf"));
  Model bf16 = load(testing::model_path("tiny-qwen2-7m/hf-bf16-sharded"));
  auto bf16_logits = testing::logits_for(bf16, ref.prompt_ids);

  // Exact check of the BF16 path: the F32 weights rounded to BF16 (nearest-even) give
  // the very same logits as the BF16 shards.
  Model rounded = load(testing::model_path("tiny-qwen2-7m/hf"));
  auto round_all = [](auto& v) {
    for (float& x : v) x = bf16_to_f32(f32_to_bf16(x));
  };
  round_all(rounded.weights.token_embedding.data);
  round_all(rounded.weights.final_norm);
  for (auto& l : rounded.weights.layers) {
    for (auto* lin : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
      round_all(lin->weight.data);
      round_all(lin->bias);
    }
    round_all(l.attn_norm);
    round_all(l.ffn_norm);
  }
  EXPECT_EQ(testing::logits_for(rounded, ref.prompt_ids), bf16_logits);

  // Against the F32 model: every weight moved by at most half a BF16 ulp, a relative
  // 2^-9, uniformly distributed, so of standard deviation 2^-9/sqrt(3). Those errors are
  // independent, so along the chain of D = 2L+1 matmuls their effects add in quadrature:
  // a logit moves by about sigma = sqrt(D) * 2^-9/sqrt(3) * max|logit|; allow 4 sigma.
  auto f32_logits = testing::logits_for(f32, ref.prompt_ids);
  const double depth = 2.0 * f32.config.n_layers + 1.0;
  const double sigma = std::sqrt(depth) * std::ldexp(1.0, -9) / std::sqrt(3.0) * testing::max_abs(f32_logits);
  EXPECT_LE(testing::max_abs_diff(f32_logits, bf16_logits), 4.0 * sigma);
}

}  // namespace
}  // namespace nibble
