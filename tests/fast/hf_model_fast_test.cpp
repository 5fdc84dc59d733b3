// HF checkpoint directories built in the test from a small random model: write/load
// round trips (single file and sharded), the tensor rules of hf_model.h, and errors
// that name the tensor, the file and the shapes.
#include "formats/hf_model.h"

#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/file.h"
#include "core/half.h"
#include "formats/safetensors.h"
#include "support/test_support.h"

namespace nibble {
namespace {

using nlohmann::json;

template <typename Floats>
void fill_random(Floats* v, size_t n, std::mt19937* rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  v->resize(n);
  for (float& x : *v) x = dist(*rng);
}

void fill_matrix(DenseMatrix* m, int rows, int cols, std::mt19937* rng) {
  m->rows = rows;
  m->cols = cols;
  fill_random(&m->data, static_cast<size_t>(rows) * cols, rng);
}

// A 2-layer model with GQA (4 query heads, 2 kv heads) and random weights.
Model make_model(Architecture arch, bool tied, RopeStyle style = RopeStyle::kHalves) {
  Model model;
  ModelConfig& c = model.config;
  c.architecture = arch;
  c.dim = 32;
  c.hidden_dim = 48;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 8;
  c.vocab_size = 50;
  c.max_seq_len = 64;
  c.rope_theta = 1e6f;
  c.rms_norm_eps = 1e-6f;
  c.tied_embeddings = tied;
  c.qkv_bias = arch == Architecture::kQwen2;
  c.rope_style = style;
  std::mt19937 rng(1234);
  ModelWeights& w = model.weights;
  fill_matrix(&w.token_embedding, c.vocab_size, c.dim, &rng);
  w.layers.resize(2);
  for (LayerWeights& l : w.layers) {
    fill_random(&l.attn_norm, c.dim, &rng);
    fill_matrix(&l.wq.weight, c.q_dim(), c.dim, &rng);
    fill_matrix(&l.wk.weight, c.kv_dim(), c.dim, &rng);
    fill_matrix(&l.wv.weight, c.kv_dim(), c.dim, &rng);
    if (c.qkv_bias) {
      fill_random(&l.wq.bias, c.q_dim(), &rng);
      fill_random(&l.wk.bias, c.kv_dim(), &rng);
      fill_random(&l.wv.bias, c.kv_dim(), &rng);
    }
    fill_matrix(&l.wo.weight, c.dim, c.q_dim(), &rng);
    fill_random(&l.ffn_norm, c.dim, &rng);
    fill_matrix(&l.w_gate.weight, c.hidden_dim, c.dim, &rng);
    fill_matrix(&l.w_up.weight, c.hidden_dim, c.dim, &rng);
    fill_matrix(&l.w_down.weight, c.dim, c.hidden_dim, &rng);
  }
  fill_random(&w.final_norm, c.dim, &rng);
  if (!tied) fill_matrix(&w.classifier.weight, c.vocab_size, c.dim, &rng);
  return model;
}

LoadOptions no_tokenizer() {
  LoadOptions options;
  options.require_tokenizer = false;
  return options;
}

void expect_same_matrix(const DenseMatrix& a, const DenseMatrix& b, const std::string& what) {
  EXPECT_EQ(a.rows, b.rows) << what;
  EXPECT_EQ(a.cols, b.cols) << what;
  EXPECT_TRUE(a.data == b.data) << what;
}

void expect_same_weights(const ModelWeights& a, const ModelWeights& b) {
  expect_same_matrix(a.token_embedding, b.token_embedding, "embedding");
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t i = 0; i < a.layers.size(); ++i) {
    const LayerWeights& x = a.layers[i];
    const LayerWeights& y = b.layers[i];
    EXPECT_EQ(x.attn_norm, y.attn_norm);
    expect_same_matrix(x.wq.weight, y.wq.weight, "wq");
    expect_same_matrix(x.wk.weight, y.wk.weight, "wk");
    expect_same_matrix(x.wv.weight, y.wv.weight, "wv");
    EXPECT_EQ(x.wq.bias, y.wq.bias);
    EXPECT_EQ(x.wk.bias, y.wk.bias);
    EXPECT_EQ(x.wv.bias, y.wv.bias);
    expect_same_matrix(x.wo.weight, y.wo.weight, "wo");
    EXPECT_EQ(x.ffn_norm, y.ffn_norm);
    expect_same_matrix(x.w_gate.weight, y.w_gate.weight, "gate");
    expect_same_matrix(x.w_up.weight, y.w_up.weight, "up");
    expect_same_matrix(x.w_down.weight, y.w_down.weight, "down");
  }
  EXPECT_EQ(a.final_norm, b.final_norm);
  expect_same_matrix(a.classifier_matrix(), b.classifier_matrix(), "classifier");
}

// Rewrites dir/file after `edit` changes its entries (remove, add, reorder tensors).
using Entries = std::vector<SafetensorsWriteEntry>;
void rewrite_safetensors(const std::string& path, const std::function<void(Entries*)>& edit) {
  auto file = open_safetensors(path);
  ASSERT_TRUE(file.ok()) << file.error().message;
  Entries entries;
  for (const SafetensorView& v : file->header.tensors)
    entries.push_back({v.name, v.dtype, v.shape, v.data});
  edit(&entries);
  auto bytes = encode_safetensors(entries);
  ASSERT_TRUE(bytes.ok()) << bytes.error().message;
  ASSERT_TRUE(write_file_atomic(path, *bytes).ok());
}

void edit_config(const std::string& dir, const std::function<void(json*)>& edit) {
  auto text = read_text_file(dir + "/config.json");
  ASSERT_TRUE(text.ok());
  json j = json::parse(*text);
  edit(&j);
  std::string out = j.dump();
  ASSERT_TRUE(write_file_atomic(dir + "/config.json", std::as_bytes(std::span(out))).ok());
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

void expect_load_error(const std::string& dir, const std::vector<std::string>& parts,
                       const LoadOptions& options = no_tokenizer()) {
  auto result = load_hf_model(dir, options);
  ASSERT_FALSE(result.ok()) << "expected an error mentioning " << parts.front();
  for (const std::string& part : parts)
    EXPECT_NE(result.error().message.find(part), std::string::npos)
        << "message: " << result.error().message << "\nmissing: " << part;
}

TEST(HfModel, RoundTripsTiedQwen2) {
  std::string dir = testing::temp_dir();
  Model model = make_model(Architecture::kQwen2, /*tied=*/true);
  ASSERT_TRUE(write_hf_model(model, dir, /*untie=*/false).ok());
  auto loaded = load_hf_model(dir, no_tokenizer());
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->format, "hf-safetensors");
  EXPECT_EQ(loaded->path, dir);
  EXPECT_EQ(loaded->tokenizer, nullptr);
  EXPECT_TRUE(loaded->config.tied_embeddings);
  EXPECT_TRUE(loaded->config.qkv_bias);
  EXPECT_EQ(loaded->config.n_kv_heads, 2);
  EXPECT_EQ(loaded->config.rope_theta, 1e6f);
  EXPECT_EQ(loaded->config.rms_norm_eps, 1e-6f);
  EXPECT_TRUE(loaded->weights.classifier.weight.data.empty());
  expect_same_weights(model.weights, loaded->weights);

  // Inventory: every stored tensor in file order, F32, and the file's size.
  EXPECT_EQ(loaded->tensors.size(), 1u + 2u * 12u + 1u);
  EXPECT_EQ(loaded->tensors.front().name, "model.embed_tokens.weight");
  EXPECT_EQ(loaded->tensors.front().shape, (std::vector<int64_t>{50, 32}));
  EXPECT_EQ(loaded->tensors.front().type, "F32");
  EXPECT_EQ(loaded->tensors.front().bytes, 50u * 32u * 4u);
  EXPECT_EQ(loaded->file_bytes, std::filesystem::file_size(dir + "/model.safetensors"));
}

TEST(HfModel, UntiesOnRequest) {
  std::string dir = testing::temp_dir();
  Model model = make_model(Architecture::kLlama, /*tied=*/true);
  ASSERT_TRUE(write_hf_model(model, dir, /*untie=*/true).ok());
  auto loaded = load_hf_model(dir, no_tokenizer());
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_FALSE(loaded->config.tied_embeddings);
  expect_same_matrix(loaded->weights.classifier.weight, model.weights.token_embedding, "lm_head");
  expect_same_weights(model.weights, loaded->weights);

  // An untied model stays untied.
  Model untied = make_model(Architecture::kLlama, /*tied=*/false);
  ASSERT_TRUE(write_hf_model(untied, dir, /*untie=*/false).ok());
  loaded = load_hf_model(dir, no_tokenizer());
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  expect_same_weights(untied.weights, loaded->weights);
}

TEST(HfModel, PermutesInterleavedRopeRowsToHalves) {
  std::string dir = testing::temp_dir();
  Model model = make_model(Architecture::kQwen2, true, RopeStyle::kInterleavedPairs);
  ASSERT_TRUE(write_hf_model(model, dir, false).ok());
  auto loaded = load_hf_model(dir, no_tokenizer());
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->config.rope_style, RopeStyle::kHalves);
  const int hd = model.config.head_dim, half = hd / 2;
  const LayerWeights& before = model.weights.layers[1];
  const LayerWeights& after = loaded->weights.layers[1];
  for (int h = 0; h < model.config.n_kv_heads; ++h)
    for (int i = 0; i < half; ++i)
      for (int j = 0; j < 2; ++j) {
        int from = h * hd + 2 * i + j, to = h * hd + j * half + i;
        EXPECT_EQ(std::vector<float>(after.wk.weight.row(to), after.wk.weight.row(to) + 32),
                  std::vector<float>(before.wk.weight.row(from), before.wk.weight.row(from) + 32));
        EXPECT_EQ(after.wk.bias[to], before.wk.bias[from]);
      }
  EXPECT_EQ(after.wq.weight.row(1)[0], before.wq.weight.row(2)[0]);  // head 0: i=1, j=0
  EXPECT_EQ(after.wq.weight.row(half)[5], before.wq.weight.row(1)[5]);  // i=0, j=1
  EXPECT_EQ(after.wv.weight.data, before.wv.weight.data);  // v is not rotated
}

