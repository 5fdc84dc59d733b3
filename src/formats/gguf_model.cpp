#include "formats/gguf_model.h"

#include <fmt/ranges.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/file.h"
#include "formats/gguf.h"
#include "formats/gguf_layout.h"
#include "formats/tokenizer_metadata.h"
#include "quant/quantized_matrix.h"
#include "quant/recipe.h"

namespace nibble {

namespace {

// Config values above this are refused before ModelConfig::validate() sees them, so
// the conversion to int cannot overflow.
constexpr uint32_t kMaxConfigValue = 1u << 30;
// Elements per Q4_0 / Q8_0 block, and so the group size of the formats they load as.
constexpr int kGgmlBlockElements = 32;

// The GGUF architectures nibble runs and the RoPE row order llama.cpp stores for each.
struct GgufArchitecture {
  const char* name;  // general.architecture, and the prefix of its config keys
  Architecture architecture;
  RopeStyle rope_style;
};
constexpr GgufArchitecture kArchitectures[] = {
    {"llama", Architecture::kLlama, RopeStyle::kInterleavedPairs},
    {"qwen2", Architecture::kQwen2, RopeStyle::kHalves},
};

std::string supported_architectures() {
  std::vector<std::string> names;
  for (const GgufArchitecture& a : kArchitectures) names.emplace_back(a.name);
  return fmt::format("{}", fmt::join(names, ", "));
}

std::string dims_text(const std::vector<int64_t>& ne) { return fmt::format("[{}]", fmt::join(ne, ", ")); }

// Reads `<arch>.<key>` config values with the types llama.cpp writes (u32, f32).
class ConfigKeys {
 public:
  ConfigKeys(const GgufMetadata& metadata, const std::string& arch, const std::string& source)
      : metadata_(metadata), arch_(arch), source_(source) {}

  std::string key(const char* name) const { return arch_ + "." + name; }
  bool has(const char* name) const { return metadata_.contains(key(name)); }

  // A required count in [1, kMaxConfigValue].
  Result<int> count(const char* name) const {
    NIBBLE_ASSIGN_OR_RETURN(uint32_t v, metadata_.get_u32(key(name)));
    if (v == 0 || v > kMaxConfigValue)
      return make_error("{}: metadata key '{}' is {}, expected a count in [1, {}]", source_, key(name), v,
                        kMaxConfigValue);
    return static_cast<int>(v);
  }
  Result<int> count_or(const char* name, int fallback) const {
    if (!has(name)) return fallback;
    return count(name);
  }
  Result<float> real_or(const char* name, float fallback) const {
    if (!has(name)) return fallback;
    return metadata_.get_f32(key(name));
  }
  Result<float> real(const char* name) const { return metadata_.get_f32(key(name)); }

