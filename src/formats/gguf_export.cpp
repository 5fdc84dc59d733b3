#include "formats/gguf_export.h"

#include <cstring>
#include <deque>

#include "core/half.h"
#include "formats/gguf_layout.h"
#include "formats/gguf_writer.h"
#include "formats/tokenizer_metadata.h"
#include "quant/quantized_matrix.h"

namespace nibble {

namespace {

// llama.cpp's `general.file_type` values (llama_ftype) for the files nibble writes.
constexpr uint32_t kFileTypeAllF32 = 0;
constexpr uint32_t kFileTypeMostlyF16 = 1;
constexpr uint32_t kFileTypeMostlyQ4_0 = 2;
constexpr uint32_t kFileTypeMostlyQ8_0 = 7;

// Source row of output row r when converting q/k rows between RoPE orders. In the
// interleaved order a head's pair i is rows (2i, 2i+1); in the halves order it is rows
// (i, i + head_dim/2).
int permuted_row(int r, int head_dim, RopeStyle from, RopeStyle to) {
  if (from == to) return r;
  const int head = r / head_dim;
  const int k = r % head_dim;
  const int half = head_dim / 2;
  if (to == RopeStyle::kInterleavedPairs) return head * head_dim + (k % 2) * half + k / 2;  // from halves
  return head * head_dim + 2 * (k % half) + k / half;                                          // from interleaved
}

class Exporter {
 public:
  Exporter(const Model& model, const GgufExportOptions& options)
      : model_(model), options_(options), target_style_(model.config.architecture == Architecture::kLlama
                                                             ? RopeStyle::kInterleavedPairs
                                                             : RopeStyle::kHalves) {}

  Status run(const std::string& path) {
    const ModelConfig& c = model_.config;
    const ModelWeights& w = model_.weights;
    if (!model_.tokenizer)
      return make_error("{}: export-gguf needs the model's tokenizer (llama.cpp reads it from the file); "
                        "pass --tokenizer", path);
    put_metadata();
    NIBBLE_CHECK_OK(write_tokenizer_metadata(*model_.tokenizer, gguf_));
    if (w.quantized_embedding) {
      NIBBLE_CHECK_OK(quantized(kGgufEmbeddingName, *w.quantized_embedding, 0));
    } else {
      NIBBLE_CHECK_OK(dense(kGgufEmbeddingName, w.token_embedding, 0));
    }
    NIBBLE_CHECK_OK(for_each_gguf_layer_tensor(c, w, *this));
    if (!c.tied_embeddings) NIBBLE_CHECK_OK(linear(kGgufOutputName, w.classifier, c.vocab_size, c.dim));
    gguf_.set_u32("general.file_type", file_type());
    if (any_quantized_) gguf_.set_u32("general.quantization_version", 2);
    return gguf_.write(path);
  }

  // Visitor interface of for_each_gguf_layer_tensor.
  Status vector(const std::string& name, const std::vector<float>& v, int) {
    std::vector<float> values = v;
    if (const int heads = rope_heads(name); heads > 0) values = permute_rows(values, 1, heads);
    const auto n = static_cast<int64_t>(values.size());  // read before values is moved from
    return add_f32(name, {n}, std::move(values));
  }
  Status linear(const std::string& name, const Linear& l, int, int) {
    const int heads = rope_heads(name);
    return l.quantized ? quantized(name, *l.quantized, heads) : dense(name, l.weight, heads);
  }

 private:
  // Heads whose rows RoPE rotates for tensor `name` (q/k weights and biases), else 0.
  int rope_heads(const std::string& name) const {
    if (name.find(".attn_q.") != std::string::npos) return model_.config.n_heads;
    if (name.find(".attn_k.") != std::string::npos) return model_.config.n_kv_heads;
    return 0;
  }

  template <typename T>
  std::vector<T> permute_rows(const std::vector<T>& in, size_t row_elems, int heads) const {
    const int head_dim = model_.config.head_dim;
    std::vector<T> out(in.size());
    for (int r = 0; r < heads * head_dim; ++r) {
      const int from = permuted_row(r, head_dim, model_.config.rope_style, target_style_);
      std::memcpy(out.data() + static_cast<size_t>(r) * row_elems, in.data() + static_cast<size_t>(from) * row_elems,
                  row_elems * sizeof(T));
    }
    return out;
  }

  Status dense(const std::string& name, const DenseMatrix& m, int rope_heads) {
    std::vector<float> values(m.data.begin(), m.data.end());
    if (rope_heads > 0) values = permute_rows(values, static_cast<size_t>(m.cols), rope_heads);
    if (options_.float_type == GgufFloatType::kF32) return add_f32(name, {m.cols, m.rows}, std::move(values));
    std::vector<std::byte> half(values.size() * 2);
    for (size_t i = 0; i < values.size(); ++i) {
      const uint16_t h = f32_to_f16(values[i]);
      std::memcpy(half.data() + 2 * i, &h, 2);
    }
    saw_f16_ = true;
    return add_bytes(name, GgmlType::kF16, {m.cols, m.rows}, std::move(half));
  }

