#include "formats/nibble_file.h"

#include <fmt/ranges.h>
#include <xxhash.h>

#include <cstring>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "formats/gguf_layout.h"
#include "formats/tokenizer_metadata.h"
#include "formats/gguf_writer.h"
#include "quant/quantized_matrix.h"

namespace nibble {

namespace {

// Metadata keys of format version 1 (docs/FORMAT.md). Config keys mirror ModelConfig.
constexpr const char* kArchitectureValue = "nibble";
constexpr const char* kRecipeKey = "nibble.recipe";
constexpr const char* kChecksumsKey = "nibble.checksums.xxh3_64";
constexpr const char* kQuantNames = "nibble.quant.tensor";
constexpr const char* kQuantRows = "nibble.quant.rows";
constexpr const char* kQuantCols = "nibble.quant.cols";
constexpr const char* kQuantCodec = "nibble.quant.codec";
constexpr const char* kQuantBits = "nibble.quant.bits";
constexpr const char* kQuantGroup = "nibble.quant.group_size";
constexpr const char* kQuantScaleType = "nibble.quant.scale_type";
constexpr const char* kQuantZeroPoint = "nibble.quant.zero_point";
constexpr const char* kQuantActivation = "nibble.quant.activation";
// Suffixes of the stored parts of a quantized matrix called NAME.
constexpr const char* kCodesSuffix = ".codes";
constexpr const char* kScalesSuffix = ".scales";
constexpr const char* kZeroPointsSuffix = ".zero_points";

const char* activation_file_name(ActivationMode mode) {
  return mode == ActivationMode::kInt8Token ? "int8_token" : "float";
}
const char* zero_point_file_name(const QuantFormat& f) { return f.asymmetric() ? "uint4_per_group" : "none"; }

GgmlType scale_ggml_type(ScaleType type) {
  switch (type) {
    case ScaleType::kF32: return GgmlType::kF32;
    case ScaleType::kF16: return GgmlType::kF16;
    case ScaleType::kBF16: return GgmlType::kBF16;
  }
  return GgmlType::kF32;
}

// Finds the enum value whose file spelling is `text`.
template <typename Enum, size_t N>
bool parse_name(const std::string& text, const Enum (&values)[N], const char* (*name)(Enum), Enum* out) {
  for (Enum v : values)
    if (text == name(v)) {
      *out = v;
      return true;
    }
  return false;
}

std::span<const std::byte> bytes_of(std::span<const float> v) { return std::as_bytes(v); }
std::span<const std::byte> bytes_of(const Buffer<uint8_t>& b) { return std::as_bytes(b.span()); }

// ---------------------------------------------------------------------------------------
// Writing

struct QuantTable {
  std::vector<std::string> names;
  std::vector<uint32_t> rows, cols, bits, groups;
  std::vector<std::string> codecs, scale_types, zero_points, activations;

  void add(const std::string& name, const QuantizedMatrix& m) {
    names.push_back(name);
    rows.push_back(static_cast<uint32_t>(m.rows));
    cols.push_back(static_cast<uint32_t>(m.cols));
    bits.push_back(static_cast<uint32_t>(m.format.bits()));
    groups.push_back(static_cast<uint32_t>(m.format.group_size));
    codecs.push_back(codec_name(m.format.codec));
    scale_types.push_back(scale_type_name(m.format.scale_type));
    zero_points.push_back(zero_point_file_name(m.format));
    activations.push_back(activation_file_name(m.activation));
  }
};

class NibbleWriter {
 public:
  explicit NibbleWriter(const Model& model) : model_(model), gguf_(kNibbleAlignment) {}

