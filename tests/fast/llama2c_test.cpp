#include "formats/llama2c.h"

#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "core/file.h"
#include "model/synthetic.h"
#include "support/test_support.h"

namespace nibble {
namespace {

std::vector<std::byte> checkpoint_bytes(const Model& model, bool untie) {
  std::string path = testing::temp_dir() + "/model.bin";
  auto status = write_llama2c_checkpoint(model, path, untie);
  EXPECT_TRUE(status.ok()) << (status.ok() ? "" : status.error().message);
  auto file = MappedFile::open(path);
  EXPECT_TRUE(file.ok());
  return {file->bytes().begin(), file->bytes().end()};
}

void expect_same_weights(const ModelWeights& a, const ModelWeights& b) {
  EXPECT_EQ(a.token_embedding.data, b.token_embedding.data);
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t l = 0; l < a.layers.size(); ++l) {
    EXPECT_EQ(a.layers[l].wq.weight.data, b.layers[l].wq.weight.data);
    EXPECT_EQ(a.layers[l].wk.weight.data, b.layers[l].wk.weight.data);
    EXPECT_EQ(a.layers[l].wv.weight.data, b.layers[l].wv.weight.data);
    EXPECT_EQ(a.layers[l].wo.weight.data, b.layers[l].wo.weight.data);
    EXPECT_EQ(a.layers[l].w_gate.weight.data, b.layers[l].w_gate.weight.data);
    EXPECT_EQ(a.layers[l].w_up.weight.data, b.layers[l].w_up.weight.data);
    EXPECT_EQ(a.layers[l].w_down.weight.data, b.layers[l].w_down.weight.data);
    EXPECT_EQ(a.layers[l].attn_norm, b.layers[l].attn_norm);
    EXPECT_EQ(a.layers[l].ffn_norm, b.layers[l].ffn_norm);
  }
  EXPECT_EQ(a.final_norm, b.final_norm);
  EXPECT_EQ(a.classifier_matrix().data, b.classifier_matrix().data);
}

TEST(Llama2c, WriteThenParseGivesTheSameModel) {
  for (bool untie : {false, true}) {
    Model model = make_synthetic_model(small_test_config(), 11);
    auto bytes = checkpoint_bytes(model, untie);
    auto parsed = parse_llama2c_checkpoint(bytes, "model.bin");
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_EQ(parsed->config.tied_embeddings, !untie);
    EXPECT_EQ(parsed->config.n_kv_heads, 2);
    EXPECT_EQ(parsed->config.head_dim, 12);
    EXPECT_EQ(parsed->config.rope_style, RopeStyle::kInterleavedPairs);
    expect_same_weights(parsed->weights, model.weights);
    EXPECT_EQ(parsed->tensors.size(), untie ? 14u : 13u);
    EXPECT_EQ(parsed->file_bytes, bytes.size());
  }
}

TEST(Llama2c, EveryTruncationFailsCleanly) {
  Model model = make_synthetic_model(small_test_config(), 2);
  auto bytes = checkpoint_bytes(model, true);
  for (size_t size = 0; size < bytes.size(); ++size) {
    auto parsed = parse_llama2c_checkpoint(std::span(bytes).first(size), "cut.bin");
    ASSERT_FALSE(parsed.ok()) << "size " << size;
    ASSERT_NE(parsed.error().message.find("cut.bin"), std::string::npos) << parsed.error().message;
  }
  auto short_file = parse_llama2c_checkpoint(std::span(bytes).first(bytes.size() - 4), "cut.bin");
  EXPECT_NE(short_file.error().message.find(std::to_string(bytes.size())), std::string::npos)
      << "the message states the expected size: " << short_file.error().message;
}

TEST(Llama2c, ExtraBytesAreRefused) {
  Model model = make_synthetic_model(small_test_config(), 2);
  auto bytes = checkpoint_bytes(model, false);
  bytes.resize(bytes.size() + 4);
  EXPECT_FALSE(parse_llama2c_checkpoint(bytes, "long.bin").ok());
}

TEST(Llama2c, BadHeadersNameTheField) {
  Model model = make_synthetic_model(small_test_config(), 2);
  const auto good = checkpoint_bytes(model, false);
  struct Case {
    int field;
    int32_t value;
    const char* expected;
  };
  const Case cases[] = {
      {0, 0, "dim"},           {0, -5, "dim"},         {1, -1, "hidden_dim"},
      {2, 0, "n_layers"},      {3, 5, "n_heads"},      {4, 3, "n_kv_heads"},
      {4, 0, "n_kv_heads"},    {5, 0, "vocab_size"},   {5, INT32_MIN, "vocab_size"},
      {6, 0, "max_seq_len"},   {6, 1 << 30, "max_seq_len"}, {0, 0x616b3432, "ak42"},
      {2, 100000, "n_layers"},
  };
  for (const auto& c : cases) {
    auto bytes = good;
    std::memcpy(bytes.data() + 4 * c.field, &c.value, 4);
    auto parsed = parse_llama2c_checkpoint(bytes, "bad.bin");
    ASSERT_FALSE(parsed.ok()) << "field " << c.field << " value " << c.value;
    EXPECT_NE(parsed.error().message.find(c.expected), std::string::npos)
        << "field " << c.field << ": " << parsed.error().message;
  }
}

TEST(Llama2c, RefusesToWriteHalvesRope) {
  Model model = make_synthetic_model(small_test_config(), 2);
  model.config.rope_style = RopeStyle::kHalves;
  auto status = write_llama2c_checkpoint(model, testing::temp_dir() + "/x.bin", false);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("interleaved"), std::string::npos);
}

}  // namespace
}  // namespace nibble
