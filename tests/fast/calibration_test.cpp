// Calibration statistics: each linear layer's importance vector is the mean square of the
// inputs the forward pass gives it, checked against a direct computation for the first
// layer, with the shapes of every layer and the same bits for 1 and 2 threads.
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/ops.h"
#include "model/synthetic.h"
#include "quant/calibration.h"
#include "quant/quantize_model.h"

namespace nibble {
namespace {

std::vector<int> calibration_tokens(int vocab, int n) {
  std::vector<int> tokens;
  for (int i = 0; i < n; ++i) tokens.push_back((i * 7 + 3) % vocab);
  return tokens;
}

TEST(Calibration, FirstLayerImportanceIsTheMeanSquareOfTheNormedEmbeddings) {
  for (Architecture arch : {Architecture::kLlama, Architecture::kQwen2}) {
    Model model = make_synthetic_model(micro_test_config(arch), 21);
    const ModelConfig& c = model.config;
    const std::vector<int> tokens = calibration_tokens(c.vocab_size, 40);
    ThreadPool pool(2);
    CalibrationOptions options;
    options.ctx = 16;  // 3 chunks, the last one short
    auto map = collect_calibration(model, tokens, options, pool, {});
    ASSERT_TRUE(map.ok()) << map.error().message;
    EXPECT_EQ(map->tokens, 40);

    // Layer 0's q/k/v input does not depend on attention: rmsnorm(embedding) * gain.
    std::vector<double> expected(static_cast<size_t>(c.dim), 0.0);
    std::vector<float> row(static_cast<size_t>(c.dim)), normed(row.size());
    for (int t : tokens) {
      model.weights.embedding_row(t, row.data());
      rmsnorm(normed.data(), row.data(), model.weights.layers[0].attn_norm.data(), c.dim, c.rms_norm_eps);
      for (size_t i = 0; i < row.size(); ++i) expected[i] += static_cast<double>(normed[i]) * normed[i];
    }
    for (const char* name : {"layers.0.self_attn.q_proj", "layers.0.self_attn.k_proj", "layers.0.self_attn.v_proj"}) {
      const std::vector<float>& got = map->importance.at(name);
      ASSERT_EQ(got.size(), expected.size()) << name;
      for (size_t i = 0; i < got.size(); ++i)
        EXPECT_EQ(got[i], static_cast<float>(expected[i] / 40.0)) << name << " channel " << i;
    }
    // Every linear layer, lm_head included, has one entry per input channel.
    for (const auto& [name, linear] : named_linears(model.weights)) {
      ASSERT_TRUE(map->importance.count(name)) << name;
      const int cols = linear->in_features() > 0 ? linear->in_features() : c.dim;
      EXPECT_EQ(map->importance.at(name).size(), static_cast<size_t>(cols)) << name;
      for (float v : map->importance.at(name)) EXPECT_GE(v, 0.0f) << name;
    }
  }
}

TEST(Calibration, SameBitsForAnyThreadCountAndTokenLimit) {
  Model model = make_synthetic_model(micro_test_config(Architecture::kQwen2), 4);
  const std::vector<int> tokens = calibration_tokens(model.config.vocab_size, 64);
  CalibrationOptions options;
  options.ctx = 32;
  ThreadPool one(1), two(2);
  auto a = collect_calibration(model, tokens, options, one, {});
  auto b = collect_calibration(model, tokens, options, two, {});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->importance, b->importance);

  options.max_tokens = 32;  // the first chunk only
  auto limited = collect_calibration(model, tokens, options, one, {});
  auto first = collect_calibration(model, std::span<const int>(tokens).first(32), CalibrationOptions{32, 0}, one, {});
  ASSERT_TRUE(limited.ok() && first.ok());
  EXPECT_EQ(limited->tokens, 32);
  EXPECT_EQ(limited->importance, first->importance);
}

TEST(Calibration, RefusesWhatItCannotMeasure) {
  Model model = make_synthetic_model(micro_test_config(Architecture::kLlama), 4);
  ThreadPool pool(1);
  auto empty = collect_calibration(model, {}, CalibrationOptions{}, pool, {});
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.error().message.find("at least one token"), std::string::npos) << empty.error().message;

  const std::vector<int> bad = {1, 2, model.config.vocab_size};
  auto out_of_vocab = collect_calibration(model, bad, CalibrationOptions{}, pool, {});
  ASSERT_FALSE(out_of_vocab.ok());
  EXPECT_NE(out_of_vocab.error().message.find("outside the vocabulary"), std::string::npos)
      << out_of_vocab.error().message;

  auto recipe = resolve_recipe("q8_g32");
  ASSERT_TRUE(recipe.ok());
  ASSERT_TRUE(quantize_model(model, *recipe, pool, {}).ok());
  auto quantized = collect_calibration(model, calibration_tokens(32, 8), CalibrationOptions{}, pool, {});
  ASSERT_FALSE(quantized.ok());
  EXPECT_NE(quantized.error().message.find("already quantized"), std::string::npos) << quantized.error().message;
}

