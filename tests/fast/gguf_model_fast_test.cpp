// llama.cpp GGUF models (formats/gguf_model.h) on small files made in the test: random
// models written by export_gguf load back with bit-identical logits (Q4_0/Q8_0 as
// nibble's own int4/int8 formats, F32 borrowed from the mapping, F16 widened), and
// well-formed GGUF files that are wrong for nibble fail with messages naming the file,
// the tensor or key, and the expected and found values.
#include "formats/gguf_model.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/half.h"
#include "formats/gguf_export.h"
#include "formats/gguf_writer.h"
#include "formats/tokenizer_metadata.h"
#include "model/synthetic.h"
#include "quant/quantize_model.h"
#include "quant/quantized_matrix.h"
#include "support/gguf_rewrite.h"
#include "support/model_runner.h"
#include "support/test_support.h"
#include "support/test_tokenizer.h"
#include "tokenizer/llama_bin_tokenizer.h"

namespace nibble {
namespace {


// A random model whose in_features are multiples of 32 (so Q4_0/Q8_0 hold every
// matrix), quantized with `recipe` unless it is empty.
Model model_with(Architecture arch, RopeStyle style, const std::string& recipe, bool tied = true) {
  ModelConfig c = small_test_config();
  c.architecture = arch;
  c.rope_style = style;
  c.dim = 64;
  c.hidden_dim = 96;
  c.head_dim = 16;
  c.tied_embeddings = tied;
  c.qkv_bias = arch == Architecture::kQwen2;
  c.rope_theta = arch == Architecture::kQwen2 ? 1e6f : 10000.0f;
  Model model = make_synthetic_model(c, 29);
  model.tokenizer = testing::make_test_tokenizer(c.vocab_size);
  if (!recipe.empty()) {
    ThreadPool pool(1);
    EXPECT_TRUE(quantize_model(model, resolve_recipe(recipe).value(), pool, nullptr).ok());
  }
  return model;
}

// Writes `model` to `path` (under the test's testing::temp_dir(), which empties the
// directory on each call: take it once per test).
std::string exported(const Model& model, const std::string& path, GgufFloatType float_type = GgufFloatType::kF32) {
  GgufExportOptions options;
  options.float_type = float_type;
  auto status = export_gguf(model, path, options);
  EXPECT_TRUE(status.ok()) << status.error().message;
  return path;
}

Model load_or_fail(const std::string& path, const LoadOptions& options = {}) {
  auto model = load_gguf_model(path, options);
  EXPECT_TRUE(model.ok()) << model.error().message;
  return model.ok() ? std::move(*model) : Model{};
}

const std::vector<int> kPrompt = {1, 7, 22, 3, 39, 5, 11};

void expect_same_logits(const Model& a, const Model& b) {
  const auto la = testing::logits_for(a, kPrompt);
  const auto lb = testing::logits_for(b, kPrompt);
  ASSERT_FALSE(la.empty());
  ASSERT_EQ(la.size(), lb.size());
  EXPECT_EQ(la, lb) << "max |diff| " << testing::max_abs_diff(la, lb);
}

void expect_same_config(const ModelConfig& a, const ModelConfig& b) {
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
  EXPECT_EQ(a.tied_embeddings, b.tied_embeddings);
  EXPECT_EQ(a.qkv_bias, b.qkv_bias);
  EXPECT_EQ(a.rope_style, b.rope_style);
}

void expect_format(const std::shared_ptr<const QuantizedMatrix>& q, const QuantFormat& f, const std::string& what) {
  ASSERT_NE(q, nullptr) << what;
  EXPECT_EQ(q->format.codec, f.codec) << what;
  EXPECT_EQ(q->format.group_size, f.group_size) << what;
  EXPECT_EQ(q->format.scale_type, f.scale_type) << what;
  EXPECT_EQ(q->activation, ActivationMode::kFloat) << what;
  EXPECT_TRUE(q->code_sums.empty()) << what;
}

// ---------------------------------------------------------------------------------
// Valid files

TEST(GgufModelFast, Q4_0AndQ8_0LoadAsThePresetFormatsWithBitIdenticalLogits) {
  for (const char* recipe_name : {"q4_g32", "q8_g32"}) {
    SCOPED_TRACE(recipe_name);
    const Model original = model_with(Architecture::kLlama, RopeStyle::kInterleavedPairs, recipe_name);
    const Model loaded = load_or_fail(exported(original, testing::temp_dir() + "/q.gguf"));
    ASSERT_EQ(loaded.weights.layers.size(), 2u);
    expect_same_config(loaded.config, original.config);
    EXPECT_EQ(loaded.format, "gguf");
    const Recipe preset = resolve_recipe(recipe_name).value();
    EXPECT_EQ(loaded.recipe_json, preset.to_json().dump());
    const QuantFormat format = preset.linear.format;
    const ModelWeights& w = loaded.weights;
    expect_format(w.quantized_embedding, format, "embedding");
    EXPECT_EQ(w.classifier.quantized, w.quantized_embedding) << "tied: one matrix serves both";
    for (const LayerWeights& l : w.layers)
      for (const Linear* linear : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down})
        expect_format(linear->quantized, format, "linear");
    // The very codes and scales nibble made.
    const QuantizedMatrix& mine = *original.weights.layers[1].w_down.quantized;
    const QuantizedMatrix& theirs = *w.layers[1].w_down.quantized;
    EXPECT_TRUE(mine.codes == theirs.codes);
    EXPECT_TRUE(mine.scales == theirs.scales);
    expect_same_logits(loaded, original);
    ASSERT_NE(loaded.tokenizer, nullptr);
    EXPECT_EQ(loaded.tokenizer->vocab_size(), original.config.vocab_size);
  }
}

TEST(GgufModelFast, Qwen2KeepsHalvesOrderAndFloatBiases) {
  const Model original = model_with(Architecture::kQwen2, RopeStyle::kHalves, "q8_g32");
  const Model loaded = load_or_fail(exported(original, testing::temp_dir() + "/qwen2.gguf"));
  expect_same_config(loaded.config, original.config);
  EXPECT_EQ(loaded.weights.layers[1].wk.bias, original.weights.layers[1].wk.bias);
  expect_same_logits(loaded, original);
}

TEST(GgufModelFast, FloatFilesF32BorrowedAndF16Widened) {
  const std::string dir = testing::temp_dir();
  const Model original = model_with(Architecture::kLlama, RopeStyle::kInterleavedPairs, "", /*tied=*/false);
  const Model f32 = load_or_fail(exported(original, dir + "/f32.gguf"));
  expect_same_config(f32.config, original.config);
  EXPECT_TRUE(f32.recipe_json.empty());
  EXPECT_TRUE(f32.weights.layers[0].wq.weight.data.borrowed()) << "F32 matrices are used in place";
  EXPECT_EQ(f32.weights.classifier.weight.data, original.weights.classifier.weight.data);
  expect_same_logits(f32, original);

  // F16: exactly the original rounded to f16 (norms stay F32).
  Model rounded = model_with(Architecture::kLlama, RopeStyle::kInterleavedPairs, "", false);
  auto round = [](DenseMatrix& m) {
    for (float& x : m.data) x = f16_to_f32(f32_to_f16(x));
  };
  round(rounded.weights.token_embedding);
  round(rounded.weights.classifier.weight);
  for (LayerWeights& l : rounded.weights.layers)
    for (Linear* linear : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) round(linear->weight);
  const Model f16 = load_or_fail(exported(original, dir + "/f16.gguf", GgufFloatType::kF16));
  EXPECT_EQ(f16.tensors.size(), 3u + 9u * 2u);
  EXPECT_EQ(f16.tensors[0].type, "F16");
  EXPECT_EQ(f16.tensors[0].shape, (std::vector<int64_t>{original.config.vocab_size, original.config.dim}));
  expect_same_logits(f16, rounded);
}

// An HF-order Llama is exported with its q/k rows permuted to interleaved pairs; loaded
// back it rotates interleaved pairs and computes the same function (sums in another
// order, hence the float32 bound rather than equality).
TEST(GgufModelFast, LlamaRowsInInterleavedOrder) {
  const Model original = model_with(Architecture::kLlama, RopeStyle::kHalves, "");
  const Model loaded = load_or_fail(exported(original, testing::temp_dir() + "/llama.gguf"));
  EXPECT_EQ(loaded.config.rope_style, RopeStyle::kInterleavedPairs);
  const auto a = testing::logits_for(original, kPrompt);
  const auto b = testing::logits_for(loaded, kPrompt);
  EXPECT_LE(testing::max_abs_diff(a, b), testing::float32_reorder_bound(original.config, testing::max_abs(a)));
}

TEST(GgufModelFast, TokenizerFromAVocabularyOnlyFile) {
  const std::string path = testing::temp_dir() + "/vocab.gguf";
  auto source = testing::make_test_tokenizer(40);
  GgufWriter writer;
  writer.set_string("general.architecture", "llama");
  ASSERT_TRUE(write_tokenizer_metadata(*source, writer).ok());
  ASSERT_TRUE(writer.write(path).ok());
  for (int expected_size : {0, 40}) {
    auto tokenizer = open_tokenizer(path, expected_size);
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.error().message;
    EXPECT_EQ((*tokenizer)->vocab_size(), 40);
    EXPECT_EQ(*(*tokenizer)->encode("w7 w22", true), *source->encode("w7 w22", true));
  }
  auto wrong = open_tokenizer(path, 41);
  ASSERT_FALSE(wrong.ok());
  testing::expect_mentions(wrong.error().message, {path, "40 entries", "41"});
  // A vocabulary is not a model.
  auto model = load_gguf_model(path, {});
  ASSERT_FALSE(model.ok());
  testing::expect_mentions(model.error().message, {path, "llama.embedding_length", "missing"});
}

// ---------------------------------------------------------------------------------
// Files that are well-formed GGUF but wrong for nibble

// The Llama (dim 64, hidden 96, 4 heads and 2 kv heads of 16, vocab 40) quantized with
// `recipe` (float when empty) as GGUF, rewritten with `edit`; returns the load error
// (or fails).
std::string load_error(const testing::GgufEdit& edit, const std::string& recipe = "q8_g32") {
  const Model model = model_with(Architecture::kLlama, RopeStyle::kInterleavedPairs, recipe);
  const std::string dir = testing::temp_dir();
  const std::string good = exported(model, dir + "/good.gguf");
  const std::string bad = dir + "/bad.gguf";
  auto status = testing::rewrite_gguf(good, bad, edit);
  EXPECT_TRUE(status.ok()) << status.error().message;
  auto loaded = load_gguf_model(bad, {});
  EXPECT_FALSE(loaded.ok()) << "loaded a bad file";
  return loaded.ok() ? std::string() : loaded.error().message + " [" + bad + "]";
}

TEST(GgufModelFast, MissingTensorNamesItAndItsShape) {
  testing::GgufEdit edit;
  edit.drop_tensors = {"blk.1.ffn_up.weight"};
  testing::expect_mentions(load_error(edit), {"bad.gguf", "missing tensor 'blk.1.ffn_up.weight'", "[64, 96]",
                                              "in_features 64", "out_features 96"});
}

TEST(GgufModelFast, WrongShapeNamesExpectedAndFound) {
  testing::GgufEdit edit;
  edit.reshape["blk.0.attn_k.weight"] = {32, 64};  // Q8_0 [64, 32] holds as many blocks
  testing::expect_mentions(load_error(edit), {"bad.gguf", "tensor 'blk.0.attn_k.weight'", "has dims [32, 64]",
                                              "expected [64, 32]", "2 kv heads of 16"});
  testing::GgufEdit config;
  config.set_u32["llama.feed_forward_length"] = 128;
  testing::expect_mentions(load_error(config), {"tensor 'blk.0.ffn_gate.weight'", "has dims [64, 96]",
                                                "expected [64, 128]", "hidden_dim 128"});
}

TEST(GgufModelFast, UnsupportedArchitectureListsTheSupportedOnes) {
  testing::GgufEdit edit;
  edit.set_values["general.architecture"] = GgufValue{std::string("gpt2")};
  testing::expect_mentions(load_error(edit), {"bad.gguf", "general.architecture", "'gpt2'", "llama, qwen2"});
}

TEST(GgufModelFast, UnsupportedTensorTypeNamesTheTypeAndTheReadableOnes) {
  testing::GgufEdit matrix;
  matrix.retype["blk.1.ffn_down.weight"] = GgmlType::kI32;  // as many bytes as F32
  testing::expect_mentions(load_error(matrix, ""), {"bad.gguf", "tensor 'blk.1.ffn_down.weight'", "has type I32",
                                                    "Q4_0 and Q8_0", "F32, F16, Q4_0"});
  testing::GgufEdit vector;
  vector.retype["blk.0.attn_norm.weight"] = GgmlType::kI32;
  testing::expect_mentions(load_error(vector), {"bad.gguf", "tensor 'blk.0.attn_norm.weight'", "has type I32",
                                                "F32, F16"});
}

TEST(GgufModelFast, UnexpectedTensorIsAnError) {
  testing::GgufEdit edit;
  edit.add_f32["blk.0.attn_output.bias"] = std::vector<float>(64, 0.5f);
  testing::expect_mentions(load_error(edit), {"bad.gguf", "unexpected tensor 'blk.0.attn_output.bias'", "[64]"});
}

TEST(GgufModelFast, MissingQwen2BiasIsAnError) {
  const Model model = model_with(Architecture::kQwen2, RopeStyle::kHalves, "");
  const std::string dir = testing::temp_dir();
  const std::string good = exported(model, dir + "/qwen2.gguf");
  const std::string bad = dir + "/no-bias.gguf";
  testing::GgufEdit edit;
  edit.drop_tensors = {"blk.1.attn_v.bias"};
  ASSERT_TRUE(testing::rewrite_gguf(good, bad, edit).ok());
  auto loaded = load_gguf_model(bad, {});
  ASSERT_FALSE(loaded.ok());
  testing::expect_mentions(loaded.error().message, {"no-bias.gguf", "missing tensor 'blk.1.attn_v.bias'", "[32]"});
}

TEST(GgufModelFast, OtherTokenizerModelsNeedATokenizerPathOrNoTokenizer) {
  testing::GgufEdit edit;
  edit.set_values["tokenizer.ggml.model"] = GgufValue{std::string("gpt2")};
  testing::expect_mentions(load_error(edit), {"bad.gguf", "tokenizer.ggml.model", "'gpt2'", "'llama'", "--tokenizer"});

  const Model model = model_with(Architecture::kLlama, RopeStyle::kInterleavedPairs, "q8_g32");
  const std::string dir = testing::temp_dir();
  const std::string good = exported(model, dir + "/good.gguf");
  const std::string gpt2 = dir + "/gpt2.gguf";
  ASSERT_TRUE(testing::rewrite_gguf(good, gpt2, edit).ok());
  LoadOptions no_tokenizer;
  no_tokenizer.require_tokenizer = false;
  EXPECT_EQ(load_or_fail(gpt2, no_tokenizer).tokenizer, nullptr);
  // The good file's own vocabulary, named as the tokenizer.
  LoadOptions named;
  named.tokenizer_path = good;
  EXPECT_EQ(load_or_fail(gpt2, named).tokenizer->vocab_size(), model.config.vocab_size);
}

TEST(GgufModelFast, VocabularySizeMustAgree) {
  testing::GgufEdit edit;
  edit.set_u32["llama.vocab_size"] = 41;
  testing::expect_mentions(load_error(edit), {"bad.gguf", "llama.vocab_size is 41", "'token_embd.weight' has 40 rows"});
}

}  // namespace
}  // namespace nibble
