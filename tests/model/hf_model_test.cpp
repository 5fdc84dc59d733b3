// The shared HF checkpoints: config fields as their config.json states them, the BF16
// sharded copy bit-exact against the F32 weights rounded to BF16, and untied copies
// written by write_hf_model reloading with identical weights.
#include "formats/hf_model.h"

#include <algorithm>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "core/half.h"
#include "support/test_support.h"

namespace nibble {
namespace {

using testing::model_path;

Result<Model> load(const std::string& relative, const LoadOptions& options = {}) {
  return load_hf_model(model_path(relative), options);
}

// Calls check(name, a, b) on every float array of two same-shaped weight sets.
template <typename Check>
void for_each_weight_pair(const ModelWeights& a, const ModelWeights& b, Check check) {
  check("embedding", a.token_embedding.data, b.token_embedding.data);
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t i = 0; i < a.layers.size(); ++i) {
    const LayerWeights& x = a.layers[i];
    const LayerWeights& y = b.layers[i];
    const std::string p = "layer " + std::to_string(i) + " ";
    check(p + "attn_norm", x.attn_norm, y.attn_norm);
    check(p + "wq", x.wq.weight.data, y.wq.weight.data);
    check(p + "wk", x.wk.weight.data, y.wk.weight.data);
    check(p + "wv", x.wv.weight.data, y.wv.weight.data);
    check(p + "bq", x.wq.bias, y.wq.bias);
    check(p + "bk", x.wk.bias, y.wk.bias);
    check(p + "bv", x.wv.bias, y.wv.bias);
    check(p + "wo", x.wo.weight.data, y.wo.weight.data);
    check(p + "ffn_norm", x.ffn_norm, y.ffn_norm);
    check(p + "gate", x.w_gate.weight.data, y.w_gate.weight.data);
    check(p + "up", x.w_up.weight.data, y.w_up.weight.data);
    check(p + "down", x.w_down.weight.data, y.w_down.weight.data);
  }
  check("final_norm", a.final_norm, b.final_norm);
  check("classifier", a.classifier_matrix().data, b.classifier_matrix().data);
}

void expect_identical(const ModelWeights& a, const ModelWeights& b) {
  for_each_weight_pair(a, b, [](const std::string& what, const auto& x, const auto& y) {
    EXPECT_TRUE(std::equal(x.begin(), x.end(), y.begin(), y.end())) << what;
  });
}

TEST(HfModelFiles, LoadsTinyLlama) {
  NIBBLE_REQUIRE_MODELS();
  auto model = load("tiny-llama-8m/hf");
  ASSERT_TRUE(model.ok()) << model.error().message;
  const ModelConfig& c = model->config;
  EXPECT_EQ(c.architecture, Architecture::kLlama);
  EXPECT_EQ(c.dim, 288);
  EXPECT_EQ(c.hidden_dim, 768);
  EXPECT_EQ(c.n_layers, 6);
  EXPECT_EQ(c.n_heads, 6);
  EXPECT_EQ(c.n_kv_heads, 6);
  EXPECT_EQ(c.head_dim, 48);
  EXPECT_EQ(c.vocab_size, 8192);
  EXPECT_EQ(c.max_seq_len, 256);
  EXPECT_EQ(c.rms_norm_eps, 1e-5f);
  EXPECT_EQ(c.rope_theta, 10000.0f);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_EQ(c.rope_style, RopeStyle::kHalves);
  EXPECT_EQ(c.bos_id, 1);
  EXPECT_EQ(c.eos_id, 2);
  ASSERT_NE(model->tokenizer, nullptr);
  EXPECT_EQ(model->tokenizer->vocab_size(), 8192);
  EXPECT_EQ(model->format, "hf-safetensors");
  EXPECT_EQ(model->tensors.size(), 2u + 6u * 9u);
  EXPECT_EQ(model->tensors[0].name, "model.embed_tokens.weight");
  EXPECT_EQ(model->tensors[1].name, "model.norm.weight");  // file order, not name order
  EXPECT_EQ(model->tensors[0].type, "F32");
  EXPECT_EQ(model->file_bytes,
            std::filesystem::file_size(model_path("tiny-llama-8m/hf/model.safetensors")));
  EXPECT_EQ(model->weights.token_embedding.rows, 8192);
  EXPECT_EQ(model->weights.layers[5].w_down.weight.cols, 768);
}

TEST(HfModelFiles, LoadsTinyQwen2) {
  NIBBLE_REQUIRE_MODELS();
  auto model = load("tiny-qwen2-7m/hf");
  ASSERT_TRUE(model.ok()) << model.error().message;
  const ModelConfig& c = model->config;
  EXPECT_EQ(c.architecture, Architecture::kQwen2);
  EXPECT_EQ(c.dim, 320);
  EXPECT_EQ(c.hidden_dim, 864);
  EXPECT_EQ(c.n_layers, 4);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.n_kv_heads, 2);
  EXPECT_EQ(c.head_dim, 40);
  EXPECT_EQ(c.kv_dim(), 80);
  EXPECT_EQ(c.vocab_size, 8192);
  EXPECT_EQ(c.max_seq_len, 256);
  EXPECT_EQ(c.rms_norm_eps, 1e-6f);
  EXPECT_EQ(c.rope_theta, 1e6f);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_EQ(c.rope_style, RopeStyle::kHalves);
  EXPECT_EQ(model->weights.layers[0].wk.bias.size(), 80u);
  EXPECT_EQ(model->weights.layers[3].wq.bias.size(), 320u);
  EXPECT_TRUE(model->weights.layers[0].wo.bias.empty());
  EXPECT_TRUE(model->weights.classifier.weight.data.empty());
  EXPECT_EQ(model->tensors.size(), 2u + 4u * 12u);
}