  Status write(const std::string& path) {
    const ModelConfig& c = model_.config;
    const ModelWeights& w = model_.weights;
    if (w.layers.size() != static_cast<size_t>(c.n_layers))
      return make_error("{}: the model has {} layers but its config says {}", path, w.layers.size(), c.n_layers);
    NIBBLE_CHECK_OK(embedding_and_layers(c, w));
    const bool has_classifier = !w.classifier.weight.data.empty() ||
                                (w.classifier.quantized && w.classifier.quantized != w.quantized_embedding);
    if (c.tied_embeddings && has_classifier)
      return make_error("{}: the config says the embeddings are tied but the model has its own classifier", path);
    if (!c.tied_embeddings) NIBBLE_CHECK_OK(linear(kGgufOutputName, w.classifier, c.vocab_size, c.dim));

    put_header_metadata();
    if (model_.tokenizer) NIBBLE_CHECK_OK(write_tokenizer_metadata(*model_.tokenizer, gguf_));
    gguf_.set_strings(kQuantNames, quant_.names);
    gguf_.set_u32s(kQuantRows, quant_.rows);
    gguf_.set_u32s(kQuantCols, quant_.cols);
    gguf_.set_strings(kQuantCodec, quant_.codecs);
    gguf_.set_u32s(kQuantBits, quant_.bits);
    gguf_.set_u32s(kQuantGroup, quant_.groups);
    gguf_.set_strings(kQuantScaleType, quant_.scale_types);
    gguf_.set_strings(kQuantZeroPoint, quant_.zero_points);
    gguf_.set_strings(kQuantActivation, quant_.activations);
    gguf_.set_u64s(kChecksumsKey, checksums_);
    return gguf_.write(path);
  }

  // Visitor interface of for_each_gguf_layer_tensor.
  Status vector(const std::string& name, const std::vector<float>& v, int size) {
    if (v.size() != static_cast<size_t>(size))
      return make_error("tensor '{}': has {} values, the config needs {}", name, v.size(), size);
    return add(name, GgmlType::kF32, {size}, bytes_of(std::span<const float>(v)));
  }
  Status linear(const std::string& name, const Linear& l, int rows, int cols) {
    if (l.quantized) return quantized(name, *l.quantized, rows, cols);
    return dense(name, l.weight, rows, cols);
  }

 private:
  Status embedding_and_layers(const ModelConfig& c, const ModelWeights& w) {
    if (w.quantized_embedding) {
      NIBBLE_CHECK_OK(quantized(kGgufEmbeddingName, *w.quantized_embedding, c.vocab_size, c.dim));
    } else {
      NIBBLE_CHECK_OK(dense(kGgufEmbeddingName, w.token_embedding, c.vocab_size, c.dim));
    }
    return for_each_gguf_layer_tensor(c, w, *this);
  }

  Status dense(const std::string& name, const DenseMatrix& m, int rows, int cols) {
    if (m.rows != rows || m.cols != cols || m.data.size() != static_cast<size_t>(rows) * cols)
      return make_error("tensor '{}': is {}x{} with {} values, the config needs {}x{}", name, m.rows, m.cols,
                        m.data.size(), rows, cols);
    return add(name, GgmlType::kF32, {cols, rows}, bytes_of(m.data.span()));
  }

  Status quantized(const std::string& name, const QuantizedMatrix& m, int rows, int cols) {
    if (m.rows != rows || m.cols != cols)
      return make_error("tensor '{}': quantized matrix is {}x{}, the config needs {}x{}", name, m.rows, m.cols,
                        rows, cols);
    quant_.add(name, m);
    const int64_t n_groups = m.n_groups;
    NIBBLE_CHECK_OK(add(name + kCodesSuffix, GgmlType::kI8, {static_cast<int64_t>(m.row_bytes), rows},
                        bytes_of(m.codes)));
    NIBBLE_CHECK_OK(add(name + kScalesSuffix, scale_ggml_type(m.format.scale_type), {n_groups, rows},
                        bytes_of(m.scales)));
    if (m.format.asymmetric())
      NIBBLE_CHECK_OK(add(name + kZeroPointsSuffix, GgmlType::kI8, {n_groups, rows}, bytes_of(m.zero_points)));
    return {};
  }

  Status add(std::string name, GgmlType type, std::vector<int64_t> ne, std::span<const std::byte> data) {
    checksums_.push_back(XXH3_64bits(data.data(), data.size()));
    return gguf_.add_tensor(std::move(name), type, std::move(ne), data);
  }