 private:
  const GgufMetadata& metadata_;
  std::string arch_;
  const std::string& source_;
};

// A token id from tokenizer.ggml.*, or `fallback` when the key is absent.
Result<int> token_id_or(const GgufMetadata& m, const char* key, int fallback, int vocab_size,
                        const std::string& source) {
  if (!m.contains(key)) return fallback;
  NIBBLE_ASSIGN_OR_RETURN(uint32_t v, m.get_u32(key));
  if (v >= static_cast<uint32_t>(vocab_size))
    return make_error("{}: metadata key '{}' is {}, expected a token id below the vocabulary size {} (the rows "
                      "of {})", source, key, v, vocab_size, kGgufEmbeddingName);
  return static_cast<int>(v);
}

Result<ModelConfig> read_config(const GgufFile& gguf) {
  const GgufMetadata& m = gguf.metadata;
  const std::string& source = gguf.source;
  NIBBLE_ASSIGN_OR_RETURN(std::string arch, m.get_string("general.architecture"));
  const GgufArchitecture* known = nullptr;
  for (const GgufArchitecture& a : kArchitectures)
    if (arch == a.name) known = &a;
  if (known == nullptr)
    return make_error("{}: general.architecture is '{}'; nibble runs the GGUF architectures {}", source, arch,
                      supported_architectures());

  ModelConfig c;
  c.architecture = known->architecture;
  c.rope_style = known->rope_style;
  const ConfigKeys keys(m, arch, source);
  NIBBLE_ASSIGN_OR_RETURN(c.dim, keys.count("embedding_length"));
  NIBBLE_ASSIGN_OR_RETURN(c.hidden_dim, keys.count("feed_forward_length"));
  NIBBLE_ASSIGN_OR_RETURN(c.n_layers, keys.count("block_count"));
  NIBBLE_ASSIGN_OR_RETURN(c.n_heads, keys.count("attention.head_count"));
  NIBBLE_ASSIGN_OR_RETURN(c.n_kv_heads, keys.count_or("attention.head_count_kv", c.n_heads));
  NIBBLE_ASSIGN_OR_RETURN(c.max_seq_len, keys.count("context_length"));
  if (!keys.has("attention.key_length") && c.dim % c.n_heads != 0)
    return make_error("{}: {} ({}) is not a multiple of {} ({}) and {} is absent, so the head size is unknown",
                      source, keys.key("embedding_length"), c.dim, keys.key("attention.head_count"), c.n_heads,
                      keys.key("attention.key_length"));
  NIBBLE_ASSIGN_OR_RETURN(c.head_dim, keys.count_or("attention.key_length", c.dim / c.n_heads));
  NIBBLE_ASSIGN_OR_RETURN(const int value_length, keys.count_or("attention.value_length", c.head_dim));
  if (value_length != c.head_dim)
    return make_error("{}: {} is {} but {} is {}; nibble needs keys and values of one head size", source,
                      keys.key("attention.value_length"), value_length, keys.key("attention.key_length"),
                      c.head_dim);
  NIBBLE_ASSIGN_OR_RETURN(const int rope_dims, keys.count_or("rope.dimension_count", c.head_dim));
  if (rope_dims != c.head_dim)
    return make_error("{}: {} is {}, expected the head size {}: nibble rotates whole heads (no partial RoPE)",
                      source, keys.key("rope.dimension_count"), rope_dims, c.head_dim);
  if (keys.has("rope.scaling.type")) {
    NIBBLE_ASSIGN_OR_RETURN(std::string scaling, m.get_string(keys.key("rope.scaling.type")));
    if (scaling != "none")
      return make_error("{}: {} is '{}', expected 'none': nibble does not implement RoPE scaling", source,
                        keys.key("rope.scaling.type"), scaling);
  }
  NIBBLE_ASSIGN_OR_RETURN(c.rope_theta, keys.real_or("rope.freq_base", 10000.0f));
  NIBBLE_ASSIGN_OR_RETURN(c.rms_norm_eps, keys.real("attention.layer_norm_rms_epsilon"));

  // The vocabulary size is the embedding's row count; its shape is checked again with
  // every other tensor's.
  const GgufTensor* embedding = gguf.find_tensor(kGgufEmbeddingName);
  if (embedding == nullptr)
    return make_error("{}: missing tensor '{}' (the token embedding, ggml dims [{}, vocab_size])", source,
                      kGgufEmbeddingName, c.dim);
  if (embedding->ne.size() != 2 || embedding->ne[0] != c.dim || embedding->ne[1] > kMaxConfigValue)
    return make_error("{}: tensor '{}' has dims {}, expected [{}, vocab_size] (ggml order: ne[0] = {} = {})",
                      source, kGgufEmbeddingName, dims_text(embedding->ne), c.dim, keys.key("embedding_length"),
                      c.dim);
  c.vocab_size = static_cast<int>(embedding->ne[1]);
  if (keys.has("vocab_size")) {
    NIBBLE_ASSIGN_OR_RETURN(int declared, keys.count("vocab_size"));
    if (declared != c.vocab_size)
      return make_error("{}: {} is {} but tensor '{}' has {} rows", source, keys.key("vocab_size"), declared,
                        kGgufEmbeddingName, c.vocab_size);
  }
  c.tied_embeddings = gguf.find_tensor(kGgufOutputName) == nullptr;
  // llama.cpp requires the biases of qwen2 and allows them (all or none) for llama.
  c.qkv_bias = c.architecture == Architecture::kQwen2 || gguf.find_tensor("blk.0.attn_q.bias") != nullptr;
  NIBBLE_ASSIGN_OR_RETURN(c.bos_id, token_id_or(m, "tokenizer.ggml.bos_token_id", c.bos_id, c.vocab_size, source));
  NIBBLE_ASSIGN_OR_RETURN(c.eos_id, token_id_or(m, "tokenizer.ggml.eos_token_id", c.eos_id, c.vocab_size, source));
  NIBBLE_CHECK_OK(c.validate(source));
  return c;
}

// The QuantFormat a ggml block type loads as; false for types that load as float32.
bool block_format(uint32_t type_id, QuantFormat* format) {
  if (type_id == static_cast<uint32_t>(GgmlType::kQ4_0)) {
    *format = QuantFormat{WeightCodec::kInt4Sym, kGgmlBlockElements, ScaleType::kF16};
    return true;
  }
  if (type_id == static_cast<uint32_t>(GgmlType::kQ8_0)) {
    *format = QuantFormat{WeightCodec::kInt8Sym, kGgmlBlockElements, ScaleType::kF16};
    return true;
  }
  return false;
}

// Repacks Q4_0 / Q8_0 blocks ([f16 d][code bytes], row after row) into nibble's planar
// layout: codes rows * row_bytes, scales [rows][n_groups] f16. Every block is a full
// 32-element group (the reader checked that the block size divides ne[0]), so a row's
// code bytes are its blocks' code bytes back to back and no value changes.
std::shared_ptr<const QuantizedMatrix> repack_blocks(const GgufTensor& t, const QuantFormat& format) {
  auto m = std::make_shared<QuantizedMatrix>();
  m->format = format;
  m->activation = ActivationMode::kFloat;  // weight-only, as llama.cpp computes
  m->rows = static_cast<int>(t.rows());
  m->cols = static_cast<int>(t.cols());
  m->group = kGgmlBlockElements;
  m->n_groups = m->cols / kGgmlBlockElements;
  m->row_bytes = packed_row_bytes(format.codec, m->cols);
  const size_t code_bytes = format.codec == WeightCodec::kInt4Sym ? 16 : 32;
  const size_t block_bytes = 2 + code_bytes;
  const size_t blocks = static_cast<size_t>(m->rows) * m->n_groups;
  std::vector<uint8_t> codes(blocks * code_bytes);
  std::vector<uint8_t> scales(blocks * 2);
  const auto* src = reinterpret_cast<const uint8_t*>(t.data.data());
  for (size_t b = 0; b < blocks; ++b) {
    std::memcpy(scales.data() + 2 * b, src + b * block_bytes, 2);
    std::memcpy(codes.data() + b * code_bytes, src + b * block_bytes + 2, code_bytes);
  }
  m->codes = std::move(codes);
  m->scales = std::move(scales);
  // Float activations need no code sums (derive_a8_data is for kInt8Token only).
  return m;
}

// recipe.h's canonical name of a GGUF matrix ("blk.3.attn_q.weight" ->
// "layers.3.self_attn.q_proj"), for the recipe a loaded file reports.
std::string canonical_name(const std::string& gguf_name) {
  if (gguf_name == kGgufEmbeddingName) return "embed_tokens";
  if (gguf_name == kGgufOutputName) return "lm_head";
  static const std::pair<const char*, const char*> kParts[] = {
      {"attn_q", "self_attn.q_proj"}, {"attn_k", "self_attn.k_proj"},   {"attn_v", "self_attn.v_proj"},
      {"attn_output", "self_attn.o_proj"}, {"ffn_gate", "mlp.gate_proj"}, {"ffn_up", "mlp.up_proj"},
      {"ffn_down", "mlp.down_proj"}};
  const size_t first = gguf_name.find('.');
  const size_t second = gguf_name.find('.', first + 1);
  const size_t last = gguf_name.rfind('.');
  if (first == std::string::npos || second == std::string::npos || last <= second) return gguf_name;
  const std::string part = gguf_name.substr(second + 1, last - second - 1);
  for (const auto& [gguf, canonical] : kParts)
    if (part == gguf) return "layers." + gguf_name.substr(first + 1, second - first - 1) + "." + canonical;
  return gguf_name;
}

bool same_scheme(const TensorScheme& a, const TensorScheme& b) {
  if (a.quantized != b.quantized) return false;
  if (!a.quantized) return true;
  return a.format.codec == b.format.codec && a.format.group_size == b.format.group_size &&
         a.format.scale_type == b.format.scale_type && a.activation == b.activation;
}

// Checks (first pass) and then reads (second pass) every tensor the config implies,
// through the table of gguf_layout.h. The first pass touches no tensor data, so a file
// whose shapes or types do not fit fails before anything is decoded.
class WeightReader {
 public:
  WeightReader(const GgufFile& gguf, const ModelConfig& config, std::shared_ptr<const void> keep_alive)
      : gguf_(gguf), config_(config), keep_alive_(std::move(keep_alive)) {}