TEST(Calibration, WeightedSearchRecordsHowTheModelWasMade) {
  Model model = make_synthetic_model(micro_test_config(Architecture::kLlama), 8);
  ThreadPool pool(2);
  auto importance = collect_calibration(model, calibration_tokens(model.config.vocab_size, 24), CalibrationOptions{},
                                       pool, {});
  ASSERT_TRUE(importance.ok());
  QuantizeModelOptions options;
  options.algorithm = QuantAlgorithm::kMse;
  options.calibration = &*importance;
  auto recipe = resolve_recipe("q4_g32");
  ASSERT_TRUE(recipe.ok());
  auto report = quantize_model(model, *recipe, pool, {}, options);
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_EQ(report->algorithm, "mse");
  const auto made_with = nlohmann::json::parse(model.recipe_json);
  EXPECT_EQ(made_with["algorithm"], "mse");
  EXPECT_EQ(made_with["calibration_tokens"], 24);
}

TEST(Calibration, HessiansAreSharedPerInputAndMatchTheImportance) {
  Model model = make_synthetic_model(micro_test_config(Architecture::kQwen2), 6);
  const int ctx = 16;
  CalibrationOptions options;
  options.ctx = ctx;
  options.hessians = true;
  ThreadPool one(1), two(2);
  auto stats = collect_calibration(model, calibration_tokens(model.config.vocab_size, 48), options, one, {});
  auto again = collect_calibration(model, calibration_tokens(model.config.vocab_size, 48), options, two, {});
  ASSERT_TRUE(stats.ok() && again.ok());
  EXPECT_EQ(stats->hessians.size(), stats->importance.size());
  // q/k/v read one input, gate/up another: one matrix each, not copies.
  EXPECT_EQ(stats->hessians.at("layers.0.self_attn.q_proj"), stats->hessians.at("layers.0.self_attn.v_proj"));
  EXPECT_EQ(stats->hessians.at("layers.0.mlp.gate_proj"), stats->hessians.at("layers.0.mlp.up_proj"));
  EXPECT_NE(stats->hessians.at("layers.0.self_attn.q_proj"), stats->hessians.at("layers.0.self_attn.o_proj"));
  for (const auto& [name, h] : stats->hessians) {
    const std::vector<float>& d = stats->importance.at(name);
    const size_t n = d.size();
    ASSERT_EQ(h->size(), n * n) << name;
    EXPECT_EQ(*h, *again->hessians.at(name)) << name << ": not the same bits for 1 and 2 threads";
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = 0; j < i; ++j) ASSERT_EQ((*h)[i * n + j], (*h)[j * n + i]) << name << " is not symmetric";
      // The diagonal is the importance, up to the float rounding of one chunk's sum of
      // at most ctx products (relative error <= ctx * 2^-24) and of storing d as float.
      const double bound = (ctx + 1) * std::ldexp(1.0, -24) * d[i];
      EXPECT_NEAR((*h)[i * n + i], d[i], bound) << name << " channel " << i;
    }
  }
}

TEST(Calibration, GptqQuantizesEveryLinearLayerAndNamesWhatItSkips) {
  Model model = make_synthetic_model(micro_test_config(Architecture::kLlama), 9);
  ThreadPool pool(2);
  auto recipe = resolve_recipe("q4_g32");
  ASSERT_TRUE(recipe.ok());
  QuantizeModelOptions options;
  options.algorithm = QuantAlgorithm::kGptq;
  auto missing = quantize_model(model, *recipe, pool, {}, options);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("needs calibration"), std::string::npos) << missing.error().message;

  CalibrationOptions calibration;
  calibration.hessians = true;
  auto stats = collect_calibration(model, calibration_tokens(model.config.vocab_size, 40), calibration, pool, {});
  ASSERT_TRUE(stats.ok());
  options.calibration = &*stats;
  auto report = quantize_model(model, *recipe, pool, {}, options);
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_EQ(report->algorithm, "gptq");
  // The micro Llama ties its lm_head to the embedding: GPTQ runs on it with the tied
  // Hessian, and the report says so.
  ASSERT_TRUE(model.config.tied_embeddings);
  for (const TensorReport& t : report->tensors) {
    EXPECT_EQ(t.note.find("classifier Hessian + 1 x identity") != std::string::npos, t.name == "lm_head")
        << t.name << ": " << t.note;
  }
  const auto made_with = nlohmann::json::parse(model.recipe_json);
  EXPECT_EQ(made_with["algorithm"], "gptq");
  EXPECT_EQ(made_with["calibration_tokens"], 40);
  EXPECT_EQ(made_with["gptq"]["damp"], 0.01);

  // An untied model's embedding table is not a layer: the unweighted search, named.
  Model untied = make_synthetic_model(micro_test_config(Architecture::kQwen2), 9);
  ASSERT_FALSE(untied.config.tied_embeddings);
  auto untied_stats = collect_calibration(untied, calibration_tokens(untied.config.vocab_size, 40), calibration, pool, {});
  ASSERT_TRUE(untied_stats.ok());
  options.calibration = &*untied_stats;
  auto untied_report = quantize_model(untied, *recipe, pool, {}, options);
  ASSERT_TRUE(untied_report.ok()) << untied_report.error().message;
  for (const TensorReport& t : untied_report->tensors)
    EXPECT_EQ(t.note.find("gptq does not apply") != std::string::npos, t.name == "embed_tokens") << t.name;
}

}  // namespace
}  // namespace nibble
