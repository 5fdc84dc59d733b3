// llama.cpp's own GGUF files run by nibble (formats/gguf_model.h), against nibble's own
// path to the same weights:
// - tiny-llama-8m Q4_0 / Q8_0 give logits bit-identical to model.bin quantized in memory
//   with q4_g32 / q8_g32 (the repacked blocks are those formats, value for value);
// - the F16 file gives logits bit-identical to model.bin with every matrix rounded to f16;
// - tiny-qwen2-7m Q8_0 gives logits bit-identical to hf/ quantized with q8_g32;
// - the vocabulary in GGUF metadata encodes like tokenizer.bin, and llama.cpp's
//   vocabulary-only Llama 2 GGUF passes llama.cpp's own tokenizer test vectors.
#include "formats/gguf_model.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/file.h"
#include "core/half.h"
#include "core/thread_pool.h"
#include "model/model.h"
#include "quant/quantize_model.h"
#include "quant/quantized_matrix.h"
#include "quant/recipe.h"
#include "support/model_runner.h"
#include "support/test_support.h"
#include "support/vocab_test_vectors.h"

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
  EXPECT_TRUE(testing::load_npy_f32(testing::model_path(model_dir + "/reference_logits.npy"), &ref.logits, &shape,
                                    &error))
      << error;
  return ref;
}

// Loads a model through load_model (format detection included); a model without layers
// (and a recorded failure) if it does not load.
Model load(const std::string& relative, bool tokenizer = true) {
  LoadOptions options;
  options.require_tokenizer = tokenizer;
  auto model = load_model(testing::model_path(relative), options);
  EXPECT_TRUE(model.ok()) << model.error().message;
  return model.ok() ? std::move(*model) : Model{};
}

Model quantized(const std::string& relative, const std::string& preset) {
  Model model = load(relative, false);
  ThreadPool pool(2);
  auto report = quantize_model(model, resolve_recipe(preset).value(), pool, nullptr);
  EXPECT_TRUE(report.ok()) << report.error().message;
  return model;
}

// Fails with the first position where two id sequences differ.
void expect_same_ids(const std::vector<int>& expected, const std::vector<int>& found, const std::string& what) {
  if (expected == found) return;
  size_t i = 0;
  while (i < expected.size() && i < found.size() && expected[i] == found[i]) ++i;
  ADD_FAILURE() << what << ": " << expected.size() << " expected ids, " << found.size()
                << " found; first difference at " << i << ": expected "
                << (i < expected.size() ? expected[i] : -1) << ", found " << (i < found.size() ? found[i] : -1);
}

void expect_same_config(const ModelConfig& gguf, const ModelConfig& nibble) {
  EXPECT_EQ(gguf.architecture, nibble.architecture);
  EXPECT_EQ(gguf.dim, nibble.dim);
  EXPECT_EQ(gguf.hidden_dim, nibble.hidden_dim);
  EXPECT_EQ(gguf.n_layers, nibble.n_layers);
  EXPECT_EQ(gguf.n_heads, nibble.n_heads);
  EXPECT_EQ(gguf.n_kv_heads, nibble.n_kv_heads);
  EXPECT_EQ(gguf.head_dim, nibble.head_dim);
  EXPECT_EQ(gguf.vocab_size, nibble.vocab_size);
  EXPECT_EQ(gguf.rope_theta, nibble.rope_theta);
  EXPECT_EQ(gguf.rms_norm_eps, nibble.rms_norm_eps);
  EXPECT_EQ(gguf.qkv_bias, nibble.qkv_bias);
  EXPECT_EQ(gguf.rope_style, nibble.rope_style);
  EXPECT_EQ(gguf.bos_id, nibble.bos_id);
  EXPECT_EQ(gguf.eos_id, nibble.eos_id);
}

// Bit-identical logits on the reference prompt and the same greedy continuation.
void expect_same_outputs(const Model& gguf, const Model& nibble, const Reference& ref) {
  ASSERT_FALSE(gguf.weights.layers.empty());
  ASSERT_FALSE(nibble.weights.layers.empty());
  const auto a = testing::logits_for(gguf, ref.prompt_ids);
  const auto b = testing::logits_for(nibble, ref.prompt_ids);
  ASSERT_FALSE(a.empty());
  ASSERT_EQ(a.size(), b.size());
  size_t differing = 0;
  for (size_t i = 0; i < a.size(); ++i) differing += a[i] != b[i];
  EXPECT_EQ(differing, 0u) << "of " << a.size() << " logits; max |diff| " << testing::max_abs_diff(a, b);
  const int count = static_cast<int>(ref.greedy_ids.size() - ref.prompt_ids.size());
  const auto greedy = testing::greedy_ids(gguf, ref.prompt_ids, count);
  EXPECT_EQ(greedy, testing::greedy_ids(nibble, ref.prompt_ids, count));
  std::printf("[ info ] %s: %zu logits bit-identical to nibble's; greedy %s reference.json's\n", gguf.path.c_str(),
              a.size() - differing, greedy == ref.greedy_ids ? "equals" : "differs from");
}

