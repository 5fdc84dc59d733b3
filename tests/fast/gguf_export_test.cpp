// nibble export-gguf (formats/gguf_export.h): Q4_0/Q8_0 blocks hold exactly nibble's
// values, q/k rows follow the architecture's RoPE order, and what llama.cpp cannot
// represent is refused with the reason.
#include <gtest/gtest.h>

#include "core/half.h"
#include "formats/gguf.h"
#include "formats/gguf_export.h"
#include "model/synthetic.h"
#include "quant/quantize_model.h"
#include "quant/quantized_matrix.h"
#include "support/test_support.h"
#include "support/test_tokenizer.h"
#include "tokenizer/llama_bin_tokenizer.h"

namespace nibble {
namespace {


// in_features multiples of 32, so Q4_0/Q8_0 can hold every matrix.
Model model_with(Architecture arch, RopeStyle style, const std::string& recipe) {
  ModelConfig c = small_test_config();
  c.architecture = arch;
  c.rope_style = style;
  c.dim = 64;
  c.hidden_dim = 96;
  c.head_dim = 16;
  c.qkv_bias = arch == Architecture::kQwen2;
  Model model = make_synthetic_model(c, 11);
  model.tokenizer = testing::make_test_tokenizer(c.vocab_size);
  if (!recipe.empty()) {
    ThreadPool pool(1);
    EXPECT_TRUE(quantize_model(model, resolve_recipe(recipe).value(), pool, nullptr).ok());
  }
  return model;
}

std::vector<float> decoded(const GgufFile& gguf, const std::string& name) {
  const GgufTensor* t = gguf.find_tensor(name);
  EXPECT_NE(t, nullptr) << name;
  if (t == nullptr) return {};
  auto values = gguf_tensor_to_f32(*t);
  EXPECT_TRUE(values.ok()) << values.error().message;
  return values.ok() ? *values : std::vector<float>{};
}

std::vector<float> nibble_rows(const Linear& l) {
  const QuantizedMatrix& q = *l.quantized;
  std::vector<float> out(static_cast<size_t>(q.rows) * q.cols);
  for (int r = 0; r < q.rows; ++r) q.dequantize_row(r, out.data() + static_cast<size_t>(r) * q.cols);
  return out;
}

TEST(GgufExport, Q4AndQ8BlocksHoldNibblesValuesAndQkRowsAreInterleavedForLlama) {
  for (const char* recipe : {"q4_g32", "q8_g32"}) {
    SCOPED_TRACE(recipe);
    // An HF-style Llama keeps q/k rows in halves order; llama.cpp's `llama` wants pairs.
    Model model = model_with(Architecture::kLlama, RopeStyle::kHalves, recipe);
    const std::string path = testing::temp_dir() + "/out.gguf";
    ASSERT_TRUE(export_gguf(model, path, {}).ok());
    auto file = open_gguf(path);
    ASSERT_TRUE(file.ok()) << file.error().message;
    const GgufFile& g = file->gguf;
    EXPECT_EQ(g.metadata.get_string("general.architecture").value(), "llama");
    EXPECT_EQ(g.find_tensor("blk.0.ffn_up.weight")->traits->name, std::string(recipe[1] == '4' ? "Q4_0" : "Q8_0"));
    EXPECT_EQ(decoded(g, "blk.0.ffn_up.weight"), nibble_rows(model.weights.layers[0].w_up));
    EXPECT_EQ(decoded(g, "blk.1.attn_v.weight"), nibble_rows(model.weights.layers[1].wv));
    // Row 2i + j of a head in the file is row j*half + i in nibble's halves order.
    const auto q_file = decoded(g, "blk.0.attn_q.weight");
    const auto q_mine = nibble_rows(model.weights.layers[0].wq);
    const int hd = model.config.head_dim, cols = model.config.dim;
    for (int h = 0; h < model.config.n_heads; ++h)
      for (int k = 0; k < hd; ++k) {
        const int from = h * hd + (k % 2) * (hd / 2) + k / 2;
        ASSERT_TRUE(std::equal(q_file.begin() + (h * hd + k) * cols, q_file.begin() + (h * hd + k + 1) * cols,
                               q_mine.begin() + from * cols))
            << "head " << h << " row " << k;
      }
    EXPECT_EQ(g.find_tensor("output.weight"), nullptr) << "tied: llama.cpp reuses token_embd";
    EXPECT_EQ(g.metadata.get_array_of_strings("tokenizer.ggml.tokens")->size(),
              static_cast<size_t>(model.config.vocab_size));
  }
}

TEST(GgufExport, Qwen2KeepsHalvesOrderAndBiases) {
  Model model = model_with(Architecture::kQwen2, RopeStyle::kHalves, "q8_g32");
  const std::string path = testing::temp_dir() + "/qwen.gguf";
  ASSERT_TRUE(export_gguf(model, path, {}).ok());
  auto file = open_gguf(path);
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(decoded(file->gguf, "blk.0.attn_q.weight"), nibble_rows(model.weights.layers[0].wq));
  EXPECT_EQ(decoded(file->gguf, "blk.0.attn_q.bias"), model.weights.layers[0].wq.bias);
}

TEST(GgufExport, FloatModelAsF16RoundsEachWeight) {
  Model model = model_with(Architecture::kLlama, RopeStyle::kInterleavedPairs, "");
  const std::string path = testing::temp_dir() + "/f16.gguf";
  GgufExportOptions options;
  options.float_type = GgufFloatType::kF16;
  ASSERT_TRUE(export_gguf(model, path, options).ok());
  auto file = open_gguf(path);
  ASSERT_TRUE(file.ok());
  const auto up = decoded(file->gguf, "blk.0.ffn_up.weight");
  const auto& w = model.weights.layers[0].w_up.weight.data;
  ASSERT_EQ(up.size(), w.size());
  for (size_t i = 0; i < up.size(); ++i) ASSERT_EQ(up[i], f16_to_f32(f32_to_f16(w[i]))) << i;
}

TEST(GgufExport, RefusesWhatLlamaCppCannotRepresentWithTheReason) {
  struct Case {
    std::string recipe;
    int dim;
    std::vector<std::string> mentions;
  };
  const std::vector<Case> cases = {
      {"a8w4_g256", 64, {"group", "256"}},
      {"linear=a8w4:32,lm_head=a8w4:32", 64, {"activation"}},
      {"w4_g128_asym", 64, {"int4_asym", "no llama.cpp equivalent"}},
      {"q4_g32", 48, {"in_features % 32", "48"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.recipe);
    ModelConfig config = small_test_config();
    config.dim = c.dim;
    config.head_dim = c.dim / config.n_heads;
    Model model = make_synthetic_model(config, 3);
    model.tokenizer = testing::make_test_tokenizer(config.vocab_size);
    ThreadPool pool(1);
    ASSERT_TRUE(quantize_model(model, resolve_recipe(c.recipe).value(), pool, nullptr).ok());
    auto status = export_gguf(model, testing::temp_dir() + "/refused.gguf", {});
    ASSERT_FALSE(status.ok());
    testing::expect_mentions(status.error().message, c.mentions);
  }
}

}  // namespace
}  // namespace nibble