  Status check(ModelWeights& w) {
    reading_ = false;
    NIBBLE_CHECK_OK(walk(w));
    for (const GgufTensor& t : gguf_.tensors)
      if (!used_.count(t.name))
        return make_error("{}: unexpected tensor '{}' ({}, dims {}): not part of a {}-layer {} model{}; nibble does "
                          "not implement the weights it belongs to, and ignoring it would change the results",
                          gguf_.source, t.name, ggml_type_name(t.type_id), dims_text(t.ne), config_.n_layers,
                          architecture_name(config_.architecture), config_.qkv_bias ? " with q/k/v biases" : "");
    return {};
  }

  Status read(ModelWeights& w) {
    reading_ = true;
    return walk(w);
  }

  // The schemes the matrices were loaded as, as recipe JSON; empty when all are float.
  std::string recipe_json() const {
    bool any_quantized = false;
    for (const auto& [name, scheme] : schemes_) any_quantized |= scheme.quantized;
    if (!any_quantized) return {};
    Recipe recipe;
    recipe.name = "gguf";
    recipe.embedding = schemes_.at(kGgufEmbeddingName);
    recipe.lm_head = config_.tied_embeddings ? recipe.embedding : schemes_.at(kGgufOutputName);
    recipe.linear = schemes_.at("blk.0.attn_q.weight");
    for (const auto& [name, scheme] : schemes_) {
      const std::string canonical = canonical_name(name);
      if (canonical != "embed_tokens" && canonical != "lm_head" && !same_scheme(scheme, recipe.linear))
        recipe.overrides.emplace_back(canonical, scheme);
    }
    return recipe.to_json().dump();
  }