TEST(HfModel, LoadsF16AndBf16Tensors) {
  std::string dir = testing::temp_dir();
  Model model = make_model(Architecture::kLlama, true);
  ASSERT_TRUE(write_hf_model(model, dir, false).ok());
  std::vector<std::vector<uint16_t>> keep;
  rewrite_safetensors(dir + "/model.safetensors", [&](Entries* entries) {
    keep.reserve(entries->size());
    for (size_t i = 0; i < entries->size(); ++i) {
      SafetensorsWriteEntry& e = (*entries)[i];
      std::vector<float> f(e.data.size() / 4);
      std::memcpy(f.data(), e.data.data(), e.data.size());
      std::vector<uint16_t> narrow(f.size());
      bool bf16 = i % 2 == 0;
      for (size_t k = 0; k < f.size(); ++k) narrow[k] = bf16 ? f32_to_bf16(f[k]) : f32_to_f16(f[k]);
      keep.push_back(std::move(narrow));
      e.dtype = bf16 ? SafetensorsDtype::kBF16 : SafetensorsDtype::kF16;
      e.data = std::as_bytes(std::span(keep.back()));
    }
  });
  auto loaded = load_hf_model(dir, no_tokenizer());
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  // The embedding came first (i = 0): BF16.
  EXPECT_EQ(loaded->tensors[0].type, "BF16");
  EXPECT_EQ(loaded->tensors[1].type, "F16");
  const auto& e = loaded->weights.token_embedding.data;
  for (size_t k = 0; k < e.size(); ++k)
    ASSERT_EQ(e[k], bf16_to_f32(f32_to_bf16(model.weights.token_embedding.data[k])));
  const auto& norm = loaded->weights.layers[0].attn_norm;  // second tensor: F16
  for (size_t k = 0; k < norm.size(); ++k)
    ASSERT_EQ(norm[k], f16_to_f32(f32_to_f16(model.weights.layers[0].attn_norm[k])));
}