void check_preset_file(const std::string& file, const std::string& preset) {
  const Reference ref = load_reference("tiny-llama-8m");
  const Model gguf = load("tiny-llama-8m/gguf/" + file);
  const Model nibble = quantized("tiny-llama-8m/model.bin", preset);
  ASSERT_FALSE(gguf.weights.layers.empty());
  EXPECT_EQ(gguf.format, "gguf");
  expect_same_config(gguf.config, nibble.config);
  EXPECT_FALSE(gguf.config.tied_embeddings) << "llama.cpp's llama2.c converter writes output.weight";
  EXPECT_EQ(gguf.tensors.size(), 57u);
  // Every matrix loads as the preset's own format.
  const QuantFormat format = resolve_recipe(preset)->linear.format;
  EXPECT_EQ(gguf.recipe_json, resolve_recipe(preset)->to_json().dump());
  const ModelWeights& w = gguf.weights;
  std::vector<const QuantizedMatrix*> matrices = {w.quantized_embedding.get(), w.classifier.quantized.get()};
  for (const LayerWeights& l : w.layers)
    for (const Linear* linear : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down})
      matrices.push_back(linear->quantized.get());
  for (const QuantizedMatrix* q : matrices) {
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(q->format.codec, format.codec);
    EXPECT_EQ(q->format.group_size, format.group_size);
    EXPECT_EQ(q->format.scale_type, format.scale_type);
    EXPECT_EQ(q->activation, ActivationMode::kFloat);
  }
  expect_same_outputs(gguf, nibble, ref);
}

TEST(GgufModel, TinyLlamaQ4_0EqualsModelBinQuantizedWithQ4G32) {
  NIBBLE_REQUIRE_MODELS();
  check_preset_file("tiny-llama-8m-Q4_0.gguf", "q4_g32");
}

TEST(GgufModel, TinyLlamaQ8_0EqualsModelBinQuantizedWithQ8G32) {
  NIBBLE_REQUIRE_MODELS();
  check_preset_file("tiny-llama-8m-Q8_0.gguf", "q8_g32");
}

// F16 holds every matrix rounded to nearest even (norms stay F32), so the widened file
// is model.bin with each matrix rounded the same way.
TEST(GgufModel, TinyLlamaF16EqualsModelBinRoundedToF16) {
  NIBBLE_REQUIRE_MODELS();
  const Reference ref = load_reference("tiny-llama-8m");
  const Model gguf = load("tiny-llama-8m/gguf/tiny-llama-8m-F16.gguf");
  Model rounded = load("tiny-llama-8m/model.bin", false);
  ASSERT_FALSE(rounded.weights.layers.empty());
  auto round = [](DenseMatrix& m) {
    for (float& x : m.data) x = f16_to_f32(f32_to_f16(x));
  };
  round(rounded.weights.token_embedding);  // tied: also the classifier
  for (LayerWeights& l : rounded.weights.layers)
    for (Linear* linear : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) round(linear->weight);
  expect_same_config(gguf.config, rounded.config);
  EXPECT_TRUE(gguf.recipe_json.empty());
  expect_same_outputs(gguf, rounded, ref);

  // Against the training framework's float32 logits: every weight moved by at most half
  // an f16 ulp, a relative 2^-11, uniformly distributed, so of standard deviation
  // 2^-11/sqrt(3). The errors are independent, so along the chain of D = 2L+1 matmuls their
  // effects add in quadrature: a logit moves by about sigma = sqrt(D) * 2^-11/sqrt(3) *
  // max|logit|; allow 4 sigma (as the BF16 check in reference_test.cpp does).
  const auto logits = testing::logits_for(gguf, ref.prompt_ids);
  ASSERT_EQ(logits.size(), ref.logits.size());
  const double diff = testing::max_abs_diff(logits, ref.logits);
  const double depth = 2.0 * gguf.config.n_layers + 1.0;
  const double sigma = std::sqrt(depth) * std::ldexp(1.0, -11) / std::sqrt(3.0) * testing::max_abs(ref.logits);
  std::printf("[ info ] F16 vs reference_logits.npy: max |diff| %.6g (max |logit| %.4g; 4 sigma %.3g)\n", diff,
              testing::max_abs(ref.logits), 4.0 * sigma);
  ::testing::Test::RecordProperty("max_abs_diff_vs_reference", std::to_string(diff));
  EXPECT_LE(diff, 4.0 * sigma);
  const int count = static_cast<int>(ref.greedy_ids.size() - ref.prompt_ids.size());
  EXPECT_EQ(testing::greedy_ids(gguf, ref.prompt_ids, count), ref.greedy_ids);
}

