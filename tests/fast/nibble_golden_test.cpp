// The committed golden file tests/golden/nibble-v1.gguf: a small model of format
// version 1 mixing every scheme (a8w4 with a ragged group and bf16 scales, int4 asym
// with zero points, int8 per-channel with f32 scales, float norms and biases, an
// untied classifier, a tokenizer). A change that breaks reading old files fails here.
//
// Regenerate only on purpose, when the format version changes:
//   NIBBLE_WRITE_GOLDEN=1 NIBBLE_ISA=scalar build/tests/nibble_fast_tests --gtest_filter='NibbleGolden.*'
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>

#include "formats/nibble_file.h"
#include "kernels/kernel_table.h"
#include "model/synthetic.h"
#include "quant/quantize_model.h"
#include "support/model_runner.h"
#include "support/test_support.h"
#include "tokenizer/llama_bin_tokenizer.h"

namespace nibble {
namespace {

const std::string kGoldenDir = std::string(NIBBLE_SOURCE_DIR) + "/tests/golden";
const std::string kGoldenModel = kGoldenDir + "/nibble-v1.gguf";
const std::string kGoldenLogits = kGoldenDir + "/nibble-v1-logits.f32";  // raw little-endian float32
const std::vector<int> kPrompt = {1, 7, 22, 3, 39, 12, 5, 30};

std::vector<char> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

Model make_golden_model() {
  ModelConfig c = small_test_config();
  c.architecture = Architecture::kQwen2;
  c.qkv_bias = true;
  c.rope_style = RopeStyle::kHalves;
  c.tied_embeddings = false;
  Model model = make_synthetic_model(c, 2026);
  TokenVocabulary v;
  for (int i = 0; i < c.vocab_size; ++i) {
    v.pieces.push_back(i == 0 ? "<unk>" : i == 1 ? "<s>" : i == 2 ? "</s>" : "\xe2\x96\x81t" + std::to_string(i));
    v.scores.push_back(-static_cast<float>(i));
    v.types.push_back(i == 0 ? kTokenTypeUnknown : i < 3 ? kTokenTypeControl : kTokenTypeNormal);
  }
  v.unk_id = 0;
  v.bos_id = 1;
  v.eos_id = 2;
  auto tokenizer = LlamaBinTokenizer::from_vocabulary(v, "golden vocabulary");
  EXPECT_TRUE(tokenizer.ok());
  model.tokenizer = std::make_unique<LlamaBinTokenizer>(std::move(tokenizer.value()));
  auto recipe = parse_recipe_json(R"({
      "embedding": {"scheme": "w4_asym", "group_size": 16},
      "linear": {"scheme": "a8w4", "group_size": 40, "scale_type": "bf16"},
      "lm_head": {"scheme": "w8", "group_size": 0, "scale_type": "f32"}})", "golden recipe");
  EXPECT_TRUE(recipe.ok()) << recipe.error().message;
  ThreadPool pool(1);
  EXPECT_TRUE(quantize_model(model, *recipe, pool, nullptr).ok());
  return model;
}

TEST(NibbleGolden, Version1FileLoadsAndResavesToTheSameBytes) {
  if (std::getenv("NIBBLE_WRITE_GOLDEN") != nullptr) {
    ASSERT_EQ(kernels().isa, Isa::kScalar) << "write the golden logits with NIBBLE_ISA=scalar";
    Model model = make_golden_model();
    ASSERT_TRUE(save_nibble_model(model, kGoldenModel).ok());
    const auto logits = testing::logits_for(model, kPrompt);
    std::ofstream(kGoldenLogits, std::ios::binary)
        .write(reinterpret_cast<const char*>(logits.data()), static_cast<std::streamsize>(logits.size() * 4));
  }
  LoadOptions options;
  auto model = load_nibble_model(kGoldenModel, options);
  ASSERT_TRUE(model.ok()) << model.error().message;
  EXPECT_NE(model->recipe_json.find("a8w4"), std::string::npos) << model->recipe_json;
  ASSERT_TRUE(verify_nibble_file(kGoldenModel).ok());
  const std::string again = testing::temp_dir() + "/again.gguf";
  ASSERT_TRUE(save_nibble_model(*model, again).ok());
  EXPECT_TRUE(read_all(again) == read_all(kGoldenModel)) << "the writer no longer reproduces version 1 bytes";
  // Today's code makes the same model from the same seed and recipe: the quantizers
  // have not drifted either.
  const std::string fresh = testing::temp_dir() + "/fresh.gguf";
  ASSERT_TRUE(save_nibble_model(make_golden_model(), fresh).ok());
  EXPECT_TRUE(read_all(fresh) == read_all(kGoldenModel)) << "quantizing the golden model changed";
}

// Exact logits on the scalar reference path (CTest runs this with NIBBLE_ISA=scalar;
// SIMD paths agree with it only within float rounding, see kernels/kernel_table.h).
TEST(NibbleGolden, Version1LogitsOnTheScalarPath) {
  if (kernels().isa != Isa::kScalar) GTEST_SKIP() << "runs as NibbleGolden.ScalarLogits with NIBBLE_ISA=scalar";
  LoadOptions options;
  auto model = load_nibble_model(kGoldenModel, options);
  ASSERT_TRUE(model.ok()) << model.error().message;
  const auto raw = read_all(kGoldenLogits);
  std::vector<float> expected(raw.size() / 4);
  std::memcpy(expected.data(), raw.data(), raw.size());
  ASSERT_EQ(expected.size(), kPrompt.size() * static_cast<size_t>(model->config.vocab_size));
  const auto logits = testing::logits_for(*model, kPrompt);
  EXPECT_TRUE(logits == expected) << "max |diff| " << testing::max_abs_diff(logits, expected);
}

}  // namespace
}  // namespace nibble