TEST(HfModel, ReportsMissingWrongAndUnexpectedTensors) {
  std::string dir = testing::temp_dir();
  Model model = make_model(Architecture::kQwen2, true);
  ASSERT_TRUE(write_hf_model(model, dir, false).ok());
  const std::string weights = dir + "/model.safetensors";

  rewrite_safetensors(weights, [](Entries* e) {
    std::erase_if(*e, [](const auto& x) { return x.name == "model.layers.1.self_attn.k_proj.bias"; });
  });
  expect_load_error(dir, {"'model.layers.1.self_attn.k_proj.bias'", "missing", "[16]"});

  ASSERT_TRUE(write_hf_model(model, dir, false).ok());
  edit_config(dir, [](json* j) { (*j)["intermediate_size"] = 40; });
  expect_load_error(dir, {"model.safetensors", "'model.layers.0.mlp.gate_proj.weight'",
                          "shape [48, 32]", "needs [40, 32]"});

  ASSERT_TRUE(write_hf_model(model, dir, false).ok());
  std::vector<float> bias(32, 0.0f);
  rewrite_safetensors(weights, [&](Entries* e) {
    e->push_back({"model.layers.0.self_attn.o_proj.bias", SafetensorsDtype::kF32, {32},
                  std::as_bytes(std::span(bias))});
  });
  expect_load_error(dir, {"unexpected tensor 'model.layers.0.self_attn.o_proj.bias'"});
}

