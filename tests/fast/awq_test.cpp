// AWQ's promise: the scaling is a no-op before quantization (power-of-two scales fold
// exactly, so the float model's logits stay bit-identical), it never raises the layer-
// output error it searches on, and the pairs it cannot fold exactly are skipped by name.
#include <vector>

#include <gtest/gtest.h>

#include "model/synthetic.h"
#include "model/transformer.h"
#include "quant/awq.h"
#include "quant/calibration.h"
#include "quant/quantize_model.h"

namespace nibble {
namespace {

std::vector<int> tokens_for(int vocab, int n) {
  std::vector<int> tokens;
  for (int i = 0; i < n; ++i) tokens.push_back((i * 5 + 1) % vocab);
  return tokens;
}

std::vector<float> logits_of(const Model& model, const std::vector<int>& tokens, ThreadPool& pool) {
  auto t = Transformer::create(model.config, model.weights, static_cast<int>(tokens.size()),
                               static_cast<int>(tokens.size()), pool);
  EXPECT_TRUE(t.ok());
  std::vector<float> logits(tokens.size() * static_cast<size_t>(model.config.vocab_size));
  EXPECT_TRUE(t->forward(tokens, 0, static_cast<int>(tokens.size()), logits.data()).ok());
  return logits;
}

struct Case {
  Architecture arch;
  bool gqa;
  bool tied;
};

ModelConfig config_for(const Case& c) {
  ModelConfig config = micro_test_config(c.arch);
  config.n_kv_heads = c.gqa ? config.n_heads / 2 : config.n_heads;
  config.tied_embeddings = c.tied;
  return config;
}

TEST(Awq, ScalingIsANoOpOnTheFloatModel) {
  ThreadPool pool(2);
  auto recipe = resolve_recipe("q4_g32");
  ASSERT_TRUE(recipe.ok());
  for (const Case& c : {Case{Architecture::kLlama, false, false}, Case{Architecture::kQwen2, true, true}}) {
    const ModelConfig config = config_for(c);
    // A few loud input channels (as trained models have): what AWQ is for.
    auto make = [&] {
      Model m = make_synthetic_model(config, 13);
      for (LayerWeights& layer : m.weights.layers)
        for (size_t i = 0; i < layer.attn_norm.size(); i += 7) layer.attn_norm[i] *= 16.0f, layer.ffn_norm[i] *= 16.0f;
      return m;
    };
    Model original = make();
    Model scaled = make();
    const std::vector<int> tokens = tokens_for(config.vocab_size, config.max_seq_len);
    CalibrationOptions options;
    options.hessians = true;
    auto stats = collect_calibration(original, tokens, options, pool, {});
    ASSERT_TRUE(stats.ok());
    auto pairs = apply_awq(scaled, *recipe, *stats);
    ASSERT_TRUE(pairs.ok()) << pairs.error().message;
    int changed = 0;
    for (const AwqPair& p : *pairs) {
      if (p.alpha > 0.0) ++changed;
      EXPECT_LE(p.error_after, p.error_before) << p.producer;
    }
    ASSERT_GT(changed, 0) << "no pair was scaled, so this test would prove nothing";
    EXPECT_NE(scaled.weights.layers[0].attn_norm, original.weights.layers[0].attn_norm);
    EXPECT_EQ(logits_of(scaled, tokens, pool), logits_of(original, tokens, pool))
        << "the folded scales must leave the float model's outputs bit-identical";
  }
}

TEST(Awq, SkipsThePairsItCannotFoldExactly) {
  ThreadPool pool(1);
  auto recipe = resolve_recipe("q4_g32");
  ASSERT_TRUE(recipe.ok());
  const ModelConfig config = config_for({Architecture::kQwen2, true, true});
  Model model = make_synthetic_model(config, 3);
  CalibrationOptions options;
  options.hessians = true;
  auto stats = collect_calibration(model, tokens_for(config.vocab_size, 16), options, pool, {});
  ASSERT_TRUE(stats.ok());
  auto pairs = apply_awq(model, *recipe, *stats);
  ASSERT_TRUE(pairs.ok());
  std::vector<std::string> skipped;
  for (const AwqPair& p : *pairs)
    if (!p.skipped.empty()) skipped.push_back(p.producer + " -> " + p.layers.front());
  EXPECT_EQ(skipped, (std::vector<std::string>{"layers.0.self_attn.v_proj -> layers.0.self_attn.o_proj",
                                               "norm -> lm_head"}));

  CalibrationStats no_hessians;
  no_hessians.importance = stats->importance;
  auto refused = apply_awq(model, *recipe, no_hessians);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("Hessian"), std::string::npos) << refused.error().message;
}

TEST(Awq, QuantizeModelReportsThePairsAndRecordsTheAlgorithm) {
  ThreadPool pool(2);
  const ModelConfig config = config_for({Architecture::kLlama, false, false});
  Model model = make_synthetic_model(config, 21);
  CalibrationOptions options;
  options.hessians = true;
  auto stats = collect_calibration(model, tokens_for(config.vocab_size, 32), options, pool, {});
  ASSERT_TRUE(stats.ok());
  auto recipe = resolve_recipe("q4_g32");
  ASSERT_TRUE(recipe.ok());
  QuantizeModelOptions quantize;
  quantize.algorithm = QuantAlgorithm::kAwq;
  quantize.calibration = &*stats;
  auto report = quantize_model(model, *recipe, pool, {}, quantize);
  ASSERT_TRUE(report.ok()) << report.error().message;
  // Per layer: norm -> qkv, v -> o, norm -> gate/up, up -> down; then norm -> lm_head.
  EXPECT_EQ(report->awq_pairs.size(), 4u * config.n_layers + 1);
  EXPECT_EQ(nlohmann::json::parse(model.recipe_json)["algorithm"], "awq");
}

}  // namespace
}  // namespace nibble