  void put_header_metadata() {
    const ModelConfig& c = model_.config;
    gguf_.set_string("general.architecture", kArchitectureValue);
    gguf_.set_u32(kNibbleVersionKey, kNibbleFormatVersion);
    gguf_.set_string("nibble.config.architecture", architecture_name(c.architecture));
    gguf_.set_u32("nibble.config.dim", static_cast<uint32_t>(c.dim));
    gguf_.set_u32("nibble.config.hidden_dim", static_cast<uint32_t>(c.hidden_dim));
    gguf_.set_u32("nibble.config.n_layers", static_cast<uint32_t>(c.n_layers));
    gguf_.set_u32("nibble.config.n_heads", static_cast<uint32_t>(c.n_heads));
    gguf_.set_u32("nibble.config.n_kv_heads", static_cast<uint32_t>(c.n_kv_heads));
    gguf_.set_u32("nibble.config.head_dim", static_cast<uint32_t>(c.head_dim));
    gguf_.set_u32("nibble.config.vocab_size", static_cast<uint32_t>(c.vocab_size));
    gguf_.set_u32("nibble.config.max_seq_len", static_cast<uint32_t>(c.max_seq_len));
    gguf_.set_f32("nibble.config.rope_theta", c.rope_theta);
    gguf_.set_f32("nibble.config.rms_norm_eps", c.rms_norm_eps);
    gguf_.set_bool("nibble.config.tied_embeddings", c.tied_embeddings);
    gguf_.set_bool("nibble.config.qkv_bias", c.qkv_bias);
    gguf_.set_string("nibble.config.rope_style", rope_style_name(c.rope_style));
    gguf_.set_i32("nibble.config.bos_id", c.bos_id);
    gguf_.set_i32("nibble.config.eos_id", c.eos_id);
    gguf_.set_string(kRecipeKey, model_.recipe_json);
  }