TEST(HfModel, IgnoresRotaryBuffersAndATiedLmHead) {
  std::string dir = testing::temp_dir();
  Model model = make_model(Architecture::kLlama, true);
  ASSERT_TRUE(write_hf_model(model, dir, false).ok());
  std::vector<float> inv_freq(4, 1.0f);
  std::vector<float> other_head(50 * 32, 3.0f);
  rewrite_safetensors(dir + "/model.safetensors", [&](Entries* e) {
    e->push_back({"model.layers.0.self_attn.rotary_emb.inv_freq", SafetensorsDtype::kF32, {4},
                  std::as_bytes(std::span(inv_freq))});
    e->push_back({"lm_head.weight", SafetensorsDtype::kF32, {50, 32},
                  std::as_bytes(std::span(other_head))});
  });
  auto loaded = load_hf_model(dir, no_tokenizer());
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_TRUE(loaded->weights.classifier.weight.data.empty());  // the embedding is used
  expect_same_weights(model.weights, loaded->weights);
  EXPECT_EQ(loaded->tensors.size(), 1u + 2u * 9u + 1u + 2u);  // inventory lists them all

  // Untied, the classifier is required.
  edit_config(dir, [](json* j) { (*j)["tie_word_embeddings"] = false; });
  rewrite_safetensors(dir + "/model.safetensors", [](Entries* e) {
    std::erase_if(*e, [](const auto& x) { return x.name == "lm_head.weight"; });
  });
  expect_load_error(dir, {"'lm_head.weight'", "missing"});
}

// Splits dir/model.safetensors into two shards with an index, as HF's save does.
void shard(const std::string& dir) {
  auto file = open_safetensors(dir + "/model.safetensors");
  ASSERT_TRUE(file.ok());
  Entries first, second;
  json weight_map;
  for (const SafetensorView& v : file->header.tensors) {
    bool in_first = v.name.find("layers.1.") == std::string::npos && v.name != "model.norm.weight";
    (in_first ? first : second).push_back({v.name, v.dtype, v.shape, v.data});
    weight_map[v.name] = in_first ? "model-00001-of-00002.safetensors"
                                   : "model-00002-of-00002.safetensors";
  }
  for (auto [name, entries] : {std::pair{"model-00001-of-00002.safetensors", &first},
                               std::pair{"model-00002-of-00002.safetensors", &second}}) {
    auto bytes = encode_safetensors(*entries);
    ASSERT_TRUE(bytes.ok());
    ASSERT_TRUE(write_file_atomic(dir + "/" + name, *bytes).ok());
  }
  json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", weight_map}};
  write_text(dir + "/model.safetensors.index.json", index.dump(1));
  std::filesystem::remove(dir + "/model.safetensors");
}

void edit_index(const std::string& dir, const std::function<void(json*)>& edit) {
  auto text = read_text_file(dir + "/model.safetensors.index.json");
  ASSERT_TRUE(text.ok());
  json j = json::parse(*text);
  edit(&j);
  write_text(dir + "/model.safetensors.index.json", j.dump());
}