  // Visitor interface of for_each_gguf_layer_tensor.
  Status vector(const std::string& name, std::vector<float>& out, int size) {
    NIBBLE_ASSIGN_OR_RETURN(const GgufTensor* t, find(name, {size}, fmt::format("{} values", size)));
    if (t->traits->to_float == nullptr) return unsupported_type(*t, false);
    if (!reading_) return {};
    NIBBLE_ASSIGN_OR_RETURN(out, decode(*t));
    return {};
  }
  Status linear(const std::string& name, Linear& l, int rows, int cols) {
    std::shared_ptr<const QuantizedMatrix> q;
    NIBBLE_CHECK_OK(matrix(name, rows, cols, &l.weight, &q));
    l.quantized = std::move(q);
    return {};
  }

 private:
  Status walk(ModelWeights& w) {
    const ModelConfig& c = config_;
    w.layers.resize(static_cast<size_t>(c.n_layers));
    std::shared_ptr<const QuantizedMatrix> embedding;
    NIBBLE_CHECK_OK(matrix(kGgufEmbeddingName, c.vocab_size, c.dim, &w.token_embedding, &embedding));
    w.quantized_embedding = embedding;
    NIBBLE_CHECK_OK(for_each_gguf_layer_tensor(c, w, *this));
    if (c.tied_embeddings) {
      // One copy serves both; for a float embedding classifier_matrix() returns it.
      w.classifier.quantized = w.quantized_embedding;
    } else {
      NIBBLE_CHECK_OK(linear(kGgufOutputName, w.classifier, c.vocab_size, c.dim));
    }
    return {};
  }

  // A matrix of `rows` outputs by `cols` inputs: Q4_0/Q8_0 as a QuantizedMatrix, other
  // decodable types as float32.
  Status matrix(const std::string& name, int rows, int cols, DenseMatrix* dense,
                std::shared_ptr<const QuantizedMatrix>* quantized) {
    NIBBLE_ASSIGN_OR_RETURN(const GgufTensor* t,
                            find(name, {cols, rows}, fmt::format("ne[0] = in_features {}, ne[1] = out_features {}",
                                                                 cols, rows)));
    QuantFormat format;
    const bool blocks = block_format(t->type_id, &format);
    if (!blocks && t->traits->to_float == nullptr) return unsupported_type(*t, true);
    if (!reading_) return {};
    if (blocks) {
      auto repacked = repack_blocks(*t, format);
      if (Status finite = check_scales_finite(*repacked, name); !finite.ok())
        return make_error("{}: {}", gguf_.source, finite.error().message);
      *quantized = std::move(repacked);
      schemes_[name] = TensorScheme{true, format, ActivationMode::kFloat};
      return {};
    }
    dense->rows = rows;
    dense->cols = cols;
    const auto* floats = reinterpret_cast<const float*>(t->data.data());
    if (t->type_id == static_cast<uint32_t>(GgmlType::kF32) && keep_alive_ &&
        reinterpret_cast<uintptr_t>(floats) % alignof(float) == 0) {
      dense->data = Buffer<float>::borrow({floats, static_cast<size_t>(t->element_count)}, keep_alive_);
    } else {
      NIBBLE_ASSIGN_OR_RETURN(std::vector<float> values, decode(*t));
      dense->data = std::move(values);
    }
    schemes_[name] = TensorScheme{};
    return {};
  }