  const Model& model_;
  GgufWriter gguf_;
  QuantTable quant_;
  std::vector<uint64_t> checksums_;
};

// ---------------------------------------------------------------------------------------
// Reading

struct QuantEntry {
  int rows = 0;
  int cols = 0;
  QuantFormat format;
  ActivationMode activation = ActivationMode::kFloat;
};

Result<ModelConfig> read_config(const GgufMetadata& m, const std::string& source) {
  ModelConfig c;
  NIBBLE_ASSIGN_OR_RETURN(std::string arch, m.get_string("nibble.config.architecture"));
  const Architecture archs[] = {Architecture::kLlama, Architecture::kQwen2};
  if (!parse_name(arch, archs, architecture_name, &c.architecture))
    return make_error("{}: nibble.config.architecture is '{}', expected one of: llama, qwen2", source, arch);
  struct IntField {
    const char* key;
    int* field;
  };
  for (IntField f : {IntField{"nibble.config.dim", &c.dim}, {"nibble.config.hidden_dim", &c.hidden_dim},
                     {"nibble.config.n_layers", &c.n_layers}, {"nibble.config.n_heads", &c.n_heads},
                     {"nibble.config.n_kv_heads", &c.n_kv_heads}, {"nibble.config.head_dim", &c.head_dim},
                     {"nibble.config.vocab_size", &c.vocab_size}, {"nibble.config.max_seq_len", &c.max_seq_len}}) {
    NIBBLE_ASSIGN_OR_RETURN(uint32_t v, m.get_u32(f.key));
    if (v > (1u << 30)) return make_error("{}: {} = {} is too large", source, f.key, v);
    *f.field = static_cast<int>(v);
  }
  NIBBLE_ASSIGN_OR_RETURN(c.rope_theta, m.get_f32("nibble.config.rope_theta"));
  NIBBLE_ASSIGN_OR_RETURN(c.rms_norm_eps, m.get_f32("nibble.config.rms_norm_eps"));
  NIBBLE_ASSIGN_OR_RETURN(c.tied_embeddings, m.get_bool("nibble.config.tied_embeddings"));
  NIBBLE_ASSIGN_OR_RETURN(c.qkv_bias, m.get_bool("nibble.config.qkv_bias"));
  NIBBLE_ASSIGN_OR_RETURN(std::string style, m.get_string("nibble.config.rope_style"));
  const RopeStyle styles[] = {RopeStyle::kInterleavedPairs, RopeStyle::kHalves};
  if (!parse_name(style, styles, rope_style_name, &c.rope_style))
    return make_error("{}: nibble.config.rope_style is '{}', expected interleaved-pairs or halves", source, style);
  NIBBLE_ASSIGN_OR_RETURN(c.bos_id, m.get_i32("nibble.config.bos_id"));
  NIBBLE_ASSIGN_OR_RETURN(c.eos_id, m.get_i32("nibble.config.eos_id"));
  NIBBLE_CHECK_OK(c.validate(source));
  return c;
}

Result<std::unordered_map<std::string, QuantEntry>> read_quant_table(const GgufMetadata& m,
                                                                     const std::string& source) {
  NIBBLE_ASSIGN_OR_RETURN(auto names, m.get_array_of_strings(kQuantNames));
  NIBBLE_ASSIGN_OR_RETURN(auto codecs, m.get_array_of_strings(kQuantCodec));
  NIBBLE_ASSIGN_OR_RETURN(auto scale_types, m.get_array_of_strings(kQuantScaleType));
  NIBBLE_ASSIGN_OR_RETURN(auto zero_points, m.get_array_of_strings(kQuantZeroPoint));
  NIBBLE_ASSIGN_OR_RETURN(auto activations, m.get_array_of_strings(kQuantActivation));
  std::vector<std::vector<uint32_t>> ints;
  for (const char* key : {kQuantRows, kQuantCols, kQuantBits, kQuantGroup}) {
    NIBBLE_ASSIGN_OR_RETURN(GgufArray a, m.get_array(key));
    if (a.element_type != GgufValueType::kU32)
      return make_error("{}: {} must be an array of u32, found array of {}", source, key,
                        gguf_value_type_name(a.element_type));
    std::vector<uint32_t> v(a.size);
    if (!v.empty()) std::memcpy(v.data(), a.scalar_bytes.data(), a.scalar_bytes.size());  // a float model has none
    ints.push_back(std::move(v));
  }
  const size_t n = names.size();
  for (size_t size : {codecs.size(), scale_types.size(), zero_points.size(), activations.size(), ints[0].size(),
                      ints[1].size(), ints[2].size(), ints[3].size()})
    if (size != n)
      return make_error("{}: the nibble.quant.* arrays must all have {} entries (one per quantized tensor), "
                        "one has {}", source, n, size);
  std::unordered_map<std::string, QuantEntry> table;
  const WeightCodec all_codecs[] = {WeightCodec::kInt8Sym, WeightCodec::kInt4Sym, WeightCodec::kInt4Asym};
  const ScaleType all_scales[] = {ScaleType::kF32, ScaleType::kF16, ScaleType::kBF16};
  for (size_t i = 0; i < n; ++i) {
    const std::string& name = names[i];
    QuantEntry e;
    if (!parse_name(codecs[i], all_codecs, codec_name, &e.format.codec))
      return make_error("{}: tensor '{}': unknown scheme codec '{}', expected int8_sym, int4_sym or int4_asym",
                        source, name, codecs[i]);
    if (!parse_name(scale_types[i], all_scales, scale_type_name, &e.format.scale_type))
      return make_error("{}: tensor '{}': unknown scale type '{}', expected f32, f16 or bf16", source, name,
                        scale_types[i]);
    if (activations[i] == "float") {
      e.activation = ActivationMode::kFloat;
    } else if (activations[i] == "int8_token") {
      e.activation = ActivationMode::kInt8Token;
    } else {
      return make_error("{}: tensor '{}': unknown activation mode '{}', expected float or int8_token", source,
                        name, activations[i]);
    }
    if (zero_points[i] != zero_point_file_name(e.format))
      return make_error("{}: tensor '{}': codec {} has zero point convention '{}', found '{}'", source, name,
                        codecs[i], zero_point_file_name(e.format), zero_points[i]);
    if (ints[2][i] != static_cast<uint32_t>(e.format.bits()))
      return make_error("{}: tensor '{}': codec {} has {} bits, the file says {}", source, name, codecs[i],
                        e.format.bits(), ints[2][i]);
    if (ints[0][i] > (1u << 30) || ints[1][i] > (1u << 30) || ints[3][i] > (1u << 30))
      return make_error("{}: tensor '{}': rows {}, cols {} or group size {} is too large", source, name, ints[0][i],
                        ints[1][i], ints[3][i]);
    e.rows = static_cast<int>(ints[0][i]);
    e.cols = static_cast<int>(ints[1][i]);
    e.format.group_size = static_cast<int>(ints[3][i]);
    NIBBLE_CHECK_OK(validate_format(e.format, e.cols, fmt::format("{}: tensor '{}'", source, name)));
    if (e.activation == ActivationMode::kInt8Token && e.format.asymmetric())
      return make_error("{}: tensor '{}': int8 activations need symmetric weight codes, found {}", source, name,
                        codecs[i]);
    if (!table.emplace(name, e).second)
      return make_error("{}: tensor '{}' is listed twice in {}", source, name, kQuantNames);
  }
  return table;
}

class NibbleReader {
 public:
  NibbleReader(std::shared_ptr<const void> mapping, const GgufFile& gguf, const ModelConfig& config,
               std::unordered_map<std::string, QuantEntry> quant, ThreadPool* pool)
      : mapping_(std::move(mapping)), gguf_(gguf), config_(config), quant_(std::move(quant)), pool_(pool) {}