TEST(GgufModel, TinyQwen2Q8_0EqualsHfQuantizedWithQ8G32) {
  NIBBLE_REQUIRE_MODELS();
  const Reference ref = load_reference("tiny-qwen2-7m");
  const Model gguf = load("tiny-qwen2-7m/gguf/tiny-qwen2-7m-Q8_0.gguf");
  const Model nibble = quantized("tiny-qwen2-7m/hf", "q8_g32");
  ASSERT_FALSE(gguf.weights.layers.empty());
  expect_same_config(gguf.config, nibble.config);
  EXPECT_EQ(gguf.config.rope_style, RopeStyle::kHalves);
  EXPECT_TRUE(gguf.config.tied_embeddings);
  EXPECT_EQ(gguf.weights.classifier.quantized, gguf.weights.quantized_embedding) << "tied: one matrix";
  EXPECT_EQ(gguf.recipe_json, resolve_recipe("q8_g32")->to_json().dump());
  EXPECT_EQ(gguf.weights.layers[3].wv.bias, nibble.weights.layers[3].wv.bias);
  expect_same_outputs(gguf, nibble, ref);
}

// The vocabulary llama.cpp's converter wrote into the model file against the model's
// tokenizer.bin, on a stretch of in-domain text.
TEST(GgufModel, TinyLlamaMetadataTokenizerEncodesLikeTokenizerBin) {
  NIBBLE_REQUIRE_MODELS();
  auto text = read_text_file(testing::model_path("text/indomain-valid-a.txt"));
  ASSERT_TRUE(text.ok()) << text.error().message;
  const std::string head = text->substr(0, text->rfind('\n', 20000) + 1);
  ASSERT_GT(head.size(), 15000u);
  auto bin = open_tokenizer(testing::model_path("tiny-llama-8m/tokenizer.bin"), 8192);
  ASSERT_TRUE(bin.ok()) << bin.error().message;
  const auto expected = (*bin)->encode(head, true);
  ASSERT_TRUE(expected.ok());
  for (const char* file :
       {"tiny-llama-8m/gguf/tiny-llama-8m-Q8_0.gguf", "tiny-qwen2-7m/gguf/tiny-qwen2-7m-Q8_0.gguf"}) {
    SCOPED_TRACE(file);
    auto gguf = load_gguf_tokenizer(testing::model_path(file));
    ASSERT_TRUE(gguf.ok()) << gguf.error().message;
    EXPECT_EQ((*gguf)->vocab_size(), 8192);
    EXPECT_EQ((*gguf)->bos_id(), 1);
    EXPECT_EQ((*gguf)->eos_id(), 2);
    const auto ids = (*gguf)->encode(head, true);
    ASSERT_TRUE(ids.ok());
    ASSERT_GT(expected->size(), head.size() / 10);
    expect_same_ids(*expected, *ids, file);
    auto decoded = (*gguf)->decode(std::vector<int>(ids->begin() + 1, ids->end()), 1);
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(*decoded, head);
  }
  // The tokenizer a loaded model carries is that one.
  const Model model = load("tiny-llama-8m/gguf/tiny-llama-8m-Q4_0.gguf");
  ASSERT_NE(model.tokenizer, nullptr);
  expect_same_ids(*expected, *model.tokenizer->encode(head, true), "the loaded model's tokenizer");
}

TEST(GgufModel, VocabOnlyLlama2GgufPassesLlamaCppTokenizerVectors) {
  NIBBLE_REQUIRE_MODELS();
  const std::string path = testing::model_path("llama2-tokenizer/ggml-vocab-llama-spm.gguf");
  auto tokenizer = open_tokenizer(path, 32000);  // through the .gguf branch
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.error().message;
  auto vectors = testing::read_vocab_test_vectors(path + ".inp", path + ".out");
  ASSERT_TRUE(vectors.ok()) << vectors.error().message;
  ASSERT_GE(vectors->texts.size(), 40u);
  int passed = 0;
  for (size_t i = 0; i < vectors->texts.size(); ++i) {
    auto ids = (*tokenizer)->encode(vectors->texts[i], false);
    ASSERT_TRUE(ids.ok()) << ids.error().message;
    EXPECT_EQ(*ids, vectors->ids[i]) << "vector " << i << ": " << vectors->texts[i];
    passed += *ids == vectors->ids[i];
  }
  std::printf("[ info ] %d of %zu llama.cpp vectors\n", passed, vectors->texts.size());
  // It holds no weights: as a model it is refused, naming the missing tensor.
  auto model = load_model(path, {});
  ASSERT_FALSE(model.ok());
  testing::expect_mentions(model.error().message, {path, "missing tensor 'token_embd.weight'", "[4096, vocab_size]"});
}

}  // namespace
}  // namespace nibble
