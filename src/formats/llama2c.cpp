#include "formats/llama2c.h"

#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/file.h"

namespace nibble {

namespace {

constexpr int32_t kVersionedMagic = 0x616b3432;  // "ak42": llama2.c's newer export formats

// Reads `count` consecutive float32 values as one tensor and records it in the inventory.
class TensorStream {
 public:
  TensorStream(ByteReader& reader, Model& model) : reader_(reader), model_(model) {}

  Result<std::span<const float>> next(const std::string& name, std::vector<int64_t> shape) {
    uint64_t count = 1;
    for (int64_t d : shape)
      if (!checked_mul(count, static_cast<uint64_t>(d), &count))
        return make_error("{}: tensor '{}' element count overflows", reader_.source(), name);
    uint64_t bytes;
    if (!checked_mul(count, sizeof(float), &bytes) || bytes > reader_.remaining())
      return make_error("{}: truncated: tensor '{}' needs {} bytes at offset {} but only {} remain",
                        reader_.source(), name, count * sizeof(float), reader_.offset(),
                        reader_.remaining());
    NIBBLE_ASSIGN_OR_RETURN(auto span, reader_.take(bytes, name));
    model_.tensors.push_back(TensorInfo{name, std::move(shape), "F32", bytes});
    return std::span<const float>(reinterpret_cast<const float*>(span.data()), count);
  }