  Status read(ModelWeights& w) {
    const ModelConfig& c = config_;
    w.layers.resize(static_cast<size_t>(c.n_layers));
    std::shared_ptr<const QuantizedMatrix> q;
    NIBBLE_CHECK_OK(matrix(kGgufEmbeddingName, c.vocab_size, c.dim, &w.token_embedding, &q));
    w.quantized_embedding = q;
    NIBBLE_CHECK_OK(for_each_gguf_layer_tensor(c, w, *this));
    if (c.tied_embeddings) {
      w.classifier.quantized = w.quantized_embedding;  // one copy serves both
    } else {
      NIBBLE_CHECK_OK(linear(kGgufOutputName, w.classifier, c.vocab_size, c.dim));
    }
    for (const auto& [name, entry] : quant_)
      if (!quantized_seen_.count(name))
        return make_error("{}: nibble.quant.tensor lists '{}', which is not a matrix of this model", gguf_.source,
                          name);
    for (const GgufTensor& t : gguf_.tensors)
      if (!used_.count(t.name))
        return make_error("{}: unexpected tensor '{}' (not part of a {}-layer {} model)", gguf_.source, t.name,
                          c.n_layers, architecture_name(c.architecture));
    return {};
  }

  // Visitor interface of for_each_gguf_layer_tensor.
  Status vector(const std::string& name, std::vector<float>& out, int size) {
    NIBBLE_ASSIGN_OR_RETURN(const GgufTensor* t, tensor(name, GgmlType::kF32, {size}));
    out.resize(static_cast<size_t>(size));
    std::memcpy(out.data(), t->data.data(), t->byte_size);  // norms and biases: tiny, owned
    return {};
  }
  Status linear(const std::string& name, Linear& l, int rows, int cols) {
    std::shared_ptr<const QuantizedMatrix> q;
    NIBBLE_CHECK_OK(matrix(name, rows, cols, &l.weight, &q));
    l.quantized = std::move(q);
    return {};
  }