  // Repacks nibble's planar rows (codes, then scales elsewhere) into llama.cpp blocks
  // (scale, then the block's codes), which hold the very same values.
  Status quantized(const std::string& name, const QuantizedMatrix& m, int rope_heads) {
    const bool q4 = m.format.codec == WeightCodec::kInt4Sym;
    const bool q8 = m.format.codec == WeightCodec::kInt8Sym;
    const char* type = q4 ? "Q4_0" : "Q8_0";
    if (!q4 && !q8)
      return make_error("{}: codec {} has no llama.cpp equivalent (Q4_1's offset m is not nibble's integer zero "
                        "point); export supports int4_sym (Q4_0) and int8_sym (Q8_0)", name, codec_name(m.format.codec));
    if (m.group != 32)
      return make_error("{}: {} needs groups of 32, the tensor has group size {}", name, type, m.group);
    if (m.cols % 32 != 0)
      return make_error("{}: {} needs in_features % 32 == 0, the tensor has in_features {} (a ragged group)", name,
                        type, m.cols);
    if (m.format.scale_type != ScaleType::kF16)
      return make_error("{}: {} stores f16 scales, the tensor has {} scales", name, type,
                        scale_type_name(m.format.scale_type));
    if (m.activation != ActivationMode::kFloat)
      return make_error("{}: llama.cpp has no per-token int8 activation scheme like nibble's a8 recipes; export a "
                        "weight-only recipe (q4_g32 or q8_g32)", name);
    const size_t code_bytes = q4 ? 16 : 32;
    const size_t block_bytes = 2 + code_bytes;
    const size_t blocks = static_cast<size_t>(m.cols / 32);
    std::vector<std::byte> out(static_cast<size_t>(m.rows) * blocks * block_bytes);
    for (int r = 0; r < m.rows; ++r) {
      const int from = rope_heads > 0 ? permuted_row(r, model_.config.head_dim, model_.config.rope_style, target_style_)
                                      : r;
      const uint8_t* codes = m.row_codes(from);
      for (size_t b = 0; b < blocks; ++b) {
        std::byte* block = out.data() + (static_cast<size_t>(r) * blocks + b) * block_bytes;
        std::memcpy(block, m.scales.data() + (static_cast<size_t>(from) * m.n_groups + b) * 2, 2);
        std::memcpy(block + 2, codes + b * code_bytes, code_bytes);
      }
    }
    any_quantized_ = true;
    (q4 ? saw_q4_ : saw_q8_) = true;
    return add_bytes(name, q4 ? GgmlType::kQ4_0 : GgmlType::kQ8_0, {m.cols, m.rows}, std::move(out));
  }

  Status add_f32(const std::string& name, std::vector<int64_t> ne, std::vector<float> values) {
    std::vector<std::byte> bytes(values.size() * 4);
    std::memcpy(bytes.data(), values.data(), bytes.size());
    return add_bytes(name, GgmlType::kF32, std::move(ne), std::move(bytes));
  }
  Status add_bytes(const std::string& name, GgmlType type, std::vector<int64_t> ne, std::vector<std::byte> bytes) {
    storage_.push_back(std::move(bytes));  // a deque: earlier buffers stay where they are
    return gguf_.add_tensor(name, type, std::move(ne), storage_.back());
  }

  uint32_t file_type() const {
    if (saw_q4_) return kFileTypeMostlyQ4_0;
    if (saw_q8_) return kFileTypeMostlyQ8_0;
    return saw_f16_ ? kFileTypeMostlyF16 : kFileTypeAllF32;
  }

  void put_metadata() {
    const ModelConfig& c = model_.config;
    const std::string arch = architecture_name(c.architecture);
    gguf_.set_string("general.architecture", arch);
    gguf_.set_string("general.name", "nibble export");
    gguf_.set_u32(arch + ".context_length", static_cast<uint32_t>(c.max_seq_len));
    gguf_.set_u32(arch + ".embedding_length", static_cast<uint32_t>(c.dim));
    gguf_.set_u32(arch + ".feed_forward_length", static_cast<uint32_t>(c.hidden_dim));
    gguf_.set_u32(arch + ".block_count", static_cast<uint32_t>(c.n_layers));
    gguf_.set_u32(arch + ".attention.head_count", static_cast<uint32_t>(c.n_heads));
    gguf_.set_u32(arch + ".attention.head_count_kv", static_cast<uint32_t>(c.n_kv_heads));
    gguf_.set_u32(arch + ".rope.dimension_count", static_cast<uint32_t>(c.head_dim));
    if (c.head_dim * c.n_heads != c.dim) {
      gguf_.set_u32(arch + ".attention.key_length", static_cast<uint32_t>(c.head_dim));
      gguf_.set_u32(arch + ".attention.value_length", static_cast<uint32_t>(c.head_dim));
    }
    gguf_.set_f32(arch + ".rope.freq_base", c.rope_theta);
    gguf_.set_f32(arch + ".attention.layer_norm_rms_epsilon", c.rms_norm_eps);
    gguf_.set_u32(arch + ".vocab_size", static_cast<uint32_t>(c.vocab_size));
  }

  const Model& model_;
  GgufExportOptions options_;
  RopeStyle target_style_;
  GgufWriter gguf_;
  std::deque<std::vector<std::byte>> storage_;
  bool any_quantized_ = false;
  bool saw_q4_ = false;
  bool saw_q8_ = false;
  bool saw_f16_ = false;
};

}  // namespace

Status export_gguf(const Model& model, const std::string& path, const GgufExportOptions& options) {
  Exporter exporter(model, options);
  return exporter.run(path);
}

}  // namespace nibble