// The sharded BF16 copy must equal the F32 weights rounded to nearest-even BF16, bit
// for bit: any slip in shard mapping, offsets or widening shows up here.
TEST(HfModelFiles, Bf16ShardsEqualRoundedF32Weights) {
  NIBBLE_REQUIRE_MODELS();
  auto f32 = load("tiny-qwen2-7m/hf");
  ASSERT_TRUE(f32.ok()) << f32.error().message;
  auto bf16 = load("tiny-qwen2-7m/hf-bf16-sharded");
  ASSERT_TRUE(bf16.ok()) << bf16.error().message;
  EXPECT_EQ(bf16->config.qkv_bias, true);
  EXPECT_EQ(bf16->config.n_kv_heads, 2);
  for (const TensorInfo& info : bf16->tensors) EXPECT_EQ(info.type, "BF16") << info.name;
  EXPECT_EQ(bf16->tensors.size(), f32->tensors.size());
  const std::string dir = model_path("tiny-qwen2-7m/hf-bf16-sharded/");
  EXPECT_EQ(bf16->file_bytes,
            std::filesystem::file_size(dir + "model-00001-of-00002.safetensors") +
                std::filesystem::file_size(dir + "model-00002-of-00002.safetensors"));

  size_t compared = 0;
  for_each_weight_pair(f32->weights, bf16->weights,
                       [&](const std::string& what, const auto& exact, const auto& rounded) {
                         ASSERT_EQ(exact.size(), rounded.size()) << what;
                         for (size_t i = 0; i < exact.size(); ++i)
                           ASSERT_EQ(std::bit_cast<uint32_t>(rounded[i]),
                                     static_cast<uint32_t>(f32_to_bf16(exact[i])) << 16)
                               << what << "[" << i << "]";
                         compared += exact.size();
                       });
  EXPECT_GT(compared, 6'000'000u);
}

void expect_untied_copy_reloads(const std::string& relative) {
  auto original = load(relative);
  ASSERT_TRUE(original.ok()) << original.error().message;
  std::string dir = testing::temp_dir();
  Status written = write_hf_model(*original, dir, /*untie=*/true);
  ASSERT_TRUE(written.ok()) << written.error().message;

  LoadOptions options;
  options.tokenizer_path = model_path(relative + "/tokenizer.model");
  auto copy = load_hf_model(dir, options);
  ASSERT_TRUE(copy.ok()) << copy.error().message;
  EXPECT_FALSE(copy->config.tied_embeddings);
  ASSERT_FALSE(copy->weights.classifier.weight.data.empty());
  EXPECT_TRUE(copy->weights.classifier.weight.data == original->weights.token_embedding.data);
  expect_identical(original->weights, copy->weights);

  const ModelConfig& a = original->config;
  const ModelConfig& b = copy->config;
  EXPECT_EQ(a.architecture, b.architecture);
  EXPECT_EQ(a.dim, b.dim);
  EXPECT_EQ(a.hidden_dim, b.hidden_dim);
  EXPECT_EQ(a.n_layers, b.n_layers);
  EXPECT_EQ(a.n_heads, b.n_heads);
  EXPECT_EQ(a.n_kv_heads, b.n_kv_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.max_seq_len, b.max_seq_len);
  EXPECT_EQ(a.rope_theta, b.rope_theta);
  EXPECT_EQ(a.rms_norm_eps, b.rms_norm_eps);
  EXPECT_EQ(a.qkv_bias, b.qkv_bias);
  EXPECT_EQ(a.rope_style, b.rope_style);
  EXPECT_EQ(a.bos_id, b.bos_id);
  EXPECT_EQ(a.eos_id, b.eos_id);
  EXPECT_EQ(copy->tensors.back().name, "lm_head.weight");
}

TEST(HfModelFiles, UntiedCopyOfTinyLlamaReloadsIdentically) {
  NIBBLE_REQUIRE_MODELS();
  expect_untied_copy_reloads("tiny-llama-8m/hf");
}

TEST(HfModelFiles, UntiedCopyOfTinyQwen2ReloadsIdentically) {
  NIBBLE_REQUIRE_MODELS();
  expect_untied_copy_reloads("tiny-qwen2-7m/hf");
}

}  // namespace
}  // namespace nibble
