// llama.cpp's GGUF files as the oracle for nibble's quantizers and for GGUF reading:
// - tiny-llama-8m Q4_0 / Q8_0 (made by llama-quantize --pure from llama.cpp's llama2.c
//   converter output): for every 2-D tensor, nibble's int4_sym / int8_sym group-32 f16
//   packing of model.bin's float weights must give the very bytes of each GGUF block
//   (codes = qs, scale = d), and the F32 norm tensors must equal model.bin's bit for bit;
// - tiny-qwen2-7m Q8_0 (llama.cpp's HF converter + llama-quantize --pure): the same
//   against hf/model.safetensors, biases included;
// - the F16 file must decode to model.bin's weights rounded to f16;
// - a vocabulary-only GGUF and the Qwen2 GGUF parse, with known metadata.
#include <cstring>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/half.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "model/model.h"
#include "quant/quantized_matrix.h"
#include "quant/recipe.h"
#include "support/test_support.h"

namespace nibble {
namespace {

// tiny-llama-8m's model.bin, loaded once for all tests of this file; a model without
// layers (and a recorded failure) if it does not load.
const Model& tiny_llama() {
  static const Model model = [] {
    LoadOptions options;
    options.require_tokenizer = false;
    auto loaded = load_model(testing::model_path("tiny-llama-8m/model.bin"), options);
    if (!loaded.ok()) {
      ADD_FAILURE() << loaded.error().message;
      return Model();
    }
    return std::move(loaded).value();
  }();
  return model;
}

// A checkpoint's float tensors under their GGUF names: 2-D weights and 1-D tensors
// (norm gains, biases).
struct GgufNamedWeights {
  std::map<std::string, DenseMatrix> matrices;
  std::map<std::string, std::vector<float>> vectors;
};

// model.bin's tensors under llama.cpp's names. llama.cpp's llama2.c converter keeps
// llama2.c's q/k row order (interleaved RoPE pairs), so the rows correspond one to one.
// The model is tied; the GGUF stores the classifier as a separate `output.weight`.
GgufNamedWeights llama2c_gguf_names(const Model& model) {
  GgufNamedWeights named;
  const ModelWeights& w = model.weights;
  named.matrices["token_embd.weight"] = w.token_embedding;
  named.matrices["output.weight"] = w.classifier_matrix();
  named.vectors["output_norm.weight"] = w.final_norm;
  for (size_t l = 0; l < w.layers.size(); ++l) {
    const LayerWeights& layer = w.layers[l];
    const std::string prefix = fmt::format("blk.{}.", l);
    named.matrices[prefix + "attn_q.weight"] = layer.wq.weight;
    named.matrices[prefix + "attn_k.weight"] = layer.wk.weight;
    named.matrices[prefix + "attn_v.weight"] = layer.wv.weight;
    named.matrices[prefix + "attn_output.weight"] = layer.wo.weight;
    named.matrices[prefix + "ffn_gate.weight"] = layer.w_gate.weight;
    named.matrices[prefix + "ffn_down.weight"] = layer.w_down.weight;
    named.matrices[prefix + "ffn_up.weight"] = layer.w_up.weight;
    named.vectors[prefix + "attn_norm.weight"] = layer.attn_norm;
    named.vectors[prefix + "ffn_norm.weight"] = layer.ffn_norm;
  }
  return named;
}

// llama.cpp's name for a Hugging Face Qwen2 tensor ("" if unknown). Its HF converter
// permutes no rows for Qwen2, so the tensors correspond as stored.
std::string hf_qwen2_to_gguf_name(const std::string& name) {
  if (name == "model.embed_tokens.weight") return "token_embd.weight";
  if (name == "model.norm.weight") return "output_norm.weight";
  const std::string layers = "model.layers.";
  if (name.rfind(layers, 0) != 0) return "";
  const size_t dot = name.find('.', layers.size());
  if (dot == std::string::npos) return "";
  const std::string rest = name.substr(dot + 1);
  static const std::pair<const char*, const char*> kParts[] = {
      {"self_attn.q_proj.", "attn_q."},   {"self_attn.k_proj.", "attn_k."},
      {"self_attn.v_proj.", "attn_v."},   {"self_attn.o_proj.", "attn_output."},
      {"mlp.gate_proj.", "ffn_gate."},    {"mlp.up_proj.", "ffn_up."},
      {"mlp.down_proj.", "ffn_down."},    {"input_layernorm.", "attn_norm."},
      {"post_attention_layernorm.", "ffn_norm."}};
  for (const auto& [hf, gguf] : kParts)
    if (rest.rfind(hf, 0) == 0)
      return "blk." + name.substr(layers.size(), dot - layers.size()) + "." + gguf +
             rest.substr(std::strlen(hf));
  return "";
}

GgufNamedWeights hf_qwen2_gguf_names(const SafetensorsHeader& header) {
  GgufNamedWeights named;
  for (const SafetensorView& view : header.tensors) {
    const std::string name = hf_qwen2_to_gguf_name(view.name);
    if (name.empty()) {
      ADD_FAILURE() << "no GGUF name for " << view.name;
      continue;
    }
    std::vector<float> values = safetensor_to_f32(view);
    if (view.shape.size() == 2) {
      DenseMatrix& m = named.matrices[name];
      m.rows = static_cast<int>(view.shape[0]);
      m.cols = static_cast<int>(view.shape[1]);
      m.data = std::move(values);
    } else {
      named.vectors[name] = std::move(values);
    }
  }
  return named;
}

std::string hex(const uint8_t* bytes, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += fmt::format("{:02x}", bytes[i]);
  return out;
}

// Checks that the file's tensors and the checkpoint's are the same set of names.
void expect_same_tensor_names(const GgufFile& gguf, const GgufNamedWeights& named) {
  std::set<std::string> expected;
  for (const auto& [name, matrix] : named.matrices) expected.insert(name);
  for (const auto& [name, vector] : named.vectors) expected.insert(name);
  std::set<std::string> found;
  for (const GgufTensor& t : gguf.tensors) found.insert(t.name);
  EXPECT_EQ(found, expected) << gguf.source;
}

// 1-D tensors: F32 and bit-identical to the checkpoint.
void expect_vector_equal(const GgufTensor& t, const std::vector<float>& expected) {
  ASSERT_EQ(t.type_id, static_cast<uint32_t>(GgmlType::kF32)) << t.name;
  ASSERT_EQ(t.element_count, expected.size()) << t.name;
  EXPECT_EQ(std::memcmp(t.data.data(), expected.data(), t.byte_size), 0) << t.name;
}

struct OracleCount {
  int matrices = 0;
  int vectors = 0;
  uint64_t blocks = 0;
  uint64_t mismatched_blocks = 0;
  std::string first_mismatch;
};

// Quantizes `w` with nibble and compares every 32-element block with the GGUF tensor's
// blocks: [f16 d][code bytes], code bytes = 16 (Q4_0) or 32 (Q8_0).
void compare_blocks(const GgufTensor& t, const DenseMatrix& w, WeightCodec codec, OracleCount& count) {
  const int code_bytes = codec == WeightCodec::kInt4Sym ? 16 : 32;
  const size_t block_bytes = 2 + code_bytes;
  ASSERT_EQ(t.ne.size(), 2u) << t.name;
  ASSERT_EQ(t.cols(), w.cols) << t.name;
  ASSERT_EQ(t.rows(), w.rows) << t.name;
  // The presets' own formats, so this pins q4_g32 / q8_g32 (every matrix of those presets
  // uses the same format; tests/fast/recipe_test.cpp checks that).
  auto recipe = resolve_recipe(codec == WeightCodec::kInt4Sym ? "q4_g32" : "q8_g32");
  ASSERT_TRUE(recipe.ok());
  const QuantFormat format = recipe->scheme_for(t.name).format;
  ASSERT_EQ(format.codec, codec);
  ASSERT_EQ(recipe->embedding.format.group_size, format.group_size);
  ASSERT_EQ(recipe->lm_head.format.scale_type, format.scale_type);
  auto q = quantize_matrix(w, format, ActivationMode::kFloat, t.name);
  ASSERT_TRUE(q.ok()) << q.error().message;
  ASSERT_EQ(q->n_groups * 32, w.cols) << t.name;
  const auto* gguf = reinterpret_cast<const uint8_t*>(t.data.data());
  for (int r = 0; r < w.rows; ++r) {
    for (int b = 0; b < q->n_groups; ++b) {
      const size_t slot = static_cast<size_t>(r) * q->n_groups + b;
      const uint8_t* block = gguf + slot * block_bytes;
      const uint8_t* scale = q->scales.data() + slot * 2;
      const uint8_t* codes = q->row_codes(r) + static_cast<size_t>(b) * code_bytes;
      ++count.blocks;
      if (std::memcmp(block, scale, 2) == 0 && std::memcmp(block + 2, codes, code_bytes) == 0) continue;
      if (count.mismatched_blocks++ == 0)
        count.first_mismatch = fmt::format(
            "{} row {} block {}: GGUF d={} ({}) qs={}; nibble scale={} ({}) codes={}", t.name, r, b,
            hex(block, 2), f16_to_f32(static_cast<uint16_t>(block[0] | block[1] << 8)), hex(block + 2, code_bytes),
            hex(scale, 2), f16_to_f32(static_cast<uint16_t>(scale[0] | scale[1] << 8)), hex(codes, code_bytes));
    }
  }
  ++count.matrices;
}

// Compares every tensor of `gguf` with `named`: 1-D ones bit for bit, 2-D ones block by
// block against nibble's packing; none may be left out on either side.
void check_quantized_oracle(const GgufFile& gguf, const GgufNamedWeights& named, GgmlType type,
                            WeightCodec codec) {
  expect_same_tensor_names(gguf, named);
  OracleCount count;
  for (const GgufTensor& t : gguf.tensors) {
    if (auto v = named.vectors.find(t.name); v != named.vectors.end()) {
      expect_vector_equal(t, v->second);
      ++count.vectors;
      continue;
    }
    auto m = named.matrices.find(t.name);
    ASSERT_NE(m, named.matrices.end()) << "GGUF tensor not covered: " << t.name;
    ASSERT_EQ(t.type_id, static_cast<uint32_t>(type)) << t.name << " is " << ggml_type_name(t.type_id);
    compare_blocks(t, m->second, codec, count);
  }
  std::cout << fmt::format("[oracle] {}: {} tensors ({} matrices, {} 1-D F32), {} blocks compared, {} differ\n",
                           gguf.source, gguf.tensors.size(), count.matrices, count.vectors, count.blocks,
                           count.mismatched_blocks);
  EXPECT_EQ(count.matrices + count.vectors, static_cast<int>(gguf.tensors.size()));
  EXPECT_GT(count.blocks, 0u);
  EXPECT_EQ(count.mismatched_blocks, 0u) << count.mismatched_blocks << " of " << count.blocks
                                         << " blocks differ; first: " << count.first_mismatch;
}

void check_tiny_llama_oracle(const std::string& file, GgmlType type, WeightCodec codec) {
  const Model& model = tiny_llama();
  ASSERT_FALSE(model.weights.layers.empty());
  auto gguf = open_gguf(testing::model_path("tiny-llama-8m/gguf/" + file));
  ASSERT_TRUE(gguf.ok()) << gguf.error().message;
  check_quantized_oracle(gguf->gguf, llama2c_gguf_names(model), type, codec);
}

TEST(GgufOracle, Q4_0BlocksEqualNibbleInt4Group32F16) {
  NIBBLE_REQUIRE_MODELS();
  check_tiny_llama_oracle("tiny-llama-8m-Q4_0.gguf", GgmlType::kQ4_0, WeightCodec::kInt4Sym);
}

TEST(GgufOracle, Q8_0BlocksEqualNibbleInt8Group32F16) {
  NIBBLE_REQUIRE_MODELS();
  check_tiny_llama_oracle("tiny-llama-8m-Q8_0.gguf", GgmlType::kQ8_0, WeightCodec::kInt8Sym);
}

TEST(GgufOracle, F16FileDecodesToModelWeightsRoundedToF16) {
  NIBBLE_REQUIRE_MODELS();
  const Model& model = tiny_llama();
  ASSERT_FALSE(model.weights.layers.empty());
  auto gguf = open_gguf(testing::model_path("tiny-llama-8m/gguf/tiny-llama-8m-F16.gguf"));
  ASSERT_TRUE(gguf.ok()) << gguf.error().message;
  const GgufNamedWeights named = llama2c_gguf_names(model);
  expect_same_tensor_names(gguf->gguf, named);
  int f16_tensors = 0;
  for (const GgufTensor& t : gguf->gguf.tensors) {
    if (auto v = named.vectors.find(t.name); v != named.vectors.end()) {
      expect_vector_equal(t, v->second);
      continue;
    }
    auto m = named.matrices.find(t.name);
    ASSERT_NE(m, named.matrices.end()) << "GGUF tensor not covered: " << t.name;
    ASSERT_EQ(t.type_id, static_cast<uint32_t>(GgmlType::kF16)) << t.name;
    auto decoded = gguf_tensor_to_f32(t);
    ASSERT_TRUE(decoded.ok()) << decoded.error().message;
    const auto& w = m->second.data;
    ASSERT_EQ(decoded->size(), w.size()) << t.name;
    for (size_t i = 0; i < w.size(); ++i)
      ASSERT_EQ((*decoded)[i], f16_to_f32(f32_to_f16(w[i]))) << t.name << " element " << i;
    ++f16_tensors;
  }
  EXPECT_EQ(f16_tensors, 2 + 7 * static_cast<int>(model.weights.layers.size()));
}

TEST(GgufOracle, VocabOnlyFileMetadata) {
  NIBBLE_REQUIRE_MODELS();
  auto gguf = open_gguf(testing::model_path("llama2-tokenizer/ggml-vocab-llama-spm.gguf"));
  ASSERT_TRUE(gguf.ok()) << gguf.error().message;
  const GgufMetadata& m = gguf->gguf.metadata;
  EXPECT_EQ(gguf->gguf.version, 3u);
  EXPECT_TRUE(gguf->gguf.tensors.empty());
  EXPECT_EQ(*m.get_string("general.architecture"), "llama");
  EXPECT_EQ(*m.get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(*m.get_u32("llama.vocab_size"), 32000u);
  auto tokens = m.get_array_of_strings("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.ok()) << tokens.error().message;
  ASSERT_EQ(tokens->size(), 32000u);
  EXPECT_EQ((*tokens)[0], "<unk>");
  EXPECT_EQ((*tokens)[1], "<s>");
  EXPECT_EQ((*tokens)[3], "<0x00>");
  EXPECT_EQ(m.get_array_of_f32("tokenizer.ggml.scores")->size(), 32000u);
  EXPECT_EQ(m.get_array_of_i32("tokenizer.ggml.token_type")->size(), 32000u);
  EXPECT_EQ(*m.get_u32("tokenizer.ggml.bos_token_id"), 1u);
  EXPECT_EQ(*m.get_bool("tokenizer.ggml.add_bos_token"), true);
  EXPECT_EQ(*m.get_bool("tokenizer.ggml.add_eos_token"), false);
}

// The same check on the Qwen2 file, made by llama.cpp's HF converter from hf/ (F32):
// covers biases and ffn_down's 864-wide rows (27 blocks).
TEST(GgufOracle, Qwen2Q8_0BlocksEqualNibbleInt8Group32F16) {
  NIBBLE_REQUIRE_MODELS();
  auto hf = open_safetensors(testing::model_path("tiny-qwen2-7m/hf/model.safetensors"));
  ASSERT_TRUE(hf.ok()) << hf.error().message;
  auto gguf = open_gguf(testing::model_path("tiny-qwen2-7m/gguf/tiny-qwen2-7m-Q8_0.gguf"));
  ASSERT_TRUE(gguf.ok()) << gguf.error().message;
  check_quantized_oracle(gguf->gguf, hf_qwen2_gguf_names(hf->header), GgmlType::kQ8_0,
                         WeightCodec::kInt8Sym);
}

TEST(GgufOracle, Qwen2Q8_0FileMetadataAndTensors) {
  NIBBLE_REQUIRE_MODELS();
  auto gguf = open_gguf(testing::model_path("tiny-qwen2-7m/gguf/tiny-qwen2-7m-Q8_0.gguf"));
  ASSERT_TRUE(gguf.ok()) << gguf.error().message;
  const GgufFile& file = gguf->gguf;
  const GgufMetadata& m = file.metadata;
  EXPECT_EQ(*m.get_string("general.architecture"), "qwen2");
  EXPECT_EQ(*m.get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(m.get_array_of_strings("tokenizer.ggml.tokens")->size(), 8192u);
  EXPECT_EQ(*m.get_u32("qwen2.block_count"), 4u);
  EXPECT_EQ(*m.get_u32("qwen2.embedding_length"), 320u);
  EXPECT_EQ(*m.get_u32("qwen2.feed_forward_length"), 864u);
  EXPECT_EQ(*m.get_u32("qwen2.attention.head_count"), 8u);
  EXPECT_EQ(*m.get_u32("qwen2.attention.head_count_kv"), 2u);
  EXPECT_EQ(*m.get_f32("qwen2.rope.freq_base"), 1e6f);
  EXPECT_EQ(*m.get_f32("qwen2.attention.layer_norm_rms_epsilon"), 1e-6f);

  // Tied: no output.weight. Biases are F32; matrices Q8_0 with ne = [in, out].
  EXPECT_EQ(file.find_tensor("output.weight"), nullptr);
  const GgufTensor* bias = file.find_tensor("blk.0.attn_k.bias");
  ASSERT_NE(bias, nullptr);
  EXPECT_EQ(bias->ne, (std::vector<int64_t>{80}));
  EXPECT_EQ(bias->type_id, static_cast<uint32_t>(GgmlType::kF32));
  const GgufTensor* wk = file.find_tensor("blk.0.attn_k.weight");
  ASSERT_NE(wk, nullptr);
  EXPECT_EQ(wk->ne, (std::vector<int64_t>{320, 80}));
  EXPECT_EQ(wk->type_id, static_cast<uint32_t>(GgmlType::kQ8_0));
  // Every tensor decodes (the decoder touches every byte each span claims).
  for (const GgufTensor& t : file.tensors) {
    auto values = gguf_tensor_to_f32(t);
    ASSERT_TRUE(values.ok()) << values.error().message;
    EXPECT_EQ(values->size(), t.element_count);
  }
}

}  // namespace
}  // namespace nibble