TEST(HfModel, LoadsShardedCheckpoints) {
  std::string dir = testing::temp_dir();
  Model model = make_model(Architecture::kQwen2, true);
  ASSERT_TRUE(write_hf_model(model, dir, false).ok());
  shard(dir);
  auto loaded = load_hf_model(dir, no_tokenizer());
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  expect_same_weights(model.weights, loaded->weights);
  EXPECT_EQ(loaded->file_bytes,
            std::filesystem::file_size(dir + "/model-00001-of-00002.safetensors") +
                std::filesystem::file_size(dir + "/model-00002-of-00002.safetensors"));
  EXPECT_EQ(loaded->tensors.front().name, "model.embed_tokens.weight");
  EXPECT_EQ(loaded->tensors.back().name, "model.norm.weight");  // last of shard 2
}

TEST(HfModel, RefusesInconsistentOrHostileIndexes) {
  std::string dir = testing::temp_dir();
  Model model = make_model(Architecture::kQwen2, true);
  ASSERT_TRUE(write_hf_model(model, dir, false).ok());
  shard(dir);
  const std::string norm = "model.norm.weight";

  edit_index(dir, [&](json* j) { (*j)["weight_map"][norm] = "../model-00002-of-00002.safetensors"; });
  expect_load_error(dir, {"model.safetensors.index.json", norm, "inside the directory"});
  edit_index(dir, [&](json* j) { (*j)["weight_map"][norm] = "/etc/passwd"; });
  expect_load_error(dir, {norm, "inside the directory"});
  edit_index(dir, [&](json* j) { (*j)["weight_map"][norm] = ".."; });
  expect_load_error(dir, {norm, "inside the directory"});
  edit_index(dir, [&](json* j) { (*j)["weight_map"][norm] = 5; });
  expect_load_error(dir, {norm, "inside the directory", "5"});

  // Listed under the wrong shard, not listed at all, listed but absent.
  edit_index(dir, [&](json* j) { (*j)["weight_map"][norm] = "model-00001-of-00002.safetensors"; });
  expect_load_error(dir, {"model-00002-of-00002.safetensors", norm, "not this file"});
  edit_index(dir, [&](json* j) { (*j)["weight_map"].erase(norm); });
  expect_load_error(dir, {norm, "not listed"});
  edit_index(dir, [&](json* j) {
    (*j)["weight_map"][norm] = "model-00002-of-00002.safetensors";
    (*j)["weight_map"]["ghost"] = "model-00001-of-00002.safetensors";
  });
  expect_load_error(dir, {"'ghost'", "no such tensor"});
  edit_index(dir, [&](json* j) {
    (*j)["weight_map"].erase("ghost");
    (*j)["weight_map"]["model.norm.weight"] = "model-00003-of-00002.safetensors";
  });
  expect_load_error(dir, {"model-00003-of-00002.safetensors", "cannot open"});
  write_text(dir + "/model.safetensors.index.json", "{\"weight_map\": []}");
  expect_load_error(dir, {"weight_map"});
}

TEST(HfModel, ExplainsWhatIsMissing) {
  std::string dir = testing::temp_dir();
  expect_load_error(dir, {"config.json", "cannot open"});

  Model model = make_model(Architecture::kLlama, true);
  ASSERT_TRUE(write_hf_model(model, dir, false).ok());
  std::filesystem::remove(dir + "/model.safetensors");
  expect_load_error(dir, {"no weights found", "model.safetensors.index.json"});

  ASSERT_TRUE(write_hf_model(model, dir, false).ok());
  expect_load_error(dir, {"no tokenizer found", dir + "/tokenizer.model", "--tokenizer FILE"},
                    LoadOptions{});
  LoadOptions named;
  named.tokenizer_path = dir + "/nonexistent.model";
  expect_load_error(dir, {"nonexistent.model"}, named);
}

TEST(HfModel, WriterRefusesInconsistentModels) {
  std::string dir = testing::temp_dir();
  Model model = make_model(Architecture::kLlama, true);
  model.weights.layers[1].w_up.weight.rows = 47;
  Status status = write_hf_model(model, dir, false);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("'model.layers.1.mlp.up_proj.weight'"), std::string::npos);
  EXPECT_FALSE(file_exists(dir + "/config.json"));

  Model biased = make_model(Architecture::kLlama, true);
  biased.config.qkv_bias = true;
  EXPECT_FALSE(write_hf_model(biased, dir, false).ok());
}

}  // namespace
}  // namespace nibble