 private:
  // A float or quantized matrix, as the quant table says.
  Status matrix(const std::string& name, int rows, int cols, DenseMatrix* dense,
                std::shared_ptr<const QuantizedMatrix>* quantized) {
    auto it = quant_.find(name);
    if (it == quant_.end()) {
      NIBBLE_ASSIGN_OR_RETURN(const GgufTensor* t, tensor(name, GgmlType::kF32, {cols, rows}));
      dense->rows = rows;
      dense->cols = cols;
      dense->data = Buffer<float>::borrow(
          {reinterpret_cast<const float*>(t->data.data()), static_cast<size_t>(rows) * cols}, mapping_);
      return {};
    }
    const QuantEntry& e = it->second;
    quantized_seen_.insert(name);
    if (e.rows != rows || e.cols != cols)
      return make_error("{}: tensor '{}': logical shape is {}x{}, the config needs {}x{}", gguf_.source, name,
                        e.rows, e.cols, rows, cols);
    auto m = std::make_shared<QuantizedMatrix>();
    m->format = e.format;
    m->activation = e.activation;
    m->rows = rows;
    m->cols = cols;
    m->group = e.format.effective_group(cols);
    m->n_groups = (cols + m->group - 1) / m->group;
    m->row_bytes = packed_row_bytes(e.format.codec, cols);
    NIBBLE_ASSIGN_OR_RETURN(const GgufTensor* codes,
                            tensor(name + kCodesSuffix, GgmlType::kI8, {static_cast<int64_t>(m->row_bytes), rows}));
    m->codes = borrow_bytes(*codes);
    NIBBLE_ASSIGN_OR_RETURN(const GgufTensor* scales, tensor(name + kScalesSuffix, scale_ggml_type(e.format.scale_type),
                                                             {m->n_groups, rows}));
    m->scales = borrow_bytes(*scales);
    if (Status finite = check_scales_finite(*m, name); !finite.ok())
      return make_error("{}: {}", gguf_.source, finite.error().message);
    if (e.format.asymmetric()) {
      NIBBLE_ASSIGN_OR_RETURN(const GgufTensor* zp,
                              tensor(name + kZeroPointsSuffix, GgmlType::kI8, {m->n_groups, rows}));
      for (std::byte b : zp->data)
        if (static_cast<uint8_t>(b) > 15)
          return make_error("{}: tensor '{}': zero point {} is outside [0, 15]", gguf_.source,
                            name + kZeroPointsSuffix, static_cast<int>(b));
      m->zero_points = borrow_bytes(*zp);
    }
    // a8 layers need per-group code sums; they are derived from the codes, not stored.
    if (e.activation == ActivationMode::kInt8Token) derive_a8_data(*m, pool_);
    *quantized = std::move(m);
    return {};
  }

  // The tensor `name`, checked to have `type` and dims `ne` (ggml order).
  Result<const GgufTensor*> tensor(const std::string& name, GgmlType type, std::vector<int64_t> ne) {
    const GgufTensor* t = gguf_.find_tensor(name);
    if (t == nullptr) return make_error("{}: missing tensor '{}'", gguf_.source, name);
    if (t->type_id != static_cast<uint32_t>(type))
      return make_error("{}: tensor '{}' has type {}, expected {}", gguf_.source, name, ggml_type_name(t->type_id),
                        ggml_type_name(static_cast<uint32_t>(type)));
    if (t->ne != ne)
      return make_error("{}: tensor '{}' has dims [{}], expected [{}] (ggml order)", gguf_.source, name,
                        fmt::join(t->ne, ", "), fmt::join(ne, ", "));
    if (reinterpret_cast<uintptr_t>(t->data.data()) % 32 != 0)
      return make_error("{}: tensor '{}' at file offset {} is not 32-byte aligned", gguf_.source, name,
                        t->file_offset);
    used_.insert(name);
    return t;
  }

  Buffer<uint8_t> borrow_bytes(const GgufTensor& t) {
    return Buffer<uint8_t>::borrow({reinterpret_cast<const uint8_t*>(t.data.data()), t.data.size()}, mapping_);
  }