  // The tensor `name` with ggml dims `ne`; `meaning` explains the dims in messages.
  Result<const GgufTensor*> find(const std::string& name, std::vector<int64_t> ne, const std::string& meaning) {
    const GgufTensor* t = gguf_.find_tensor(name);
    if (t == nullptr)
      return make_error("{}: missing tensor '{}' (a {}-layer {} model needs it, ggml dims {}: {})", gguf_.source,
                        name, config_.n_layers, architecture_name(config_.architecture), dims_text(ne), meaning);
    if (t->ne != ne)
      return make_error("{}: tensor '{}' has dims {}, expected {} (ggml order: {}; from the config: dim {}, "
                        "hidden_dim {}, {} heads and {} kv heads of {}, vocab_size {})",
                        gguf_.source, name, dims_text(t->ne), dims_text(ne), meaning, config_.dim, config_.hidden_dim,
                        config_.n_heads, config_.n_kv_heads, config_.head_dim, config_.vocab_size);
    used_.insert(name);
    return t;
  }

  Status unsupported_type(const GgufTensor& t, bool matrix) const {
    return make_error("{}: tensor '{}' has type {}, which nibble cannot load; it reads the types it can decode: {} "
                      "({})", gguf_.source, t.name, ggml_type_name(t.type_id), ggml_decodable_type_names(),
                      matrix ? "Q4_0 and Q8_0 matrices stay int4/int8 groups of 32, the others become float32"
                             : "as float32");
  }

  Result<std::vector<float>> decode(const GgufTensor& t) const {
    auto values = gguf_tensor_to_f32(t);
    if (!values.ok()) return make_error("{}: {}", gguf_.source, values.error().message);
    return values;
  }

  const GgufFile& gguf_;
  const ModelConfig& config_;
  std::shared_ptr<const void> keep_alive_;  // owns the bytes borrowed F32 tensors point into
  bool reading_ = false;
  std::unordered_set<std::string> used_;
  std::map<std::string, TensorScheme> schemes_;  // GGUF matrix name -> how it was loaded
};


}  // namespace

Result<Model> load_gguf_model_from_bytes(std::span<const std::byte> bytes, std::shared_ptr<const void> keep_alive,
                                         const std::string& source, const LoadOptions& options) {
  NIBBLE_ASSIGN_OR_RETURN(GgufFile gguf, parse_gguf(bytes, source));
  Model model;
  NIBBLE_ASSIGN_OR_RETURN(model.config, read_config(gguf));
  WeightReader reader(gguf, model.config, std::move(keep_alive));
  NIBBLE_CHECK_OK(reader.check(model.weights));
  NIBBLE_ASSIGN_OR_RETURN(model.tokenizer, tokenizer_for_model(gguf.metadata, model.config.vocab_size, source, options));
  NIBBLE_CHECK_OK(reader.read(model.weights));
  model.recipe_json = reader.recipe_json();
  model.tensors = gguf_tensor_inventory(gguf);
  model.file_bytes = bytes.size();
  model.format = "gguf";
  model.path = source;
  return model;
}

Result<Model> load_gguf_model(const std::string& path, const LoadOptions& options) {
  return load_mapped(path, [&](std::span<const std::byte> bytes, std::shared_ptr<const void> mapping) {
    return load_gguf_model_from_bytes(bytes, std::move(mapping), path, options);
  });
}

Result<std::unique_ptr<Tokenizer>> load_gguf_tokenizer(const std::string& path) {
  NIBBLE_ASSIGN_OR_RETURN(MappedGgufFile file, open_gguf(path));
  return tokenizer_from_gguf_metadata(file.gguf.metadata, path);
}

}  // namespace nibble