 private:
  ByteReader& reader_;
  Model& model_;
};

DenseMatrix matrix_from(std::span<const float> data, int rows, int cols) {
  DenseMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.data.assign(data.begin(), data.end());
  return m;
}

// Splits a stacked (n_layers, rows, cols) tensor into per-layer matrices.
void split_layers(std::span<const float> stacked, int rows, int cols, std::vector<LayerWeights>& layers,
                  Linear LayerWeights::*member) {
  const size_t per_layer = static_cast<size_t>(rows) * cols;
  for (size_t l = 0; l < layers.size(); ++l)
    (layers[l].*member).weight = matrix_from(stacked.subspan(l * per_layer, per_layer), rows, cols);
}

void split_vectors(std::span<const float> stacked, int n, std::vector<LayerWeights>& layers,
                   std::vector<float> LayerWeights::*member) {
  for (size_t l = 0; l < layers.size(); ++l) {
    auto part = stacked.subspan(l * n, static_cast<size_t>(n));
    (layers[l].*member).assign(part.begin(), part.end());
  }
}

}  // namespace

Result<Model> parse_llama2c_checkpoint(std::span<const std::byte> bytes, const std::string& source) {
  ByteReader reader(bytes, source);
  int32_t header[7];
  const char* names[7] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
  for (int i = 0; i < 7; ++i) {
    NIBBLE_ASSIGN_OR_RETURN(header[i], reader.read<int32_t>(std::string("header field ") + names[i]));
  }
  if (header[0] == kVersionedMagic)
    return make_error("{}: llama2.c versioned export (magic 'ak42') is not supported; export with "
                      "the legacy format (version 0)", source);

  Model model;
  model.format = "llama2c";
  model.path = source;
  model.file_bytes = bytes.size();
  ModelConfig& c = model.config;
  c.architecture = Architecture::kLlama;
  c.dim = header[0];
  c.hidden_dim = header[1];
  c.n_layers = header[2];
  c.n_heads = header[3];
  c.n_kv_heads = header[4];
  c.tied_embeddings = header[5] > 0;
  c.vocab_size = header[5] == INT32_MIN ? 0 : (header[5] < 0 ? -header[5] : header[5]);
  c.max_seq_len = header[6];
  c.rope_style = RopeStyle::kInterleavedPairs;  // llama2.c rotates (x[2i], x[2i+1])
  c.rope_theta = 10000.0f;                     // fixed in llama2.c
  c.rms_norm_eps = 1e-5f;                      // fixed in llama2.c
  if (c.n_heads <= 0 || c.dim % c.n_heads != 0)
    return make_error("{}: dim ({}) must be a positive multiple of n_heads ({})", source, c.dim,
                      c.n_heads);
  c.head_dim = c.dim / c.n_heads;
  NIBBLE_CHECK_OK(c.validate(source));

  // The whole size is known from the header: check it before touching any tensor, so a
  // wrong file fails with one clear message.
  const uint64_t dim = c.dim, hidden = c.hidden_dim, layers = c.n_layers, vocab = c.vocab_size;
  const uint64_t q_dim = c.q_dim(), kv_dim = c.kv_dim(), half = c.head_dim / 2;
  uint64_t floats = vocab * dim + layers * (2 * dim + q_dim * dim * 2 + kv_dim * dim * 2 + 3 * dim * hidden) +
                    dim + 2 * static_cast<uint64_t>(c.max_seq_len) * half;
  if (!c.tied_embeddings) floats += vocab * dim;
  const uint64_t expected = 28 + 4 * floats;
  if (expected != bytes.size())
    return make_error("{}: header (dim {}, hidden {}, layers {}, heads {}/{}, vocab {}{}, seq {}) "
                      "implies {} bytes but the file has {}", source, c.dim, c.hidden_dim,
                      c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size,
                      c.tied_embeddings ? " shared" : " + classifier", c.max_seq_len, expected,
                      bytes.size());

  TensorStream stream(reader, model);
  auto& w = model.weights;
  w.layers.resize(static_cast<size_t>(c.n_layers));
  const int64_t L = c.n_layers;
  NIBBLE_ASSIGN_OR_RETURN(auto embedding, stream.next("token_embedding_table", {c.vocab_size, c.dim}));
  w.token_embedding = matrix_from(embedding, c.vocab_size, c.dim);
  NIBBLE_ASSIGN_OR_RETURN(auto rms_att, stream.next("rms_att_weight", {L, c.dim}));
  split_vectors(rms_att, c.dim, w.layers, &LayerWeights::attn_norm);
  NIBBLE_ASSIGN_OR_RETURN(auto wq, stream.next("wq", {L, c.q_dim(), c.dim}));
  split_layers(wq, c.q_dim(), c.dim, w.layers, &LayerWeights::wq);
  NIBBLE_ASSIGN_OR_RETURN(auto wk, stream.next("wk", {L, c.kv_dim(), c.dim}));
  split_layers(wk, c.kv_dim(), c.dim, w.layers, &LayerWeights::wk);
  NIBBLE_ASSIGN_OR_RETURN(auto wv, stream.next("wv", {L, c.kv_dim(), c.dim}));
  split_layers(wv, c.kv_dim(), c.dim, w.layers, &LayerWeights::wv);
  NIBBLE_ASSIGN_OR_RETURN(auto wo, stream.next("wo", {L, c.dim, c.q_dim()}));
  split_layers(wo, c.dim, c.q_dim(), w.layers, &LayerWeights::wo);
  NIBBLE_ASSIGN_OR_RETURN(auto rms_ffn, stream.next("rms_ffn_weight", {L, c.dim}));
  split_vectors(rms_ffn, c.dim, w.layers, &LayerWeights::ffn_norm);
  NIBBLE_ASSIGN_OR_RETURN(auto w1, stream.next("w1", {L, c.hidden_dim, c.dim}));
  split_layers(w1, c.hidden_dim, c.dim, w.layers, &LayerWeights::w_gate);
  NIBBLE_ASSIGN_OR_RETURN(auto w2, stream.next("w2", {L, c.dim, c.hidden_dim}));
  split_layers(w2, c.dim, c.hidden_dim, w.layers, &LayerWeights::w_down);
  NIBBLE_ASSIGN_OR_RETURN(auto w3, stream.next("w3", {L, c.hidden_dim, c.dim}));
  split_layers(w3, c.hidden_dim, c.dim, w.layers, &LayerWeights::w_up);
  NIBBLE_ASSIGN_OR_RETURN(auto final_norm, stream.next("rms_final_weight", {c.dim}));
  w.final_norm.assign(final_norm.begin(), final_norm.end());
  // llama2.c's precomputed RoPE tables are ignored: nibble computes its own from theta.
  NIBBLE_CHECK_OK(stream.next("freq_cis_real", {c.max_seq_len, c.head_dim / 2}));
  NIBBLE_CHECK_OK(stream.next("freq_cis_imag", {c.max_seq_len, c.head_dim / 2}));
  if (!c.tied_embeddings) {
    NIBBLE_ASSIGN_OR_RETURN(auto wcls, stream.next("wcls", {c.vocab_size, c.dim}));
    w.classifier.weight = matrix_from(wcls, c.vocab_size, c.dim);
  }
  return model;
}

Result<Model> load_llama2c_model(const std::string& path, const LoadOptions& options) {
  NIBBLE_ASSIGN_OR_RETURN(MappedFile file, MappedFile::open(path));
  NIBBLE_ASSIGN_OR_RETURN(Model model, parse_llama2c_checkpoint(file.bytes(), path));

  std::string tokenizer_path = options.tokenizer_path;
  if (tokenizer_path.empty()) {
    auto dir = std::filesystem::path(path).parent_path();
    for (const std::string& name : {std::string("tokenizer.bin"),
                                    "tok" + std::to_string(model.config.vocab_size) + ".bin"}) {
      if (file_exists((dir / name).string())) {
        tokenizer_path = (dir / name).string();
        break;
      }
    }
  }
  if (tokenizer_path.empty()) {
    if (options.require_tokenizer)
      return make_error("{}: no tokenizer found (looked for tokenizer.bin and tok{}.bin beside it); "
                        "name one with --tokenizer FILE", path, model.config.vocab_size);
    return model;
  }
  NIBBLE_ASSIGN_OR_RETURN(model.tokenizer, open_tokenizer(tokenizer_path, model.config.vocab_size));
  return model;
}

Status write_llama2c_checkpoint(const Model& model, const std::string& path, bool untie) {
  const ModelConfig& c = model.config;
  if (c.rope_style != RopeStyle::kInterleavedPairs)
    return make_error("{}: llama2.c checkpoints rotate interleaved pairs; this model rotates {}",
                      path, rope_style_name(c.rope_style));
  if (c.qkv_bias) return make_error("{}: llama2.c checkpoints have no q/k/v biases", path);
  if (c.head_dim * c.n_heads != c.dim)
    return make_error("{}: llama2.c needs head_dim * n_heads == dim, got {} * {} != {}", path,
                      c.head_dim, c.n_heads, c.dim);
  const bool separate_classifier = untie || !c.tied_embeddings;
  std::vector<std::byte> out;
  auto put = [&](const void* data, size_t bytes) {
    const auto* p = static_cast<const std::byte*>(data);
    out.insert(out.end(), p, p + bytes);
  };
  auto put_floats = [&](std::span<const float> v) { put(v.data(), v.size() * sizeof(float)); };
  int32_t header[7] = {c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads,
                       separate_classifier ? -c.vocab_size : c.vocab_size, c.max_seq_len};
  put(header, sizeof(header));
  const auto& w = model.weights;
  put_floats(w.token_embedding.data);
  for (const auto& l : w.layers) put_floats(l.attn_norm);
  for (const auto& l : w.layers) put_floats(l.wq.weight.data);
  for (const auto& l : w.layers) put_floats(l.wk.weight.data);
  for (const auto& l : w.layers) put_floats(l.wv.weight.data);
  for (const auto& l : w.layers) put_floats(l.wo.weight.data);
  for (const auto& l : w.layers) put_floats(l.ffn_norm);
  for (const auto& l : w.layers) put_floats(l.w_gate.weight.data);
  for (const auto& l : w.layers) put_floats(l.w_down.weight.data);
  for (const auto& l : w.layers) put_floats(l.w_up.weight.data);
  put_floats(w.final_norm);
  // RoPE tables as llama2.c's export writes them (unused by nibble's reader).
  const int half = c.head_dim / 2;
  std::vector<float> real(static_cast<size_t>(c.max_seq_len) * half), imag(real.size());
  for (int pos = 0; pos < c.max_seq_len; ++pos)
    for (int j = 0; j < half; ++j) {
      float freq = 1.0f / std::pow(c.rope_theta, static_cast<float>(2 * j) / static_cast<float>(c.head_dim));
      real[static_cast<size_t>(pos) * half + j] = std::cos(pos * freq);
      imag[static_cast<size_t>(pos) * half + j] = std::sin(pos * freq);
    }
  put_floats(real);
  put_floats(imag);
  if (separate_classifier) put_floats(w.classifier_matrix().data);
  return write_file_atomic(path, out);
}

}  // namespace nibble