  std::shared_ptr<const void> mapping_;  // keeps the bytes the tensors borrow alive
  const GgufFile& gguf_;
  const ModelConfig& config_;
  std::unordered_map<std::string, QuantEntry> quant_;
  ThreadPool* pool_;  // for derive_a8_data, or null
  std::unordered_set<std::string> quantized_seen_;
  std::unordered_set<std::string> used_;
};

Status check_version(const GgufFile& gguf) {
  const GgufValue* v = gguf.metadata.find(kNibbleVersionKey);
  if (v == nullptr) return make_error("{}: not a nibble file (no {} key)", gguf.source, kNibbleVersionKey);
  NIBBLE_ASSIGN_OR_RETURN(uint32_t version, gguf.metadata.get_u32(kNibbleVersionKey));
  if (version > kNibbleFormatVersion)
    return make_error("{}: written by a newer nibble: format version {}, this build reads versions 1 to {}",
                      gguf.source, version, kNibbleFormatVersion);
  if (version == 0) return make_error("{}: format version 0 is not valid (versions start at 1)", gguf.source);
  return {};
}

struct OpenedFile {
  std::shared_ptr<const MappedFile> mapping;
  GgufFile gguf;
};

Result<OpenedFile> open_nibble_gguf(const std::string& path) {
  NIBBLE_ASSIGN_OR_RETURN(MappedFile file, MappedFile::open(path));
  auto mapping = std::make_shared<const MappedFile>(std::move(file));
  NIBBLE_ASSIGN_OR_RETURN(GgufFile gguf, parse_gguf(mapping->bytes(), path));
  NIBBLE_CHECK_OK(check_version(gguf));
  return OpenedFile{std::move(mapping), std::move(gguf)};
}

Result<std::vector<uint64_t>> stored_checksums(const GgufFile& gguf) {
  NIBBLE_ASSIGN_OR_RETURN(GgufArray a, gguf.metadata.get_array(kChecksumsKey));
  if (a.element_type != GgufValueType::kU64 || a.size != gguf.tensors.size())
    return make_error("{}: {} must be an array of {} u64 (one per tensor), found {} of {}", gguf.source,
                      kChecksumsKey, gguf.tensors.size(), a.size, gguf_value_type_name(a.element_type));
  std::vector<uint64_t> sums(a.size);
  if (!sums.empty()) std::memcpy(sums.data(), a.scalar_bytes.data(), a.scalar_bytes.size());
  return sums;
}

}  // namespace

bool is_nibble_file(const GgufFile& gguf) { return gguf.metadata.contains(kNibbleVersionKey); }

Status save_nibble_model(const Model& model, const std::string& path) {
  NibbleWriter writer(model);
  return writer.write(path);
}

Result<Model> load_nibble_model_from_bytes(std::span<const std::byte> bytes, std::shared_ptr<const void> keep_alive,
                                           const std::string& path, const LoadOptions& options) {
  NIBBLE_ASSIGN_OR_RETURN(GgufFile gguf, parse_gguf(bytes, path));
  NIBBLE_CHECK_OK(check_version(gguf));
  Model model;
  NIBBLE_ASSIGN_OR_RETURN(model.config, read_config(gguf.metadata, path));
  NIBBLE_ASSIGN_OR_RETURN(auto quant, read_quant_table(gguf.metadata, path));
  NibbleReader reader(std::move(keep_alive), gguf, model.config, std::move(quant), options.pool);
  NIBBLE_CHECK_OK(reader.read(model.weights));
  if (auto sums = stored_checksums(gguf); !sums.ok()) return sums.error();
  NIBBLE_ASSIGN_OR_RETURN(model.recipe_json, gguf.metadata.get_string(kRecipeKey));
  NIBBLE_ASSIGN_OR_RETURN(model.tokenizer, tokenizer_for_model(gguf.metadata, model.config.vocab_size, path, options));
  model.tensors = gguf_tensor_inventory(gguf);
  model.file_bytes = bytes.size();
  model.format = "nibble";
  model.path = path;
  return model;
}

Result<Model> load_nibble_model(const std::string& path, const LoadOptions& options) {
  return load_mapped(path, [&](std::span<const std::byte> bytes, std::shared_ptr<const void> mapping) {
    return load_nibble_model_from_bytes(bytes, std::move(mapping), path, options);
  });
}

Result<std::vector<TensorChecksum>> verify_nibble_file(const std::string& path) {
  NIBBLE_ASSIGN_OR_RETURN(OpenedFile file, open_nibble_gguf(path));
  NIBBLE_ASSIGN_OR_RETURN(auto sums, stored_checksums(file.gguf));
  std::vector<TensorChecksum> out;
  for (size_t i = 0; i < file.gguf.tensors.size(); ++i) {
    const GgufTensor& t = file.gguf.tensors[i];
    out.push_back({t.name, sums[i], XXH3_64bits(t.data.data(), t.data.size())});
    if (!out.back().ok())
      return make_error("{}: tensor '{}': checksum mismatch: stored xxh3 {:016x}, data hashes to {:016x} "
                        "(the file is damaged)", path, t.name, sums[i], out.back().found);
  }
  return out;
}

}  // namespace nibble
